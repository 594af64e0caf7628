"""The webhook_events table as an outbox: store once, claim, mark.

The webhook stores each delivery once (idempotent on the Gong call id) and answers; the
dispatcher later claims pending events with `FOR UPDATE SKIP LOCKED`, starts a flow run per
event with the call id as the run's idempotency key, and marks the event. If the start fails
the event stays pending with a backoff, so nothing is lost and nothing runs twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.db import Row
from common.ingest import WebhookPayload

INSERT_EVENT = """
INSERT INTO webhook_events (idempotency_key, call_id, is_test, payload, status)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


async def store_event(
    conn: psycopg.AsyncConnection[Row], payload: WebhookPayload, raw: Any
) -> bool:
    """Store a delivery; False when it was already stored (a duplicate)."""
    status = "test" if payload.isTest else "pending"
    cur = await conn.execute(
        INSERT_EVENT,
        (payload.idempotency_key, payload.call_id, payload.isTest, Jsonb(raw), status),
    )
    return await cur.fetchone() is not None


@dataclass(frozen=True)
class PendingEvent:
    id: int
    call_id: str
    attempts: int


@dataclass
class DispatchResult:
    started: list[str]
    failed: list[str]


# A run starter takes (call_id, idempotency_key) and returns the flow run id.
RunStarter = Callable[[str, str], str]


def claim_pending(conn: psycopg.Connection[Row], limit: int) -> list[PendingEvent]:
    """Lock up to `limit` due pending events for this transaction (others skip them)."""
    rows = conn.execute(
        """
        SELECT id, call_id, attempts FROM webhook_events
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY received_at
        LIMIT %s
        FOR UPDATE SKIP LOCKED
        """,
        (limit,),
    ).fetchall()
    return [PendingEvent(r["id"], r["call_id"], r["attempts"]) for r in rows]


def mark_dispatched(conn: psycopg.Connection[Row], event_id: int, flow_run_id: str) -> None:
    conn.execute(
        """
        UPDATE webhook_events
        SET status = 'dispatched', flow_run_id = %s, dispatched_at = now(),
            attempts = attempts + 1, last_error = NULL
        WHERE id = %s
        """,
        (flow_run_id, event_id),
    )


def mark_retry(
    conn: psycopg.Connection[Row], event: PendingEvent, error: str, max_attempts: int = 20
) -> None:
    """Keep the event pending with exponential backoff (30 s doubling, capped at 15 min).

    After `max_attempts` the event is marked failed and shows up in the event counts.
    """
    delay_s = min(30 * 2**event.attempts, 900)
    conn.execute(
        """
        UPDATE webhook_events
        SET attempts = attempts + 1, last_error = %s,
            next_attempt_at = now() + make_interval(secs => %s),
            status = CASE WHEN attempts + 1 >= %s THEN 'failed' ELSE 'pending' END
        WHERE id = %s
        """,
        (error[:500], delay_s, max_attempts, event.id),
    )


def dispatch_pending(
    conn: psycopg.Connection[Row], start_run: RunStarter, limit: int
) -> DispatchResult:
    """Claim pending events and start one flow run each, in the caller's transaction."""
    result = DispatchResult(started=[], failed=[])
    for event in claim_pending(conn, limit):
        try:
            run_id = start_run(event.call_id, f"analyze-call:{event.call_id}")
        except Exception as exc:  # any failure to start leaves the event pending
            mark_retry(conn, event, f"{type(exc).__name__}: {exc}")
            result.failed.append(event.call_id)
        else:
            mark_dispatched(conn, event.id, run_id)
            result.started.append(event.call_id)
    return result


def event_counts(conn: psycopg.Connection[Row]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM webhook_events GROUP BY status"
    ).fetchall()
    return {r["status"]: r["n"] for r in rows}
