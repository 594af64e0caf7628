"""Scoring edge paths: refused requests are recorded and not retried; calibration; alerts."""

from __future__ import annotations

import logging

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings, load_settings
from common.scoring.costs import alert_on_low_hit_rate
from common.scoring.service import ScoringService
from flows.analyze_call import analyze_call
from local.anthropic_server import StandInState


def test_a_400_is_recorded_with_the_apis_message_and_not_retried(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_MAX_OUTPUT_TOKENS", "200000")  # over the model's 128K output limit
    with pytest.raises(Exception, match="dimensions failed"):
        analyze_call("7001001", dimensions=["objections"])
    assert claude.requests == 1 and claude.errors == {400: 1}
    with psycopg.connect(engine_env.database_url, row_factory=dict_row) as conn:
        errors = conn.execute(
            "SELECT status_code, message, dimension FROM claude_errors"
        ).fetchall()
        usage = conn.execute("SELECT count(*) AS n FROM claude_usage").fetchone()
    assert errors == [
        {
            "status_code": 400,
            "dimension": "objections",
            "message": "max_tokens: must be an integer from 0 to 128000",
        }
    ]
    assert usage == {"n": 0}


def test_count_tokens_calibrates_chunking(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_COUNT_TOKENS", "true")
    monkeypatch.setenv("TOKEN_SCALE", "0.5")  # a badly wrong local scale
    service = ScoringService.from_settings(load_settings())
    call = service.prepare_one("7001005")
    service.close()
    # the stand-in counts ~1.3 tokens per cl100k token: calibrated, the workshop needs 2 chunks
    assert len(call.chunks) == 2
    assert claude.requests == 0  # count_tokens is not a Messages request


def test_low_prompt_cache_hit_rate_is_logged(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        for _ in range(8):
            conn.execute(
                "INSERT INTO claude_usage (model, input_tokens, output_tokens, cache_read_tokens, usd)"
                " VALUES ('m', 1000, 10, 100, 0.01)"
            )
        with caplog.at_level(logging.WARNING, logger="sales_coach.costs"):
            rate = alert_on_low_hit_rate(conn)
    assert rate == pytest.approx(100 / 1100, abs=1e-4)
    assert "prompt-cache hit rate today is 9%" in caplog.text


CASCADE = "claude-haiku-5-5x3>claude-sonnet-5-5x1"


def _sessions(url: str, call_id: str) -> list[dict[str, object]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT dimension, state, samples, escalated, result FROM current_sessions"
            " WHERE call_id = %s ORDER BY dimension",
            (call_id,),
        ).fetchall()


def _paid(url: str) -> int:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT count(*) AS n FROM claude_usage").fetchone()
    assert row is not None
    return int(row["n"])


def test_a_cascade_draws_marked_samples_each_paid_once_and_escalates_what_does_not_hold(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORING_CASCADE", CASCADE)
    claude.record_prompts = True
    claude.fail_rate = 0.2  # retried by the SDK: a retry is the same sample, never a new one
    summary = analyze_call("7001001")
    sessions = _sessions(engine_env.database_url, "7001001")
    assert sessions and len(sessions) == len(summary["dimensions"])
    for s in sessions:
        result = s["result"]
        assert isinstance(result, dict)
        first = [x for x in result["samples"] if x["stage"] == 0]
        later = [x for x in result["samples"] if x["stage"] == 1]
        assert [x["index"] for x in first] == [0, 1, 2]
        assert {x["model"] for x in first} == {"claude-haiku-5-5"}
        assert s["escalated"] is bool(later) and len(later) in (0, 1)
        assert later == [] or later[0]["model"] == "claude-sonnet-5-5"
        assert (s["state"] == "published") is (result["review_reasons"] == [])
        assert s["samples"] == len(result["samples"])
    for k in (1, 2, 3):
        marker = f"Independent assessment {k} of 3 (stage 1 of 2)"
        assert sum(marker in p for p in claude.prompts) == len(sessions)
    # each sample its own paid job: as many ledger rows as answers the server gave, none twice
    assert _paid(engine_env.database_url) == len(claude.responses)
    with psycopg.connect(engine_env.database_url, row_factory=dict_row) as conn:
        twice = conn.execute(
            "SELECT call_id, dimension, chunk_index, purpose FROM claude_usage"
            " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"
        ).fetchall()
        purposes = {r["purpose"] for r in conn.execute("SELECT purpose FROM claude_usage")}
    assert twice == [] and {"score", "score-s0.1", "score-s0.2"} <= purposes
    escalated = sum(bool(s["escalated"]) for s in sessions)
    assert sum(r["model"] == "claude-sonnet-5-5" for r in claude.responses) == escalated
    # the same configuration again: the tier-1 cache, nothing paid
    before = len(claude.responses)
    again = analyze_call("7001001")
    assert len(claude.responses) == before
    assert {d["state"] for d in again["dimensions"].values()} == {s["state"] for s in sessions}


def test_a_flagged_call_is_held_for_review_without_escalating(
    engine_env: Settings,
    claude: StandInState,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SCORING_CASCADE", CASCADE)
    with caplog.at_level(logging.INFO, logger="sales_coach"):
        summary = analyze_call("7001002")  # its rep asks the AI reviewer for a 5
    assert "held-for-review notice for call 7001002" in caplog.text  # the manager is told
    assert {d["state"] for d in summary["dimensions"].values()} == {"needs_review"}
    assert not any(d["escalated"] for d in summary["dimensions"].values())
    assert {r["model"] for r in claude.responses} == {"claude-haiku-5-5"}
    for s in _sessions(engine_env.database_url, "7001002"):
        result = s["result"]
        assert isinstance(result, dict)
        assert any(r.startswith("the call is flagged") for r in result["review_reasons"])
        assert result["overall_score"] is not None  # the AI's suggestion, kept for the person
