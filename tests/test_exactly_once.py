"""Exactly-once analysis and at-most-once billing under faults, against the real components:
embedded Postgres stopped and restarted, the Claude stand-in injecting outages, concurrent runs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import psycopg
from psycopg.rows import dict_row

from common.config import Settings
from flows.analyze_call import analyze_call
from local.anthropic_server import StandInState
from local.stack import PostgresControl

NEGOTIATION, WORKSHOP = "7001003", "7001005"


def rows(db_url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def paid_twice(db_url: str) -> list[tuple[Any, ...]]:
    """(call, dimension, chunk, purpose) paid for more than once."""
    usage = rows(db_url, "SELECT call_id, dimension, chunk_index, purpose FROM claude_usage")
    counts = Counter(tuple(u.values()) for u in usage)
    return [key for key, n in counts.items() if n > 1]


def _wait_until(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_postgres_down_during_scoring_pays_once_and_records_every_response(
    engine_env: Settings, claude: StandInState, pg_control: PostgresControl
) -> None:
    claude.generation_s = 2.0  # responses are being generated while Postgres goes away
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = analyze_call(NEGOTIATION)
        except Exception as exc:  # the assertion below shows it
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    _wait_until(lambda: len(claude.responses) >= 1, 60)
    pg_control.stop()
    time.sleep(6)
    pg_control.start()
    worker.join(timeout=240)
    assert not worker.is_alive()
    if "error" in outcome:  # the run may fail; the next one must not pay again
        analyze_call(NEGOTIATION)
    usage = rows(engine_env.database_url, "SELECT count(*) AS n FROM claude_usage")[0]["n"]
    assert usage == len(claude.responses), "every paid response is in the ledger"
    assert paid_twice(engine_env.database_url) == []
    assert len(claude.responses) == 4
    done = rows(
        engine_env.database_url,
        "SELECT count(*) AS n FROM coaching_sessions WHERE status = 'completed'"
        " AND superseded_at IS NULL",
    )[0]["n"]
    assert done == 4


def test_two_concurrent_analyses_of_one_call_pay_once_per_dimension(
    engine_env: Settings, claude: StandInState
) -> None:
    claude.latency_s = 1.5  # both runs are waiting for Claude at the same time
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(analyze_call(NEGOTIATION))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2 and not any(r["failed"] for r in results)
    assert len(claude.responses) == 4
    assert paid_twice(engine_env.database_url) == []
    current = rows(
        engine_env.database_url,
        "SELECT dimension, count(*) AS n FROM coaching_sessions WHERE status = 'completed'"
        " AND superseded_at IS NULL GROUP BY dimension",
    )
    assert sorted((r["dimension"], r["n"]) for r in current) == sorted(
        (d, 1) for d in ("product_knowledge", "discovery", "objections", "engagement")
    )


def _store_pending(db_url: str, call_id: str) -> None:
    from local.samples import sample_calls, webhook_payload

    sample = next(c for c in sample_calls() if c["call"]["metaData"]["id"] == call_id)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload) VALUES (%s, %s, %s)",
            (call_id, call_id, psycopg.types.json.Jsonb(webhook_payload(sample["call"]))),
        )


def _event(db_url: str, call_id: str) -> dict[str, Any]:
    return rows(db_url, "SELECT * FROM webhook_events WHERE call_id = %s", call_id)[0]


def test_claude_outage_is_retried_later_then_the_call_completes(
    engine_env: Settings, claude: StandInState, monkeypatch: Any
) -> None:
    from common.config import load_settings
    from flows.dispatcher import dispatch_once
    from local.inprocess import InProcessRuns

    monkeypatch.setenv("CLAUDE_MAX_RETRIES", "1")
    monkeypatch.setenv("ANALYSIS_TASK_RETRIES", "0")
    monkeypatch.setenv("ANALYSIS_MAX_ATTEMPTS", "2")
    s = load_settings()
    _store_pending(s.database_url, "7001001")
    claude.outage_after = 0  # every request fails: an outage
    for _ in range(3):  # more outages than ANALYSIS_MAX_ATTEMPTS: never parked
        runs = InProcessRuns()
        dispatch_once(s, start_run=runs)
        runs.run_all()
        event = _event(s.database_url, "7001001")
        assert event["status"] == "pending" and event["failures"] == 0
        assert "529" in event["last_error"] or "Overloaded" in event["last_error"]
        assert event["next_attempt_at"] > event["dispatched_at"]
        with psycopg.connect(s.database_url) as conn:
            conn.execute("UPDATE webhook_events SET next_attempt_at = now()")
    assert claude.responses == [] and claude.errors[529] > 0

    claude.outage_after = -1  # Claude is back
    runs = InProcessRuns()
    dispatch_once(s, start_run=runs)
    runs.run_all()
    assert _event(s.database_url, "7001001")["status"] == "completed"
    assert len(claude.responses) == 4
    assert rows(s.database_url, "SELECT count(*) AS n FROM claude_usage")[0]["n"] == 4


def test_a_chunked_call_resumed_after_a_failed_run_pays_only_for_missing_chunks(
    engine_env: Settings, claude: StandInState, monkeypatch: Any
) -> None:

    monkeypatch.setenv("CLAUDE_MAX_RETRIES", "0")
    monkeypatch.setenv("ANALYSIS_TASK_RETRIES", "0")
    claude.outage_after = 3  # the run fails half-way: 3 of 6 chunk responses paid
    outcome: dict[str, Any] = {}
    try:
        analyze_call(WORKSHOP)
    except Exception as exc:
        outcome["error"] = exc
    assert "error" in outcome and len(claude.responses) == 3
    kept = rows(
        engine_env.database_url,
        "SELECT count(*) AS n FROM scoring_work WHERE assessment IS NOT NULL",
    )[0]["n"]
    assert kept == 3  # every paid chunk kept as it arrived

    claude.outage_after = -1
    result = analyze_call(WORKSHOP)
    assert not result["failed"]
    # 3 dimensions (a workshop's call type has no objections) x 2 chunks, each paid once
    assert len(claude.responses) == 6
    assert paid_twice(engine_env.database_url) == []
    sessions = rows(
        engine_env.database_url,
        "SELECT chunk_count FROM coaching_sessions WHERE status = 'completed'",
    )
    assert [s["chunk_count"] for s in sessions] == [2, 2, 2]


def test_prepare_batches_gong_and_uses_the_webhook_call_data(
    engine_env: Settings, gong: Any
) -> None:
    from common.scoring.service import ScoringService

    state, _ = gong
    ids = ["7001001", "7001002", "7001004"]
    for call_id in ids:
        _store_pending(engine_env.database_url, call_id)
    service = ScoringService.from_settings(engine_env)
    try:
        before = len(state.requests)
        ready, failed = service.prepare([*ids, "7009998"])
    finally:
        service.close()
    assert sorted(ready) == ids and list(failed) == ["7009998"]
    # one transcript request for every id; metadata came with the webhooks, not fetched again
    assert state.requests[before:] == ["/v2/calls/transcript"]
    assert ready["7001001"].title == "Acme Logistics - Discovery"


def test_a_long_gong_retry_after_requeues_the_call_for_later(
    engine_env: Settings, gong: Any, claude: StandInState
) -> None:
    from flows.dispatcher import dispatch_once
    from local.inprocess import InProcessRuns

    state, _ = gong
    _store_pending(engine_env.database_url, "7001002")
    state.force_429, state.retry_after_s = 1, 50000
    runs = InProcessRuns()
    dispatch_once(engine_env, start_run=runs)
    started = time.monotonic()
    runs.run_all()
    assert time.monotonic() - started < 30  # no worker held for 14 hours
    event = _event(engine_env.database_url, "7001002")
    assert event["status"] == "pending" and event["failures"] == 0
    wait_s = (event["next_attempt_at"] - event["dispatched_at"]).total_seconds()
    assert 49000 < wait_s < 51000
    assert claude.requests == 0
