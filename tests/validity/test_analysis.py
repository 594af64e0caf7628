"""The analysis finds what a synthetic world plants, and nothing a naive comparison would be
fooled by: rep skill and stage confounding, null criteria, too few deals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.validity import Report, ScoreRow, analyse, deals, fit_logistic
from tests.validity.worlds import score_rows, world

CONFOUNDED = ("rep_skill", "stage")


def by_criterion(report: Report) -> dict[str, dict[str, float | int | None]]:
    return {c.criterion: c.model_dump() for c in report.criteria}


def naive_odds_ratio_interval(rows: list[ScoreRow], criterion: str) -> tuple[float, float]:
    """Won against lost on the deal's raw mean score, nothing held apart: what a naive
    dashboard does."""
    ds = [d for d in deals(rows) if ("discovery", criterion) in d.scores]
    x = np.array([d.scores[("discovery", criterion)] for d in ds])
    y = np.array([1.0 if d.won else 0.0 for d in ds])
    fit = fit_logistic(np.column_stack([np.ones_like(x), x]), y)
    assert fit is not None
    beta, se = fit.coef[1], math.sqrt(fit.cov[1, 1])
    return math.exp(beta - 1.96 * se), math.exp(beta + 1.96 * se)


def test_a_planted_criterion_is_found_with_an_interval_above_one() -> None:
    report = analyse(score_rows(world(seed=1)), min_deals=100)
    assert report.enough_deals and report.deals == 400
    planted = by_criterion(report)["planted"]
    assert planted["ci_low"] is not None and planted["ci_low"] > 1  # type: ignore[operator]
    assert planted["q_value"] is not None and planted["q_value"] < 0.05  # type: ignore[operator]
    assert planted["deals"] == 400


def test_confounded_criteria_are_not_called_though_a_naive_comparison_calls_them() -> None:
    rows = score_rows(world(seed=2))
    results = by_criterion(analyse(rows, min_deals=100))
    for criterion in CONFOUNDED:
        low, _ = naive_odds_ratio_interval(rows, criterion)
        assert low > 1, f"the naive comparison should call {criterion} (low {low:.2f})"
        found = results[criterion]
        assert found["q_value"] is not None and found["q_value"] >= 0.05, (criterion, found)
        assert found["ci_low"] <= 1 <= found["ci_high"], (criterion, found)  # type: ignore[operator]


def binomial_upper(n: int, p: float, tail: float = 0.001) -> int:
    """The smallest k with P(X > k) < tail for X ~ Binomial(n, p)."""
    cumulative = 0.0
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if 1 - cumulative < tail:
            return k
    return n


def test_null_worlds_call_no_more_than_the_false_discovery_rate_allows() -> None:
    """No criterion changes the odds within rep and stage (the confounded ones included): under
    this complete null, BH at q < 0.05 makes any call in at most 5% of worlds."""
    seeds = 50
    worlds_with_a_call = 0
    for seed in range(100, 100 + seeds):
        report = analyse(score_rows(world(seed, reps=10, planted=0.0)), min_deals=100)
        assert report.enough_deals and len(report.criteria) == 8
        called = [c for c in report.criteria if c.q_value is not None and c.q_value < 0.05]
        worlds_with_a_call += bool(called)
    assert worlds_with_a_call <= binomial_upper(seeds, 0.05), worlds_with_a_call


@pytest.mark.parametrize("reps", [2, 4, 8])
def test_a_few_reps_with_many_deals_each_call_no_more_than_null_worlds_allow(reps: int) -> None:
    """Few reps: the rep-clustered error is too small and a normal quantile too narrow (with
    two reps, 5 of 8 null criteria had been called in one world). The larger error on t with
    reps less one degrees of freedom keeps null worlds within the rate."""
    seeds = 40
    worlds_with_a_call = 0
    for seed in range(300, 300 + seeds):
        report = analyse(
            score_rows(world(seed, reps=reps, deals_per_rep=240 // reps, planted=0.0)),
            min_deals=100,
        )
        called = [c for c in report.criteria if c.q_value is not None and c.q_value < 0.05]
        worlds_with_a_call += bool(called)
    assert worlds_with_a_call <= binomial_upper(seeds, 0.05), (reps, worlds_with_a_call)


def test_sixty_deals_are_too_few_and_say_how_many_more() -> None:
    report = analyse(score_rows(world(seed=3, reps=6, deals_per_rep=10)), min_deals=100)
    assert not report.enough_deals
    assert report.deals == 60 and report.more_needed == 40
    assert report.criteria == []
    settable = analyse(score_rows(world(seed=3, reps=6, deals_per_rep=10)), min_deals=50)
    assert settable.enough_deals and settable.more_needed == 0 and settable.criteria


def test_a_criterion_scored_on_too_few_deals_has_no_numbers() -> None:
    rows = score_rows(world(seed=4, reps=10, deals_per_rep=12))
    few = {r.deal_id for r in rows if r.criterion == "null_1"}
    keep = set(sorted(few)[:50])
    rows = [r for r in rows if r.criterion != "null_1" or r.deal_id in keep]
    result = by_criterion(analyse(rows, min_deals=100))
    assert result["null_1"] == {
        "dimension": "discovery",
        "criterion": "null_1",
        "odds_ratio": None,
        "ci_low": None,
        "ci_high": None,
        "q_value": None,
        "deals": 50,
    }
    assert result["planted"]["odds_ratio"] is not None


def test_a_stage_named_on_a_few_deals_does_not_take_every_criterion_s_numbers() -> None:
    """Four deals at a stage no other deal reached, all won: its own column would predict them
    perfectly and the fit would never settle, leaving every criterion without numbers."""
    rows = score_rows(world(seed=21, reps=10, deals_per_rep=15))
    extra = []
    for k in range(4):
        for criterion in {r.criterion for r in rows}:
            extra.append(
                rows[0].model_copy(
                    update={
                        "call_id": f"odd-{k}",
                        "deal_id": f"odd-{k}",
                        "rep_id": f"rep{k}",
                        "stage": "Prospecting (legacy)",
                        "outcome": "won",
                        "criterion": criterion,
                        "score": 3.0,
                    }
                )
            )
    report = analyse(rows + extra, min_deals=100)
    assert report.deals == 154
    assert all(c.odds_ratio is not None for c in report.criteria)
    assert by_criterion(report)["planted"]["odds_ratio"] > 1
