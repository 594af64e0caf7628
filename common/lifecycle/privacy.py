"""Erasing a person: every call they appear in, everywhere we keep it.

`find` looks for the person (an e-mail address or a phone number) as a call participant (the
parties Gong sent, stored or still in the outbox), in transcripts' evidence quotes and
managers' notes, and asks Gong's data-privacy API which calls reference them, so an erasure
done in Gong can be repeated here. `erase` deletes, for those calls: the raw transcripts in
object storage, the call, its coaching sessions and their quotes, scoring work, managers'
scores, eval results and cache lookups; it unlinks usage and error rows (their dollars stay,
without the call); it leaves a tombstone in the outbox (status `erased`, payload emptied) so a
later delivery is never analysed again; and it re-renders the weekly reports of the weeks
those calls fell in. Each erasure is recorded in `erasures` with who asked and the counts,
never the address.

An address that belongs to one of our own users is refused: reps and managers leave through
Gong's user management and the retention period, not by erasing every call they made.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from common.config import Settings
from common.db import Row, transaction
from common.errors import InvalidRequest
from common.gong import GongClient
from common.insights.week import monday
from common.intake import outbox
from common.reports.weekly import build_week
from common.scoring import claims, ledger, sessions
from common.storage import ObjectStore


class FoundCall(BaseModel):
    call_id: str
    title: str | None
    started_at: str | None
    found_in: list[str]


class Found(BaseModel):
    kind: str  # email | phone
    calls: list[FoundCall]
    counts: dict[str, int]
    objects: list[str]


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def _matchers(email: str | None, phone: str | None) -> tuple[str, dict[str, Any]]:
    """SQL that is true for a party (jsonb `p`) who is the person, and for text mentioning them."""
    if email:
        return "lower(p->>'emailAddress') = lower(%(who)s)", {
            "who": email,
            "like": f"%{_escape(email)}%",
        }
    digits = _digits(phone or "")
    if len(digits) < 7:
        raise InvalidRequest("a phone number needs at least 7 digits")
    return (
        "regexp_replace(coalesce(p->>'phoneNumber', ''), '\\D', '', 'g') = %(who)s",
        {"who": digits, "like": f"%{_escape(phone or '')}%"},
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find(
    conn: psycopg.Connection[Row],
    *,
    email: str | None = None,
    phone: str | None = None,
    gong_calls: list[str] | None = None,
) -> Found:
    email, phone = (email or "").strip() or None, (phone or "").strip() or None
    if bool(email) == bool(phone):
        raise InvalidRequest("give exactly one of --email or --phone")
    party, params = _matchers(email, phone)
    if (
        email
        and conn.execute(
            "SELECT 1 FROM users WHERE lower(trim(email)) = lower(%s)", (email,)
        ).fetchone()
    ):
        raise InvalidRequest(
            "that address belongs to one of your Gong users: remove them in Gong; their calls"
            " leave with RETENTION_YEARS"
        )
    places: dict[str, set[str]] = {}
    sources = {
        "participant": f"""SELECT id AS call_id FROM calls c WHERE EXISTS (
            SELECT 1 FROM jsonb_array_elements(c.parties) p WHERE {party})""",
        "delivery": f"""SELECT call_id FROM webhook_events e WHERE status <> 'erased' AND EXISTS (
            SELECT 1 FROM jsonb_array_elements(coalesce(e.payload->'callData'->'parties', '[]'))
            p WHERE {party})""",
        "quote": "SELECT DISTINCT call_id FROM coaching_sessions WHERE result::text ILIKE %(like)s",
        "manager note": "SELECT DISTINCT call_id FROM manager_scores WHERE note ILIKE %(like)s",
    }
    for where, query in sources.items():
        for r in conn.execute(query, params).fetchall():  # type: ignore[arg-type]
            places.setdefault(r["call_id"], set()).add(where)
    for call_id in gong_calls or []:
        places.setdefault(call_id, set()).add("gong")
    ids = sorted(places)
    rows = {
        r["id"]: r
        for r in conn.execute(
            "SELECT id, title, started_at::text AS started_at, transcript_key FROM calls"
            " WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
    }
    return Found(
        kind="email" if email else "phone",
        calls=[
            FoundCall(
                call_id=i,
                title=rows[i]["title"] if i in rows else None,
                started_at=rows[i]["started_at"] if i in rows else None,
                found_in=sorted(places[i]),
            )
            for i in ids
        ],
        counts=_counts(conn, ids),
        objects=sorted(r["transcript_key"] for r in rows.values() if r["transcript_key"]),
    )


COUNTED = {
    "calls": "SELECT count(*) AS n FROM calls WHERE id = ANY(%s)",
    "coaching_sessions": "SELECT count(*) AS n FROM coaching_sessions WHERE call_id = ANY(%s)",
    "scoring_work": "SELECT count(*) AS n FROM scoring_work WHERE call_id = ANY(%s)",
    "manager_scores": "SELECT count(*) AS n FROM manager_scores WHERE call_id = ANY(%s)",
    "eval_results": "SELECT count(*) AS n FROM eval_results WHERE call_id = ANY(%s)",
    "cache_lookups": "SELECT count(*) AS n FROM cache_lookups WHERE call_id = ANY(%s)",
    "access_log": "SELECT count(*) AS n FROM access_log WHERE call_id = ANY(%s)",
    "claude_usage_unlinked": "SELECT count(*) AS n FROM claude_usage WHERE call_id = ANY(%s)",
    "claude_errors_unlinked": "SELECT count(*) AS n FROM claude_errors WHERE call_id = ANY(%s)",
    "outbox_tombstones": "SELECT count(*) AS n FROM webhook_events WHERE call_id = ANY(%s)",
}


def _counts(conn: psycopg.Connection[Row], ids: list[str]) -> dict[str, int]:
    out = {}
    for name, query in COUNTED.items():
        row = conn.execute(query, (ids,)).fetchone()  # type: ignore[arg-type]
        out[name] = int(row["n"]) if row else 0
    return out


def erase_rows(conn: psycopg.Connection[Row], found: Found) -> list[tuple[date, str | None]]:
    """Delete and unlink every row of the found calls, in the caller's transaction; returns
    the (week, rep) of each erased call, whose weekly reports must be re-rendered."""
    ids = [c.call_id for c in found.calls]
    weeks = [
        (monday(r["started_at"].date()), r["primary_user_id"])
        for r in conn.execute(
            "SELECT started_at, primary_user_id FROM calls WHERE id = ANY(%s) AND started_at IS NOT NULL",
            (ids,),
        ).fetchall()
    ]
    sessions.erase_calls(conn, ids)
    claims.erase_calls(conn, ids)
    for table in ("manager_scores", "eval_results", "cache_lookups"):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE call_id = ANY(%s)").format(sql.Identifier(table)), (ids,)
        )
    ledger.unlink_calls(conn, ids)
    conn.execute("UPDATE claude_errors SET call_id = NULL WHERE call_id = ANY(%s)", (ids,))
    outbox.erase(conn, ids)
    conn.execute("DELETE FROM calls WHERE id = ANY(%s)", (ids,))
    return weeks


def record(conn: psycopg.Connection[Row], found: Found, requested_by: str) -> int:
    row = conn.execute(
        "INSERT INTO erasures (requested_by, kind, calls, counts) VALUES (%s, %s, %s, %s)"
        " RETURNING id",
        (
            requested_by,
            found.kind,
            len(found.calls),
            Jsonb({**found.counts, "objects": len(found.objects)}),
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def forget(
    s: Settings,
    *,
    email: str | None = None,
    phone: str | None = None,
    yes: bool = False,
    requested_by: str = "unknown",
) -> dict[str, Any]:
    """Find the person's calls; with `yes`, erase them everywhere and record the erasure."""
    gong_calls: list[str] = []
    if s.gong_access_key is not None:
        with GongClient.from_settings(s) as gong:
            gong_calls = gong.calls_referencing(email=email, phone=phone)
    with transaction(s.database_url) as conn:
        found = find(conn, email=email, phone=phone, gong_calls=gong_calls)
    result: dict[str, Any] = found.model_dump()
    if not yes or not found.calls:
        result["erased"] = False
        return result
    store = ObjectStore.from_settings(s)
    store.delete(found.objects)  # first: a failure below leaves the rows to find again
    with transaction(s.database_url) as conn:
        weeks = erase_rows(conn, found)
        result["erasure_id"] = record(conn, found, requested_by)
    result["reports_rerendered"] = rerender_weeks(s, store, sorted({w for w, _ in weeks}))
    result["erased"] = True
    return result


def rerender_weeks(s: Settings, store: ObjectStore, weeks: list[date]) -> list[str]:
    """Replace the stored weekly reports of these weeks with ones built from what is left
    (a report that quoted an erased call is deleted, then written again without it)."""
    done = []
    for week in weeks:
        with transaction(s.database_url) as conn:
            had = conn.execute(
                "DELETE FROM weekly_reports WHERE week_start = %s RETURNING id", (week,)
            ).fetchall()
        store.delete(store.list_keys(f"reports/weekly/{week.isoformat()}/"))
        if had:
            build_week(s, week, deliver=False)
            done.append(week.isoformat())
    return done
