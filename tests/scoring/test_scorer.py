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
