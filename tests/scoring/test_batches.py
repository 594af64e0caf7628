"""The Message Batches path against the stand-in's batch endpoints: same sessions, half the cost."""

from __future__ import annotations

import logging
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import DIMENSIONS, Settings, load_settings
from common.scoring import batches
from common.scoring.service import ScoringService
from local.anthropic_server import StandInState
from local.gong_server import GongState
from local.samples import distinct_calls


def add_calls(gong: GongState, n: int) -> list[str]:
    """n distinct calls (different transcripts) cloned from the four short samples."""
    calls = distinct_calls(n)
    for sample in calls:
        gong.add(sample["call"], sample["transcript"])
    return [c["call"]["metaData"]["id"] for c in calls]


def ledger(db_url: str) -> list[dict]:  # type: ignore[type-arg]
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM claude_usage ORDER BY id").fetchall()


def sessions(db_url: str, current: bool) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT call_id, dimension, result FROM coaching_sessions WHERE status = 'completed'"
            f" AND superseded_at IS {'NULL' if current else 'NOT NULL'}"
        ).fetchall()
    return {(r["call_id"], r["dimension"]): r["result"] for r in rows}


def test_batch_of_50_costs_half_with_the_same_sessions(
    engine_env: Settings,
    claude: StandInState,
    gong: tuple[GongState, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("CLAUDE_BATCH_CACHE_TTL", "5m")  # like for like with the on-demand path
    s = load_settings()
    ids = add_calls(gong[0], 50)
    service = ScoringService.from_settings(s)
    request.addfinalizer(service.close)
    calls, failed = service.prepare(ids)
    assert not failed and len(calls) == 50
    for call in calls.values():  # the on-demand path, in the flow's order
        for dimension in DIMENSIONS:
            service.scorer.score(call, dimension, owner="on-demand")
    on_demand = ledger(s.database_url)
    assert len(on_demand) == 200 and not any(r["is_batch"] for r in on_demand)

    claude.reset()  # an empty prompt cache, as for the first run
    report = service.score_batch(list(calls.values()), force=True, poll_s=0)
    assert report.requests == 200 and report.fallbacks == 0 and len(report.outcomes) == 200
    batch = ledger(s.database_url)[200:]
    assert len(batch) == 200 and all(r["is_batch"] for r in batch)
    assert all(r["model"] == "claude-sonnet-5-5" for r in batch)
    tokens = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens")
    assert [[r[k] for k in tokens] for r in batch] == [[r[k] for k in tokens] for r in on_demand]
    usd_on_demand = sum(r["usd"] for r in on_demand)
    usd_batch = sum(r["usd"] for r in batch)
    assert abs(usd_batch * 2 - usd_on_demand) <= Decimal("0.0002"), (usd_batch, usd_on_demand)
    assert sessions(s.database_url, current=True) == sessions(s.database_url, current=False)
    assert len(sessions(s.database_url, current=True)) == 200


def test_batch_skips_cached_dimensions_and_falls_back_on_errors(
    engine_env: Settings,
    claude: StandInState,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("CLAUDE_MAX_OUTPUT_TOKENS", "1500")
    s = load_settings()
    service = ScoringService.from_settings(s)
    request.addfinalizer(service.close)
    call = service.prepare_one("7001001")
    service.scorer.score(call, "discovery", owner="on-demand")
    report = service.score_batch([call], poll_s=0)
    assert report.requests == 3 and sum(o.cached for o in report.outcomes) == 1
    usage = ledger(s.database_url)
    assert [r["is_batch"] for r in usage] == [False, True, True, True]
    assert usage[1]["cache_write_1h_tokens"] + usage[1]["cache_read_tokens"] > 0

    claude.fail_rate = 0.5  # errored batch results are scored on demand
    other = service.prepare_one("7001002")
    report = service.score_batch([other], poll_s=0)
    assert report.fallbacks > 0 and len(report.outcomes) == 4
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        errors = conn.execute("SELECT message FROM claude_errors").fetchall()
        done = conn.execute(
            "SELECT count(*) AS n FROM coaching_sessions WHERE call_id = '7001002'"
            " AND status = 'completed'"
        ).fetchone()
    assert len(errors) == report.fallbacks and errors[0]["message"].startswith("batch: Overloaded")
    assert done == {"n": 4}


def test_analyze_batch_flow(engine_env: Settings, claude: StandInState) -> None:
    from flows.batch_analysis import analyze_batch

    result = analyze_batch(["7001001", "7001004"], poll_seconds=0)
    # a sales call's four dimensions and a renewal's three (no discovery: its call type)
    assert result["requests"] == 7 and result["sessions"] == 7 and result["cached"] == 0
    again = analyze_batch(["7001001", "7001004"], poll_seconds=0)
    assert again == {
        "batch_id": None,
        "requests": 0,
        "fallbacks": 0,
        "sessions": 7,
        "cached": 7,
        "held": result["held"],
    }
    usage = ledger(engine_env.database_url)
    assert len(usage) == 7 and all(r["is_batch"] for r in usage)


def test_a_rerun_after_a_restart_resumes_the_submitted_batch(
    engine_env: Settings, claude: StandInState, request: pytest.FixtureRequest
) -> None:
    s = load_settings()
    service = ScoringService.from_settings(s)
    request.addfinalizer(service.close)
    call, scorer = service.prepare_one("7001004"), service.scorer
    work = [(call, list(DIMENSIONS))]

    class Restart(Exception):
        pass

    def crash(_: float) -> None:
        raise Restart

    with pytest.raises(Restart):  # the worker dies while the batch is in progress
        batches.analyze(scorer, work, [], poll_s=0, sleep=crash)
    submitted = len(claude.batches)
    report = batches.analyze(scorer, work, [], poll_s=0, sleep=lambda _: None)
    assert len(claude.batches) == submitted == 1  # no second batch: nothing paid twice
    assert len(report.outcomes) == 4 and len(ledger(s.database_url)) == 4
    with psycopg.connect(s.database_url) as conn:
        assert conn.execute("SELECT status FROM claude_batches").fetchall() == [("processed",)]


def test_a_batch_draws_the_first_stage_and_escalates_on_demand(
    engine_env: Settings,
    claude: StandInState,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows.batch_analysis import analyze_batch

    monkeypatch.setenv("SCORING_CASCADE", "claude-haiku-5-5x3>claude-sonnet-5-5x1")
    with caplog.at_level(logging.INFO, logger="sales_coach"):
        result = analyze_batch(["7001001", "7001002"], poll_seconds=0)
    # three first-stage samples of each of eight dimensions in the batch, each once
    assert result["requests"] == 24 and result["sessions"] == 8
    usage = ledger(engine_env.database_url)
    first = [r for r in usage if r["is_batch"]]
    assert len(first) == 24 and {r["model"] for r in first} == {"claude-haiku-5-5"}
    assert len({(r["call_id"], r["dimension"], r["purpose"]) for r in first}) == 24
    later = [r for r in usage if not r["is_batch"]]  # escalations and re-asks: on demand
    assert len(usage) == len(claude.responses) and all(r["purpose"] != "score" for r in later)
    assert result["held"] >= 4  # the demo call is flagged: its four dimensions wait for a person
    assert "held-for-review notice for call 7001002" in caplog.text
