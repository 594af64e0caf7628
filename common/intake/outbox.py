"""The webhook_events table as an outbox that follows each call to its end.

    pending --dispatch--> dispatched --run ends--> completed
       ^                      |
       +---- failed run, crashed, hung, vanished (next attempt after a backoff)
                              +--- after ANALYSIS_MAX_ATTEMPTS counted failures --> needs_attention

This module is the table's only writer: the webhook, Claude Desktop's requests (`request`),
backfill (`store_found`), erasure (`erase`) and retention (`expire`) call its functions.

- The webhook stores each delivery once (idempotent on the Gong call id).
- The dispatcher claims due pending events (`FOR UPDATE SKIP LOCKED`), groups them into runs
  of up to CALLS_PER_RUN calls and creates each run with an idempotency key naming the calls
  and their attempt numbers: a start that succeeded but was not recorded is found again by
  Prefect, while a re-queued call gets a new run.
- The run reports each call's end (`record_completed` / `record_failed`). Outages (Claude,
  Gong, Postgres) are "try again later" with backoff, never a counted failure.
- The reconciler (`reconcile`) looks at the runs of dispatched events and re-queues those whose
  run crashed, failed or was cancelled without reporting, hung past ANALYSIS_RUN_DEADLINE_S
  (cancelling it), or does not exist.
A failure to create a run (Prefect down or answering 503) keeps the event pending with a
backoff of 30 s doubling to 15 min, for as long as it takes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.config import Settings
from common.db import Row
from common.errors import GongRateLimited, is_transient
from common.intake.delivery import WebhookPayload

INSERT_EVENT = """
INSERT INTO webhook_events (idempotency_key, call_id, is_test, payload, status, response_ms)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


async def store_event(
    conn: psycopg.AsyncConnection[Row],
    payload: WebhookPayload,
    raw: Any,
    response_ms: float | None = None,
) -> bool:
    """Store a delivery; False when it was already stored (a duplicate). `response_ms` is how
    long the webhook has taken so far (the webhook P99 monitor reads it)."""
    status = "test" if payload.isTest else "pending"
    cur = await conn.execute(
        INSERT_EVENT,
        (payload.idempotency_key, payload.call_id, payload.isTest, Jsonb(raw), status, response_ms),
    )
    return await cur.fetchone() is not None


def store_found(conn: psycopg.Connection[Row], call_id: str, payload: dict[str, Any]) -> bool:
    """Queue a call found by polling Gong (backfill) like a delivery; False when known."""
    cur = conn.execute(
        "INSERT INTO webhook_events (idempotency_key, call_id, payload) VALUES (%s, %s, %s)"
        " ON CONFLICT (idempotency_key) DO NOTHING",
        (call_id, call_id, Jsonb(payload)),
    )
    return cur.rowcount > 0


def request(
    conn: psycopg.Connection[Row], call_id: str, payload: dict[str, Any], *, admin: bool
) -> str:
    """Queue a call asked for by a user (or wake it in the outbox); returns its status.

    A dispatched call is left to its run. A parked call (needs_attention) is put back, with
    its failures reset, only for an admin: its failures were paid for.
    """
    row = conn.execute(
        """
        INSERT INTO webhook_events AS e (idempotency_key, call_id, payload, status)
        VALUES (%(key)s, %(key)s, %(payload)s, 'pending')
        ON CONFLICT (idempotency_key) DO UPDATE SET
            status = CASE WHEN e.status = 'dispatched' THEN e.status
                          WHEN e.status = 'needs_attention' AND NOT %(admin)s THEN e.status
                          ELSE 'pending' END,
            failures = CASE WHEN e.status = 'needs_attention' AND %(admin)s THEN 0
                            ELSE e.failures END,
            next_attempt_at = CASE
                WHEN e.status = 'dispatched' THEN e.next_attempt_at
                WHEN e.status = 'needs_attention' AND NOT %(admin)s THEN e.next_attempt_at
                ELSE least(e.next_attempt_at, now()) END
        RETURNING status
        """,
        {"key": call_id, "payload": Jsonb(payload), "admin": admin},
    ).fetchone()
    assert row is not None
    return str(row["status"])


def erase(conn: psycopg.Connection[Row], call_ids: list[str]) -> None:
    """Erasure: the calls' deliveries emptied, and a tombstone for calls known only to Gong,
    so a later delivery of an erased call is a duplicate."""
    conn.execute(
        "UPDATE webhook_events SET payload = '{}', status = 'erased', last_error = NULL"
        " WHERE call_id = ANY(%s)",
        (call_ids,),
    )
    conn.execute(
        "INSERT INTO webhook_events (idempotency_key, call_id, payload, status)"
        " SELECT id, id, '{}', 'erased' FROM unnest(%s::text[]) AS id"
        " ON CONFLICT (idempotency_key) DO NOTHING",
        (call_ids,),
    )


