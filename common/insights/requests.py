"""Asking for an analysis from Claude Desktop.

A call not yet analysed goes through the outbox like a webhook delivery (idempotent on the
call id), so the dispatcher starts it, follows it, and it is analysed exactly once however
often it is asked for. Before anything is queued, the call's owner must be in the caller's
scope: a stored call's rep, else the rep Gong named in the delivery, else the rep Gong's API
names now. A forced re-analysis (admins) starts a run with `force` through Prefect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from common.access.scope import Caller, find_call, in_scope, refuse_call, require_role
from common.config import DIMENSIONS, Settings
from common.db import Row
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


def unstored_owner(
    conn: psycopg.Connection[Row],
    s: Settings,
    caller: Caller,
    call_id: str,
    gong: Callable[[], GongClient],
) -> tuple[str | None, Call | None]:
    """A call not stored yet: (its rep id, Gong's call data if it had to be asked for), or
    (None, None) when neither the outbox nor Gong knows it. Asking Gong spends the company's
    budget, so each user may do it MCP_UNKNOWN_CALL_LOOKUPS_PER_DAY times a day."""
    row = conn.execute(
        "SELECT payload -> 'callData' -> 'metaData' ->> 'primaryUserId' AS rep FROM webhook_events"
        " WHERE idempotency_key = %s",
        (call_id,),
    ).fetchone()
    if row is not None:
        return row["rep"], None
    if s.gong_access_key is None:
        return None, None
    take_lookup(s, caller)
    try:
        call = gong().call(call_id)
    except GongNotFound:
        return None, None
    return call.metaData.primaryUserId, call


def take_lookup(s: Settings, caller: Caller) -> None:
    """One of the caller's daily look-ups of unknown calls, at most one a second; refused with
    InvalidRequest once today's are used up."""
    lookups = SharedRateLimiter(
        s.database_url, f"gong-lookups:{caller.id}", 1.0, s.mcp_unknown_call_lookups_per_day
    )
    try:
        lookups.acquire()
    except GongBudgetSpent:
        raise InvalidRequest(
            f"you have used today's {s.mcp_unknown_call_lookups_per_day} look-ups of calls that"
            " are not analysed yet (each asks Gong); ask again tomorrow, or ask an admin"
        ) from None


def check_in_scope(
    conn: psycopg.Connection[Row],
    s: Settings,
    caller: Caller,
    call_id: str,
    gong: Callable[[], GongClient],
) -> Call | None:
    """Refuse a call that is not the caller's to ask for, alike whether it exists or not;
    returns Gong's call data when it had to be asked for the owner (through `gong`, the
    server's one client, built on first use)."""
    if not SAFE_ID.fullmatch(call_id):
        raise InvalidRequest("call_id is a Gong call id (digits, letters, - and _)")
    if _stored(conn, call_id):
        find_call(conn, caller, call_id)
        return None
    rep_id, fetched = unstored_owner(conn, s, caller, call_id, gong)
    known = rep_id is not None or fetched is not None
    if not known or not (caller.is_admin or in_scope(conn, caller, rep_id)):
        refuse_call(caller, call_id)
    return fetched


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
