"""The calls the applicability rules skipped, and why: a manager's check that no sales call
is hidden from coaching by its title.

A skipped call costs nothing and is never coached, so a rule that misfires is silent unless
someone looks. Each call shows the reason the rule gave (`calls.skipped_reason`), the type the
rules chose and how many people from outside the company took part (Gong's parties): a call
skipped by its title with a customer on it is the one to look at, and an admin can have it
scored (`analyze_call` with `force`).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

import psycopg
from pydantic import BaseModel, Field

from common.db import Row
from common.insights.calls import TOTAL_CAP, decode_cursor, encode_cursor
from common.insights.links import safe_link

MAX_PAGE_SIZE = 100


class SkippedCall(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    gong_url: str | None
    reason: str = Field(description="Why the applicability rules skipped the call")
    call_type: str | None = Field(description="The type the rules chose (had it been scored)")
    external_participants: int = Field(
        description="People from outside the company on the call (Gong's parties)"
    )
    look_at_it: bool = Field(
        description="People from outside the company took part: make sure it is not a sales"
        " call the rules hid (an admin can have it scored with analyze_call force)"
    )


class SkippedPage(BaseModel):
    items: list[SkippedCall]
    reasons: dict[str, int] = Field(
        description="Every matching skipped call counted by reason (not only this page)"
    )
    total: int = Field(description=f"Matching calls, counted up to {TOTAL_CAP:,}")
    total_is_lower_bound: bool = Field(description=f"True when more than {TOTAL_CAP:,} match")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


# When a call was, for ordering and paging: Gong's start, else when we stored it.
_AT = "coalesce(c.started_at, c.created_at)"
_EXTERNAL = (
    "(SELECT count(*) FROM jsonb_array_elements(c.parties) p"
    " WHERE p->>'affiliation' = 'External')::int"
)


def skipped_calls(
    conn: psycopg.Connection[Row],
    *,
    scope: AbstractSet[str] | None,
    rep_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    cursor: str | None = None,
    page_size: int = 25,
) -> SkippedPage:
    """Skipped calls of the reps in `scope` (None: everyone), newest first, a page at a time
    (keyset on the call's time and id); `rep_id`, `start` and `end` are resolved by the
    caller."""
    where = ["c.skipped_reason IS NOT NULL"]
    params: dict[str, Any] = {"size": max(1, min(page_size, MAX_PAGE_SIZE))}
    if scope is not None:
        where.append("c.primary_user_id = ANY(%(scope)s::text[])")
        params["scope"] = sorted(scope)
    if rep_id is not None:
        where.append("c.primary_user_id = %(rep)s")
        params["rep"] = rep_id
    if start is not None:
        where.append(f"{_AT} >= %(start)s")
        params["start"] = start
    if end is not None:
        where.append(f"{_AT} < %(end)s")
        params["end"] = end
    filters = " AND ".join(where)
    counts = conn.execute(
        f"SELECT c.skipped_reason AS reason, count(*) AS n FROM calls c WHERE {filters}"
        " GROUP BY c.skipped_reason ORDER BY n DESC, reason",
        params,
    ).fetchall()
    if cursor:
        params["c_at"], params["c_id"] = decode_cursor(cursor)
        filters += f" AND ({_AT}, c.id) < (%(c_at)s, %(c_id)s)"
    rows = conn.execute(
        f"""SELECT c.id, c.title, c.started_at, c.primary_user_id, u.name AS rep_name, c.url,
                   c.skipped_reason, c.call_type, {_EXTERNAL} AS external, {_AT} AS at
            FROM calls c LEFT JOIN users u ON u.id = c.primary_user_id
            WHERE {filters}
            ORDER BY {_AT} DESC, c.id DESC LIMIT %(size)s + 1""",
        params,
    ).fetchall()
    more, rows = len(rows) > params["size"], rows[: params["size"]]
    n = sum(int(r["n"]) for r in counts)
    return SkippedPage(
        items=[_item(r) for r in rows],
        reasons={r["reason"]: int(r["n"]) for r in counts},
        total=min(n, TOTAL_CAP),
        total_is_lower_bound=n > TOTAL_CAP,
        next_cursor=encode_cursor(rows[-1]["at"], rows[-1]["id"]) if more else None,
    )


def _item(r: Row) -> SkippedCall:
    return SkippedCall(
        call_id=r["id"],
        title=r["title"],
        started_at=r["started_at"],
        rep_id=r["primary_user_id"],
        rep_name=r["rep_name"],
        gong_url=safe_link(r["url"]),
        reason=r["skipped_reason"],
        call_type=r["call_type"],
        external_participants=r["external"],
        look_at_it=r["external"] > 0,
    )