def expire(conn: psycopg.Connection[Row], years: int) -> int:
    """Retention: deliveries received more than `years` ago; returns how many."""
    cur = conn.execute(
        "DELETE FROM webhook_events WHERE received_at < now() - make_interval(years => %s)",
        (years,),
    )
    return cur.rowcount


@dataclass(frozen=True)
class PendingEvent:
    id: int
    call_id: str
    attempts: int  # failed starts
    run_attempts: int  # runs created so far


@dataclass
class DispatchResult:
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Retry:
    """When and how to try a call again."""

    base_s: float = 60.0
    max_s: float = 3600.0
    max_attempts: int = 5

    @classmethod
    def from_settings(cls, s: Settings) -> Retry:
        return cls(s.analysis_retry_base_s, s.analysis_retry_max_s, s.analysis_max_attempts)

    def delay(self, failures: int) -> float:
        return float(min(self.base_s * 2 ** max(0, failures - 1), self.max_s))


@dataclass(frozen=True)
class RunOutcome:
    """How one call of a run ended, as the run reports it."""

    call_id: str
    run_id: str | None  # the flow run the event was dispatched to
    complete: bool  # every dimension of the call is analysed now
    error: BaseException | None = None  # what stopped the whole call
    failed: dict[str, str] = field(default_factory=dict)  # dimension -> why
    causes: tuple[BaseException, ...] = ()  # the failed dimensions' exceptions


# A run starter takes (call_ids, idempotency_key) and returns the flow run id.
RunStarter = Callable[[list[str], str], str]


def claim_pending(conn: psycopg.Connection[Row], limit: int) -> list[PendingEvent]:
    """Lock up to `limit` due pending events for this transaction (others skip them)."""
    rows = conn.execute(
        """
        SELECT id, call_id, attempts, run_attempts FROM webhook_events
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, received_at
        LIMIT %s
        FOR UPDATE SKIP LOCKED
        """,
        (limit,),
    ).fetchall()
    return [PendingEvent(r["id"], r["call_id"], r["attempts"], r["run_attempts"]) for r in rows]


def run_key(group: list[PendingEvent]) -> str:
    """Idempotency key of a run: the calls and their attempt numbers."""
    names = ",".join(sorted(f"{e.call_id}:{e.run_attempts + 1}" for e in group))
    return "analyze:" + hashlib.sha256(names.encode()).hexdigest()[:40]


def first_run_key(call_id: str) -> str:
    """The run key the dispatcher would give a call's first run (for inline dispatch)."""
    return run_key([PendingEvent(0, call_id, 0, 0)])


async def mark_dispatched_inline(
    conn: psycopg.AsyncConnection[Row], call_id: str, flow_run_id: str
) -> None:
    """The webhook started the call's first run itself; a call the dispatcher has meanwhile
    claimed or started is left as it is."""
    await conn.execute(
        "UPDATE webhook_events SET status = 'dispatched', flow_run_id = %s,"
        " dispatched_at = now(), run_attempts = run_attempts + 1"
        " WHERE idempotency_key = %s AND status = 'pending' AND run_attempts = 0",
        (flow_run_id, call_id),
    )


def mark_dispatched(conn: psycopg.Connection[Row], event_id: int, flow_run_id: str) -> None:
    conn.execute(
        """
        UPDATE webhook_events
        SET status = 'dispatched', flow_run_id = %s, dispatched_at = now(),
            run_attempts = run_attempts + 1, last_error = NULL
        WHERE id = %s
        """,
        (flow_run_id, event_id),
    )


def mark_start_failed(conn: psycopg.Connection[Row], event: PendingEvent, error: str) -> None:
    """Keep the event pending with a backoff (30 s doubling, capped at 15 min): Prefect being
    unreachable is an outage, never a reason to give up on a call."""
    delay_s = min(30 * 2 ** min(event.attempts, 10), 900)
    conn.execute(
        """
        UPDATE webhook_events
        SET attempts = attempts + 1, last_error = %s,
            next_attempt_at = now() + make_interval(secs => %s)
        WHERE id = %s
        """,
        (error[:500], delay_s, event.id),
    )


def in_flight(conn: psycopg.Connection[Row]) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM webhook_events WHERE status = 'dispatched'"
    ).fetchone()
    return int(row["n"]) if row else 0


