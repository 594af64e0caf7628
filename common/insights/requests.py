"""Asking for an analysis from Claude Desktop.

A call not yet analysed goes through the outbox like a webhook delivery (idempotent on the
call id), so the dispatcher starts it, follows it, and it is analysed exactly once however
often it is asked for. Before anything is queued, the call's owner must be in the caller's
scope: a stored call's rep, else the rep Gong named in the delivery, else the rep Gong's API
names now. A forced re-analysis (admins) starts a run with `force` through Prefect.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from common.access.scope import Caller, refuse_call, require_role
from common.config import DIMENSIONS, Settings
from common.db import Db, Row
from common.errors import GongBudgetSpent, GongNotFound, InvalidRequest
from common.gong import Call, GongClient
from common.insights.calls import CallCoaching, call_coaching
from common.intake import outbox
from common.intake.delivery import SAFE_ID
from common.limits import SharedRateLimiter

# (call_id, dimensions, idempotency key) -> flow run id, for forced re-analysis
ForceStarter = Callable[[str, list[str], str], str]


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    outbox_status: str | None  # pending | dispatched | completed | needs_attention
    last_error: str | None
    coaching: CallCoaching | None


class LookupNotDue(InvalidRequest):
    """The caller's next look-up of a call that is not theirs to see is not due yet: a server
    waits for it off any connection and thread, or passes the refusal on."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "look-ups of calls that are not analysed yet, or not yours, are paced at one a"
            f" second; try again in {math.ceil(retry_after_s)} s"
        )


def local_owner(conn: psycopg.Connection[Row], call_id: str) -> tuple[bool, str | None]:
    """(known here, its rep id): a stored call's rep, else the rep Gong named in the outbox's
    delivery; (False, None) when neither has the call."""
    if not SAFE_ID.fullmatch(call_id):
        raise InvalidRequest("call_id is a Gong call id (digits, letters, - and _)")
    row = conn.execute("SELECT primary_user_id FROM calls WHERE id = %s", (call_id,)).fetchone()
    if row is not None:
        return True, row["primary_user_id"]
    return outbox.delivered_rep(conn, call_id)


def take_lookup(s: Settings, db: Db, caller: Caller) -> None:
    """One of the caller's daily look-ups of calls that are not theirs to see (unknown here,
    or another team's), at most one a second: LookupNotDue when the next is not due yet,
    InvalidRequest once today's are used up. Taken alike for a stored call and an unknown
    one, so neither the refusal nor the count left tells them apart."""
    lookups = SharedRateLimiter(
        db, f"gong-lookups:{caller.id}", 1.0, s.mcp_unknown_call_lookups_per_day
    )
    try:
        wait = lookups.try_acquire()
    except GongBudgetSpent:
        raise InvalidRequest(
            f"you have used today's {s.mcp_unknown_call_lookups_per_day} look-ups of calls that"
            " are not analysed yet or not yours (each may ask Gong); ask again tomorrow, or ask"
            " an admin"
        ) from None
    if wait > 0:
        raise LookupNotDue(wait)


def look_up(
    s: Settings,
    db: Db,
    caller: Caller,
    call_id: str,
    known: bool,
    gong: Callable[[], GongClient],
) -> Call:
    """A call the caller may not see from what is stored: spends one of their look-ups
    (`take_lookup`), then refuses a call known here (it is another team's) or one Gong does
    not know, and returns Gong's data of the rest (its owner is checked by the caller).
    Holds no connection: run it between the caller's transactions."""
    take_lookup(s, db, caller)
    if known or s.gong_access_key is None:
        refuse_call(caller, call_id)
    try:
        return gong().call(call_id)
    except GongNotFound:
        refuse_call(caller, call_id)


def _stored(conn: psycopg.Connection[Row], call_id: str) -> bool:
    return conn.execute("SELECT 1 FROM calls WHERE id = %s", (call_id,)).fetchone() is not None


def queue(conn: psycopg.Connection[Row], caller: Caller, call_id: str, fetched: Call | None) -> str:
    """Put the call in the outbox (or wake it there); returns its outbox status."""
    payload: dict[str, object] = {"source": "mcp", "requestedBy": caller.id, "isTest": False}
    if fetched is not None:
        payload["callData"] = json.loads(fetched.model_dump_json())
    return outbox.request(conn, call_id, payload, admin=caller.is_admin)


def start_forced(s: Settings, caller: Caller, call_id: str, dims: list[str]) -> str:
    """A forced re-analysis, started in Prefect with `force` (admins only)."""
    require_role(caller, "admin")
    # Prefect takes about a second to import: only a forced analysis pays for it, not the
    # MCP server's start-up (there is no import cycle here)
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise InvalidRequest("force needs PREFECT_API_URL (the company's Prefect server) set")
    from common.intake.runs import start_analysis_run

    key = f"mcp-force:{call_id}:{uuid.uuid4().hex}"
    return start_analysis_run(s.analyze_deployment, [call_id], key, dimensions=dims, force=True)


def progress(conn: psycopg.Connection[Row], call_id: str, dims: list[str]) -> Progress:
    event = conn.execute(
        "SELECT status, last_error FROM webhook_events WHERE idempotency_key = %s", (call_id,)
    ).fetchone()
    coaching = call_coaching(conn, call_id) if _stored(conn, call_id) else None
    have = {d.dimension for d in coaching.dimensions} if coaching else set()
    return Progress(
        done=len(set(dims) & have),
        total=len(dims),
        outbox_status=event["status"] if event else None,
        last_error=event["last_error"] if event else None,
        coaching=coaching,
    )


def dimensions(requested: list[str] | None) -> list[str]:
    return list(dict.fromkeys(requested)) if requested else list(DIMENSIONS)
