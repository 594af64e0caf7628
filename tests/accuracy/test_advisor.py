"""The model advisor: candidates scored apart from production, compared on the same calls by a
paired call bootstrap, the cheapest shown good enough recommended per dimension.

The decisions are tested on simulated worlds with a planted truth: managers and two
configurations score the same calls (five pairs a call, a call-level shift shared by both
models, one of each model's own); the cheap one is truly 0.13 kappa worse, or as good, or
answers N/A when unsure. Seeded, so every rate below is a fixed number."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.advisor import (
    AdvisorReport,
    Candidate,
    advise,
    list_cost_per_call,
    review_counts,
    settings_for,
)
from common.accuracy.agreement import Pair, qwk
from common.accuracy.resampling import kappa, paired_tables
from common.config import Settings
from common.scoring.costs import price_table
from flows.analyze_call import analyze_call
from flows.scorecards import import_range
from functions.cli import main
from local.anthropic_server import StandInState

STRONG, CHEAP = "claude-sonnet-5-5", "claude-haiku-5-5x3"
D = "discovery"


def world(
    rng: np.random.Generator,
    calls: int,
    cheap_noise: float = 1.0,
    abstain_beyond: float | None = None,
    items: int = 5,
) -> list[list[Pair]]:
    """Pairs of the strong and the cheap configuration with the same manager scores. The cheap
    one answers N/A where its error would pass `abstain_beyond`, when given."""
    level = rng.normal(0, 1, (calls, 1))
    shared = rng.normal(0, 0.35, (calls, 1))  # a hard call misleads both models alike
    truth = 3 + 0.9 * level + 0.6 * rng.normal(0, 1, (calls, items))
    human = _score(truth + rng.normal(0, 0.5, truth.shape))
    out = []
    for sd, abstain in ((0.5, None), (cheap_noise, abstain_beyond)):
        error = shared + rng.normal(0, 0.3, (calls, 1)) + rng.normal(0, sd, truth.shape)
        ai = _score(truth + error)
        if abstain is not None:
            ai[np.abs(error) > abstain] = 0
        out.append(
            [
                Pair(f"c{c}", D, f"k{j}", int(ai[c, j]), int(human[c, j]))
                for c in range(calls)
                for j in range(items)
            ]
        )
    return out


def _score(x: np.ndarray) -> np.ndarray:
    scores: np.ndarray = np.clip(np.rint(x), 1, 5).astype(int)
    return scores


def advised(pairs: list[list[Pair]], seed: int) -> AdvisorReport:
    candidates = [
        Candidate(config, 1, 0, {}, {D: usd}, {})
        for config, usd in ((STRONG, 0.015), (CHEAP, 0.002))
    ]
    return advise(candidates, pairs, rounds=1000, seed=seed)


def simulate(runs: int, calls: int, seed: int, **kw: Any) -> list[AdvisorReport]:
    rng = np.random.default_rng(seed)
    return [advised(world(rng, calls, **kw), seed=i) for i in range(runs)]


def share(reports: list[AdvisorReport], config: str | None) -> float:
    return sum(r.recommended.get(D) == config for r in reports) / len(reports)


def test_the_worlds_plant_their_truth() -> None:
    for noise, gap in ((1.0, 0.13), (0.5, 0.0)):
        _, tables = paired_tables(world(np.random.default_rng(1), 10_000, noise), D)
        strong, cheap = kappa(tables.sum(axis=1))
        assert strong - cheap == pytest.approx(gap, abs=0.015)


def test_a_cheaper_model_truly_worse_is_not_recommended() -> None:
    """The old advisor (unpaired intervals over pairs, 'overlaps the best') recommended the
    cheap model in 88% of these runs at 20 calls and 60% at 50."""
    for calls in (20, 50):
        reports = simulate(100, calls, seed=calls)
        assert share(reports, CHEAP) <= 0.10
        # the comparison alone rarely clears the margin ...
        cleared = [r.candidates[1].agreement[D]["lower"] > -0.05 for r in reports]
        assert sum(cleared) / len(reports) <= 0.10
        # ... and below the calls the power calculation needs, nothing is recommended
        for r in reports:
            needed = r.calls[D]["needed"]
            assert needed is not None and needed > calls and D not in r.recommended
            assert r.calls[D]["more"] == needed - calls
            assert f"score {needed - calls} more calls" in r.why[D]
    reports = simulate(40, 400, seed=4)  # enough calls: the strong model, on its merits
    assert all((r.calls[D]["needed"] or 0) <= 400 for r in reports)
    assert share(reports, STRONG) >= 0.9 and share(reports, CHEAP) <= 0.10


def test_a_cheaper_model_as_good_is_recommended_once_there_are_enough_calls() -> None:
    reports = simulate(40, 300, seed=5, cheap_noise=0.5)
    assert sum((r.calls[D]["needed"] or 0) <= 300 for r in reports) >= 0.9 * len(reports)
    assert share(reports, CHEAP) >= 0.75
    few = simulate(20, 40, seed=6, cheap_noise=0.5)  # too few: refused, not a coin toss
    assert share(few, None) == 1.0


def test_a_judge_answering_na_when_unsure_is_not_the_best() -> None:
    rng = np.random.default_rng(7)
    trapped = 0
    for i in range(40):
        pairs = world(rng, 100, abstain_beyond=1.0)
        answered = [qwk([(p.ai, p.human) for p in side if p.ai]) or 0.0 for side in pairs]
        trapped += answered[1] > answered[0]  # leaving its N/A out, it looks the better one
        r = advised(pairs, seed=i)
        strong, cheap = (c.agreement[D] for c in r.candidates)
        assert strong["diff"] == 0 and cheap["diff"] < -0.2
        assert r.recommended.get(D) != CHEAP
    assert trapped >= 30


def test_a_configuration_is_a_cascade_or_dimension_cascades(settings: Settings) -> None:
    s = settings.model_copy(
        update={"claude_models_by_dimension": "discovery=claude-opus-5-5", "scoring_cascade": ""}
    )
    one = settings_for(s, "claude-haiku-5-5x3>claude-sonnet-5-5x1")
    for d in ("discovery", "engagement"):
        assert str(one.cascade_for(d)) == "claude-haiku-5-5x3>claude-sonnet-5-5x1"
    plain = settings_for(s, "claude-haiku-5-5")
    assert str(plain.cascade_for("discovery")) == "claude-haiku-5-5x1"
    mixed = settings_for(s, "engagement=claude-haiku-5-5x3")
    assert str(mixed.cascade_for("engagement")) == "claude-haiku-5-5x3"
    assert str(mixed.cascade_for("discovery")) == f"{s.claude_model}x1"  # opus pin cleared
    with pytest.raises(ValueError):
        settings_for(s, "claude-haiku-5-5x99")


def test_cost_is_tokens_at_list_price(settings: Settings) -> None:
    prices = price_table(settings.prices_file)
    tokens = {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 10_000,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
    }
    rows = [
        {"dimension": D, "model": "claude-haiku-5-5", **tokens},
        {"dimension": D, "model": "claude-sonnet-5-5", **tokens},
        {"dimension": D, "model": "claude-haiku-5-5", **tokens, "input_tokens": 120_000},
    ]
    cost = list_cost_per_call(rows, prices, date(2026, 12, 1), calls=2)
    haiku = Decimal("1000") * Decimal("0.10") + 200 * Decimal("0.50") + 10_000 * Decimal("0.01")
    sonnet = Decimal("1000") * 2 + 200 * 10 + 10_000 * Decimal("0.10")
    long = 120_000 * Decimal("0.50") + 200 * Decimal("2.50") + 10_000 * Decimal("0.05")
    expected = float((haiku + sonnet + long) / 1_000_000 / 2)  # no batch discount
    assert cost[D] == pytest.approx(expected, abs=1e-6)


def test_eval_models_compares_candidates_apart_from_production(
    engine_env: Settings, claude: StandInState, capsys: Any
) -> None:
    s = engine_env
    for call_id in ("7001001", "7001002"):
        analyze_call(call_id)
    import_range(s, date(2026, 11, 1), date(2026, 12, 1))
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        production = conn.execute("SELECT id, result FROM coaching_sessions ORDER BY id").fetchall()
    cascade = "claude-haiku-5-5x3>claude-sonnet-5-5x1"
    args = ["eval", "--models", "claude-sonnet-5-5", "claude-haiku-5-5", cascade]
    args += ["--poll-seconds", "0"]
    assert main([*args, "--json", "--delta", "0.1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["delta"] == 0.1
    sonnet, haiku, cascaded = report["candidates"]
    assert sonnet["cascades"]["discovery"] == "claude-sonnet-5-5x1"
    assert haiku["cascades"]["discovery"] == "claude-haiku-5-5x1"
    assert cascaded["cascades"]["engagement"] == cascade
    assert sonnet["calls"] == haiku["calls"] == cascaded["calls"] == 2
    for d in ("discovery", "engagement"):  # list price: Haiku is a twentieth of Sonnet
        assert 0 < haiku["cost_per_call"][d] < sonnet["cost_per_call"][d] / 5
        assert sonnet["agreement"][d]["calls"] == 2
        assert 0 <= haiku["review_share"][d] <= 1
        assert cascaded["cost_per_call"][d] > 2 * haiku["cost_per_call"][d]  # three samples
    # two calls are far too few: nothing recommended, and it says how many more are needed
    assert report["recommended"] == {}
    assert set(report["why"]) == {"product_knowledge", "discovery", "objections", "engagement"}
    assert report["calls"]["discovery"]["more"] >= 18
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT id, result FROM coaching_sessions ORDER BY id").fetchall() == (
            production
        )  # production untouched
        rows = conn.execute(
            "SELECT model, input_tokens, output_tokens, cache_read_tokens, usd, is_batch,"
            " cache_write_5m_tokens, cache_write_1h_tokens, dimension"
            " FROM claude_usage WHERE purpose = %s",
            (f"eval:{haiku['run_id']}",),
        ).fetchall()
        assert {r["model"] for r in rows} == {"claude-haiku-5-5"}
        listed = list_cost_per_call(rows, price_table(s.prices_file), date.today(), 2)
        assert haiku["cost_per_call"] == pytest.approx(listed)
        # a batch response paid half the list price: the cost shown is the full price
        assert any(r["is_batch"] for r in rows if r["dimension"] == "discovery")
        paid = [float(r["usd"]) * (2 if r["is_batch"] else 1) for r in rows if r["dimension"] == D]
        assert haiku["cost_per_call"][D] == pytest.approx(sum(paid) / 2, rel=0.01)
        # a result the gate held counts toward the share sent to review; one without a
        # state (scored before the gate) counts as published
        changes = {"7001001": '|| \'{"state": "needs_review"}\'', "7001002": "- 'state'"}
        for call_id, change in changes.items():
            conn.execute(
                f"UPDATE eval_results SET result = result {change} WHERE eval_run_id = %s"
                " AND dimension = 'discovery' AND call_id = %s",
                (haiku["run_id"], call_id),
            )
        assert review_counts(conn, haiku["run_id"])["discovery"] == (1, 2)
        rows = conn.execute(  # the cascade ran: its samples and escalations are its cost
            "SELECT model, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,"
            " cache_write_1h_tokens, dimension FROM claude_usage WHERE purpose LIKE %s",
            (f"eval%:{cascaded['run_id']}",),
        ).fetchall()
        assert {r["model"] for r in rows} <= {"claude-haiku-5-5", "claude-sonnet-5-5"}
        listed = list_cost_per_call(rows, price_table(s.prices_file), date.today(), 2)
        assert cascaded["cost_per_call"] == pytest.approx(listed)
    paid_requests = len(claude.responses)
    assert main([*args, "--json"]) == 0  # again: every chunk reused, nothing paid ...
    assert len(claude.responses) == paid_requests
    again = json.loads(capsys.readouterr().out)
    for before, after in zip(report["candidates"], again["candidates"], strict=True):
        assert after["run_id"] != before["run_id"]
        assert after["cost_per_call"] == pytest.approx(before["cost_per_call"])  # ... not $0
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "claude-haiku-5-5" in text and "kappa" in text and "more calls" in text