def dispatch_pending(
    conn: psycopg.Connection[Row],
    start_run: RunStarter,
    limit: int,
    calls_per_run: int = 1,
    max_in_flight: int | None = None,
) -> DispatchResult:
    """Claim pending events and start one run per group of calls, in the caller's transaction.

    With `max_in_flight`, only as many calls are started as keeps the dispatched ones under
    it: a backlog waits in the outbox, not in Prefect's queue, where runs would sit past their
    deadline and more calls would share the Claude slots than can use them.
    """
    result = DispatchResult()
    if max_in_flight is not None:
        limit = min(limit, max(0, max_in_flight - in_flight(conn)))
        if limit == 0:
            return result
    events = claim_pending(conn, limit)
    for start in range(0, len(events), calls_per_run):
        group = events[start : start + calls_per_run]
        call_ids = [e.call_id for e in group]
        try:
            run_id = start_run(call_ids, run_key(group))
        except Exception as exc:  # any failure to start leaves the events pending
            for event in group:
                mark_start_failed(conn, event, f"start failed: {type(exc).__name__}: {exc}")
            result.failed.extend(call_ids)
        else:
            for event in group:
                mark_dispatched(conn, event.id, run_id)
            result.started.extend(call_ids)
            result.runs.append(run_id)
    return result


# -- the run reports each call's end ----------------------------------------------------------


def record_outcome(conn: psycopg.Connection[Row], outcome: RunOutcome, retry: Retry) -> str | None:
    """Completed (every dimension analysed), or failed with a reason and a next attempt, or
    parked after `retry.max_attempts` counted failures; returns the event's new status (None
    when nothing changed). Outages (`is_transient`) never count towards parking."""
    if outcome.error is None and not outcome.failed:
        if not outcome.complete:  # a run for some dimensions only: the event is not done
            return None
        record_completed(conn, outcome.call_id)
        return "completed"
    exc = outcome.error
    reason = f"{type(exc).__name__}: {exc}" if exc else f"dimensions failed: {outcome.failed}"
    transient = all(is_transient(e) for e in ([exc] if exc else outcome.causes))
    retry_after = exc.retry_after_s if isinstance(exc, GongRateLimited) else None
    return record_failed(
        conn,
        outcome.call_id,
        outcome.run_id,
        reason,
        transient=transient,
        retry=retry,
        retry_after_s=retry_after,
    )


def record_completed(conn: psycopg.Connection[Row], call_id: str) -> None:
    """The call is analysed (all four dimensions), whichever run did it."""
    conn.execute(
        "UPDATE webhook_events SET status = 'completed', completed_at = now(), last_error = NULL"
        " WHERE call_id = %s AND status IN ('pending', 'dispatched') AND NOT is_test",
        (call_id,),
    )


def record_failed(
    conn: psycopg.Connection[Row],
    call_id: str,
    flow_run_id: str | None,
    reason: str,
    *,
    transient: bool,
    retry: Retry,
    retry_after_s: float | None = None,
) -> str | None:
    """Send the call back to pending with a next attempt, or park it; returns the new status.

    Only the event this run was dispatched for is touched (a run started from Claude Desktop
    does not disturb a dispatched one). Transient failures (outages) back off without counting.
    """
    row = conn.execute(
        "SELECT id, failures FROM webhook_events WHERE call_id = %s AND status = 'dispatched'"
        " AND flow_run_id::text = %s AND NOT is_test FOR UPDATE",
        (call_id, flow_run_id),
    ).fetchone()
    if row is None:
        return None
    return requeue(conn, row["id"], row["failures"], reason, transient, retry, retry_after_s)


def requeue(
    conn: psycopg.Connection[Row],
    event_id: int,
    failures: int,
    reason: str,
    transient: bool,
    retry: Retry,
    retry_after_s: float | None = None,
) -> str:
    failures = failures if transient else failures + 1
    if failures >= retry.max_attempts:
        conn.execute(
            "UPDATE webhook_events SET status = 'needs_attention', failures = %s,"
            " last_error = %s WHERE id = %s",
            (failures, reason[:1000], event_id),
        )
        return "needs_attention"
    delay = retry_after_s if retry_after_s is not None else retry.delay(max(failures, 1))
    conn.execute(
        "UPDATE webhook_events SET status = 'pending', failures = %s, last_error = %s,"
        " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
        (failures, reason[:1000], delay, event_id),
    )
    return "pending"


# -- the reconciler ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    type: str  # Prefect StateType: SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CRASHED, ...
    message: str = ""


@dataclass
class Reconciled:
    requeued: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    cancelled_runs: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)


FINAL_BAD = {"FAILED", "CRASHED", "CANCELLED"}


