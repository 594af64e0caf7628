"""The model advisor: candidates scored apart from production, compared, the cheapest good
enough recommended per dimension."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from common.accuracy.advisor import Candidate, recommend, settings_for
from common.config import Settings
from flows.analyze_call import analyze_call
from flows.scorecards import import_range
from functions.cli import main
from local.anthropic_server import StandInState


def candidate(config: str, qwk: float, ci: tuple[float, float], usd: float) -> Candidate:
    agreement = {"n": 40, "qwk": qwk, "exact": 0.5, "ci": {"qwk": list(ci)}}
    return Candidate(config, 1, 10, {"discovery": usd}, {"discovery": agreement})


def test_the_cheapest_whose_interval_overlaps_the_best_is_recommended() -> None:
    sonnet = candidate("sonnet", 0.62, (0.50, 0.72), 0.015)
    haiku = candidate("haiku", 0.55, (0.41, 0.66), 0.001)  # overlaps: cheaper, good enough
    tiny = candidate("tiny", 0.20, (0.05, 0.35), 0.0001)  # cheapest, clearly worse
    chosen, why = recommend([sonnet, haiku, tiny])
    assert chosen["discovery"] == "haiku" and "best 0.62" in why["discovery"]
    chosen, _ = recommend([sonnet, candidate("haiku", 0.30, (0.20, 0.45), 0.001)])
    assert chosen["discovery"] == "sonnet"  # the cheap one is distinguishably worse
    assert "engagement" not in chosen  # nothing measured there: no recommendation


def test_a_configuration_is_a_model_or_dimension_pairs(settings: Settings) -> None:
    one = settings_for(settings, "claude-haiku-5-5")
    assert {one.model_for(d) for d in ("discovery", "engagement")} == {"claude-haiku-5-5"}
    mixed = settings_for(settings, "engagement=claude-haiku-5-5")
    assert mixed.model_for("engagement") == "claude-haiku-5-5"
    assert mixed.model_for("discovery") == settings.claude_model


def test_eval_models_compares_candidates_apart_from_production(
    engine_env: Settings, claude: StandInState, capsys: Any
) -> None:
    s = engine_env
    for call_id in ("7001001", "7001002"):
        analyze_call(call_id)
    import_range(s, date(2026, 11, 1), date(2026, 12, 1))
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        production = conn.execute("SELECT id, result FROM coaching_sessions ORDER BY id").fetchall()
    args = ["eval", "--models", "claude-sonnet-5-5", "claude-haiku-5-5", "--poll-seconds", "0"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sonnet, haiku = report["candidates"]
    assert sonnet["models"]["discovery"] == "claude-sonnet-5-5"
    assert haiku["models"]["discovery"] == "claude-haiku-5-5"
    assert sonnet["calls"] == haiku["calls"] == 2
    for d in ("discovery", "engagement"):  # list price: Haiku is a twentieth of Sonnet
        assert 0 < haiku["cost_per_call"][d] < sonnet["cost_per_call"][d] / 5
        assert sonnet["agreement"][d]["n"] > 0
    assert set(report["recommended"].values()) <= {c["config"] for c in report["candidates"]}
    assert set(report["why"]) == {"product_knowledge", "discovery", "objections", "engagement"}
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT id, result FROM coaching_sessions ORDER BY id").fetchall() == (
            production
        )  # production untouched
        models = conn.execute(
            "SELECT DISTINCT u.model FROM claude_usage u WHERE u.purpose = %s",
            (f"eval:{haiku['run_id']}",),
        ).fetchall()
        assert [m["model"] for m in models] == ["claude-haiku-5-5"]
    paid = len(claude.responses)
    assert main(args) == 0  # again: every chunk reused per configuration, nothing paid
    assert len(claude.responses) == paid
    text = capsys.readouterr().out
    assert "claude-haiku-5-5" in text and "QWK" in text
