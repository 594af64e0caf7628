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