def reconcile(
    conn: psycopg.Connection[Row],
    read_states: Callable[[list[str]], dict[str, RunState]],
    cancel_run: Callable[[str], None],
    retry: Retry,
    deadline_s: float,
    analysed: Callable[[psycopg.Connection[Row], str], bool],
) -> Reconciled:
    """Follow dispatched events to their runs' ends; re-queue what was lost."""
    events = conn.execute(
        "SELECT id, call_id, flow_run_id::text AS run_id, failures,"
        " extract(epoch FROM now() - dispatched_at) AS age_s FROM webhook_events"
        " WHERE status = 'dispatched' AND NOT is_test FOR UPDATE SKIP LOCKED"
    ).fetchall()
    out = Reconciled()
    if not events:
        return out
    states = read_states(sorted({e["run_id"] for e in events if e["run_id"]}))
    for e in events:
        state = states.get(e["run_id"])
        verdict = _verdict(state, float(e["age_s"]), deadline_s)
        if verdict is None:
            continue
        finished = state is not None and state.type == "COMPLETED"
        if finished and analysed(conn, e["call_id"]):
            record_completed(conn, e["call_id"])
            out.completed.append(e["call_id"])
            continue
        if verdict == "hung":
            cancel_run(e["run_id"])
            out.cancelled_runs.append(e["run_id"])
        detail = f": {state.message}" if state and state.message else ""
        reason = f"run {e['run_id']} {verdict}{detail}"
        # a run that finished but could not report (Postgres away) is an outage, not a fault
        status = requeue(conn, e["id"], e["failures"], reason, transient=finished, retry=retry)
        (out.parked if status == "needs_attention" else out.requeued).append(e["call_id"])
    return out


def _verdict(state: RunState | None, age_s: float, deadline_s: float) -> str | None:
    """What happened to a dispatched event's run; None while it is still on its way."""
    if state is None:
        return "vanished" if age_s > 60 else None  # a run just created may not be listed yet
    if state.type == "COMPLETED":
        return "finished without reporting"
    if state.type in FINAL_BAD:
        return state.type.lower()
    return "hung" if age_s > deadline_s else None


def needs_attention(conn: psycopg.Connection[Row], limit: int = 20) -> list[Row]:
    return conn.execute(
        "SELECT call_id, failures, run_attempts, last_error, received_at FROM webhook_events"
        " WHERE status = 'needs_attention' ORDER BY received_at DESC LIMIT %s",
        (limit,),
    ).fetchall()


def requeue_parked(conn: psycopg.Connection[Row], call_ids: list[str]) -> list[str]:
    """An operator's second chance: parked calls (all, or these) back to pending, counts reset."""
    rows = conn.execute(
        "UPDATE webhook_events SET status = 'pending', failures = 0, alerted_at = NULL,"
        " next_attempt_at = now() WHERE status = 'needs_attention'"
        " AND (cardinality(%s::text[]) = 0 OR call_id = ANY(%s)) RETURNING call_id",
        (call_ids, call_ids),
    ).fetchall()
    return [r["call_id"] for r in rows]


def unalerted(conn: psycopg.Connection[Row]) -> list[Row]:
    """Parked calls nobody has been told about yet; marks them as told."""
    return conn.execute(
        "UPDATE webhook_events SET alerted_at = now() WHERE status = 'needs_attention'"
        " AND alerted_at IS NULL RETURNING call_id, failures, last_error"
    ).fetchall()


def event_counts(conn: psycopg.Connection[Row]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM webhook_events GROUP BY status"
    ).fetchall()
    return {r["status"]: r["n"] for r in rows}


# -- what Gong sent: the deliveries' payloads are read here only ------------------------------


def delivered_call_data(
    conn: psycopg.Connection[Row], call_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Gong's call data (`callData`: metadata and parties) from each call's delivery, where it
    has one (test deliveries and emptied ones aside); the caller validates it."""
    rows = conn.execute(
        "SELECT call_id, payload -> 'callData' AS data FROM webhook_events"
        " WHERE call_id = ANY(%s) AND NOT is_test"
        " AND jsonb_typeof(payload -> 'callData') = 'object'",
        (list(call_ids),),
    ).fetchall()
    return {r["call_id"]: r["data"] for r in rows}


def delivered_rep(conn: psycopg.Connection[Row], call_id: str) -> tuple[bool, str | None]:
    """(a delivery of the call is stored, the rep Gong named in it as the call's primary user)."""
    row = conn.execute(
        "SELECT payload -> 'callData' -> 'metaData' ->> 'primaryUserId' AS rep FROM webhook_events"
        " WHERE idempotency_key = %s",
        (call_id,),
    ).fetchone()
    return (True, row["rep"]) if row is not None else (False, None)
