"""The outbox's transitions, on a real Postgres and without Prefect: a run starter and the
run states are plain functions here, so every arrow of the state machine is shown directly.

    pending --dispatch--> dispatched --outcome--> completed
       ^                      |
       +------ failure -------+---- after max_attempts counted failures --> needs_attention
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.errors import ClaudeError, GongRateLimited, InvalidAnalysis
from common.intake import outbox
from common.intake.outbox import Retry, RunOutcome, RunState

RETRY = Retry(base_s=60, max_s=3600, max_attempts=3)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        yield c


def event(conn: psycopg.Connection[Any], call_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT status, failures, run_attempts, flow_run_id::text AS run, last_error,"
        " extract(epoch FROM next_attempt_at - now()) AS wait_s"
        " FROM webhook_events WHERE idempotency_key = %s",
        (call_id,),
    ).fetchone()
    assert row is not None
    return dict(row)


RUN = "00000000-0000-0000-0000-00000000000{}"


def dispatched(conn: psycopg.Connection[Any], *call_ids: str) -> list[str]:
    """Store the calls as found, then dispatch them one run each; returns the run ids."""
    for call_id in call_ids:
        assert outbox.store_found(conn, call_id, {"callData": {"metaData": {"id": call_id}}})
    runs: list[str] = []

    def start(ids: list[str], key: str) -> str:
        runs.append(RUN.format(len(runs)))
        return runs[-1]

    with conn.transaction():
        result = outbox.dispatch_pending(conn, start, limit=10)
    assert sorted(result.started) == sorted(call_ids)
    return runs


def test_dispatch_then_a_complete_outcome_completes(conn: psycopg.Connection[Any]) -> None:
    [run] = dispatched(conn, "c1")
    assert event(conn, "c1")["status"] == "dispatched" and event(conn, "c1")["run"] == run
    assert outbox.record_outcome(conn, RunOutcome("c1", run, complete=True), RETRY) == "completed"
    assert event(conn, "c1")["status"] == "completed"


def test_a_run_for_some_dimensions_leaves_the_event_alone(conn: psycopg.Connection[Any]) -> None:
    [run] = dispatched(conn, "c1")
    assert outbox.record_outcome(conn, RunOutcome("c1", run, complete=False), RETRY) is None
    assert event(conn, "c1")["status"] == "dispatched"


def test_counted_failures_back_off_then_park(conn: psycopg.Connection[Any]) -> None:
    bad = InvalidAnalysis("no JSON")
    statuses, waits = [], []
    for _ in range(RETRY.max_attempts):
        [run] = dispatched(conn, "c1") if not statuses else _redispatch(conn)
        statuses.append(outbox.record_outcome(conn, RunOutcome("c1", run, True, bad), RETRY))
        waits.append(event(conn, "c1")["wait_s"])
    assert statuses == ["pending", "pending", "needs_attention"]
    assert 50 < waits[0] <= 60 and 110 < waits[1] <= 120  # 60 s, doubling
    parked = event(conn, "c1")
    assert parked["failures"] == 3 and "no JSON" in parked["last_error"]


def _redispatch(conn: psycopg.Connection[Any]) -> list[str]:
    conn.execute("UPDATE webhook_events SET next_attempt_at = now()")
    runs: list[str] = []

    def start(ids: list[str], key: str) -> str:
        runs.append(RUN.format(9))
        return runs[-1]

    with conn.transaction():
        outbox.dispatch_pending(conn, start, limit=10)
    return runs


def test_outages_never_count_and_gong_says_when(conn: psycopg.Connection[Any]) -> None:
    [run] = dispatched(conn, "c1")
    outage = RunOutcome("c1", run, True, ClaudeError("529 overloaded"))
    for _ in range(RETRY.max_attempts + 2):
        assert outbox.record_outcome(conn, outage, RETRY) == "pending"
        [run] = _redispatch(conn)
        outage = RunOutcome("c1", run, True, ClaudeError("529 overloaded"))
    assert event(conn, "c1")["failures"] == 0
    limited = RunOutcome("c1", run, True, GongRateLimited("429", retry_after_s=5000))
    assert outbox.record_outcome(conn, limited, RETRY) == "pending"
    assert 4900 < event(conn, "c1")["wait_s"] <= 5000


def test_failed_dimensions_count_only_when_a_cause_is_not_an_outage(
    conn: psycopg.Connection[Any],
) -> None:
    [run] = dispatched(conn, "c1")
    mixed = RunOutcome(
        "c1",
        run,
        True,
        failed={"discovery": "529", "objections": "invalid"},
        causes=(ClaudeError("529"), InvalidAnalysis("invalid")),
    )
    assert outbox.record_outcome(conn, mixed, RETRY) == "pending"
    assert event(conn, "c1")["failures"] == 1


def test_an_outcome_from_another_run_does_not_touch_the_event(
    conn: psycopg.Connection[Any],
) -> None:
    dispatched(conn, "c1")
    other = RunOutcome("c1", RUN.format(7), True, InvalidAnalysis("x"))
    assert outbox.record_outcome(conn, other, RETRY) is None
    assert event(conn, "c1")["status"] == "dispatched"


def test_reconcile_requeues_lost_runs_and_settles_finished_ones(
    conn: psycopg.Connection[Any],
) -> None:
    runs = dispatched(conn, "crashed", "hung", "finished", "running")
    states = {
        runs[0]: RunState("CRASHED", "worker killed"),
        runs[1]: RunState("RUNNING"),
        runs[2]: RunState("COMPLETED"),
        runs[3]: RunState("RUNNING"),
    }
    conn.execute(
        "UPDATE webhook_events SET dispatched_at = now() - interval '2 hours'"
        " WHERE call_id = 'hung'"
    )
    cancelled: list[str] = []
    with conn.transaction():
        out = outbox.reconcile(
            conn,
            read_states=lambda ids: {i: states[i] for i in ids},
            cancel_run=cancelled.append,
            retry=RETRY,
            deadline_s=3600,
            analysed=lambda c, call_id: call_id == "finished",
        )
    assert sorted(out.requeued) == ["crashed", "hung"] and out.completed == ["finished"]
    assert cancelled == [runs[1]]
    assert (
        event(conn, "crashed")["failures"] == 1
        and "worker killed" in event(conn, "crashed")["last_error"]
    )
    assert event(conn, "running")["status"] == "dispatched"


def test_a_users_request_wakes_a_call_but_only_an_admin_unparks_it(
    conn: psycopg.Connection[Any],
) -> None:
    assert outbox.request(conn, "c1", {"source": "mcp"}, admin=False) == "pending"
    conn.execute("UPDATE webhook_events SET status = 'needs_attention', failures = 5")
    assert outbox.request(conn, "c1", {"source": "mcp"}, admin=False) == "needs_attention"
    assert event(conn, "c1")["failures"] == 5
    assert outbox.request(conn, "c1", {"source": "mcp"}, admin=True) == "pending"
    assert event(conn, "c1")["failures"] == 0


def test_an_erased_call_stays_out(conn: psycopg.Connection[Any]) -> None:
    dispatched(conn, "c1")
    outbox.erase(conn, ["c1", "gong-only"])
    assert event(conn, "c1")["status"] == "erased"
    assert event(conn, "gong-only")["status"] == "erased"
    assert not outbox.store_found(conn, "gong-only", {"callData": {}})  # a duplicate now
    payloads = conn.execute("SELECT payload FROM webhook_events").fetchall()
    assert all(p["payload"] == {} for p in payloads)


def test_what_gong_sent_is_read_through_the_outbox(conn: psycopg.Connection[Any]) -> None:
    """The deliveries' payloads are read here only (calls' webhook data, an unstored call's
    rep): test deliveries, erased ones and payloads without call data give nothing."""
    data = {"metaData": {"id": "p1", "primaryUserId": "rep-9"}, "parties": []}
    assert outbox.store_found(conn, "p1", {"callData": data})
    assert outbox.store_found(conn, "p2", {"callData": {"metaData": {"id": "p2"}}})
    assert outbox.store_found(conn, "p3", {"unexpected": True})
    conn.execute(
        "INSERT INTO webhook_events (idempotency_key, call_id, is_test, payload, status)"
        " VALUES ('test:p4', 'p4', true, '{\"callData\": {}}', 'test')"
    )
    outbox.erase(conn, ["p2"])
    assert outbox.delivered_call_data(conn, ["p1", "p2", "p3", "p4", "p5"]) == {"p1": data}
    assert outbox.delivered_rep(conn, "p1") == (True, "rep-9")
    assert outbox.delivered_rep(conn, "p3") == (True, None)
    assert outbox.delivered_rep(conn, "p5") == (False, None)
