"""The statistics of the advisor: N/A-aware kappa, the paired call bootstrap, power."""

from __future__ import annotations

import numpy as np
import pytest

from common.accuracy.agreement import Pair, qwk
from common.accuracy.resampling import (
    call_table,
    calls_needed,
    compare,
    kappa,
    paired_tables,
    resample_calls,
)


def test_without_na_kappa_is_the_qwk_of_agreement() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        pairs = [(int(a), int(h)) for a, h in rng.integers(1, 6, size=(30, 2))]
        assert float(kappa(call_table(pairs))) == pytest.approx(qwk(pairs))


def test_a_one_sided_na_is_a_full_disagreement_and_a_shared_one_agreement() -> None:
    scored = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert float(kappa(call_table(scored))) == pytest.approx(1.0)
    assert float(kappa(call_table([*scored, (0, 0)]))) == pytest.approx(1.0)
    abstained = [(1, 1), (2, 2), (3, 3), (4, 4), (0, 5)]  # the AI's N/A where a manager scored
    one_off = [(1, 1), (2, 2), (3, 3), (4, 4), (4, 5)]
    two_off = [(1, 1), (2, 2), (3, 3), (4, 4), (3, 5)]
    assert kappa(call_table(abstained)) < kappa(call_table(two_off)) < kappa(call_table(one_off))
    # the reverse (a manager's N/A where the AI scored) is a disagreement too
    assert kappa(call_table([(1, 1), (2, 2), (3, 3), (4, 4), (5, 0)])) < 1
    # leaving one-sided N/A out (the old pairs' way) would make the abstainer perfect
    assert qwk([p for p in abstained if p[0]]) == pytest.approx(1.0)


def test_every_resample_draws_whole_calls() -> None:
    draws = resample_calls(7, 500, np.random.default_rng(2))
    assert draws.shape == (500, 7) and (draws.sum(axis=1) == 7).all()


def world_tables(rng: np.random.Generator, calls: int, items: int = 5) -> np.ndarray:
    """Two configurations with a call-level shift each, `items` pairs a call."""
    level = rng.normal(0, 1, (calls, 1))
    truth = 3 + level + 0.6 * rng.normal(0, 1, (calls, items))
    human = np.clip(np.rint(truth + rng.normal(0, 0.5, truth.shape)), 1, 5).astype(int)
    tables = np.zeros((2, calls, 6, 6))
    for k, sd in enumerate((0.4, 0.8)):
        shift = rng.normal(0, 0.5, (calls, 1))
        ai = np.clip(np.rint(truth + shift + rng.normal(0, sd, truth.shape)), 1, 5).astype(int)
        for c in range(calls):
            tables[k, c] = call_table(list(zip(ai[c], human[c], strict=True)))
    return tables


def test_the_same_resample_serves_every_configuration() -> None:
    """A configuration compared with an identical one differs by exactly 0 in every resample:
    with a draw per configuration it would not."""
    tables = world_tables(np.random.default_rng(3), 40)
    same = np.stack([tables[0], tables[0]])
    best, diffs = compare(same, rounds=500)
    assert best == 0 and diffs[1].diff == 0 and diffs[1].lower == 0 and diffs[1].sd == 0


def test_calls_are_the_unit_repeating_a_calls_pairs_adds_no_certainty() -> None:
    """Each call's pairs counted five times over: five times the pairs, the same calls, so the
    same interval (a bootstrap over pairs would narrow it by a factor of about 2.2)."""
    tables = world_tables(np.random.default_rng(4), 40)
    _, once = compare(tables, rounds=1000, seed=9)
    _, five = compare(tables * 5, rounds=1000, seed=9)
    assert once[1].sd is not None and once[1].sd > 0
    assert five[1].sd == pytest.approx(once[1].sd)
    assert five[1].lower == pytest.approx(once[1].lower)


def test_the_best_is_compared_with_itself_at_zero() -> None:
    tables = world_tables(np.random.default_rng(5), 60)
    best, diffs = compare(tables, rounds=500)
    assert best == 0  # the less noisy configuration
    assert diffs[0].diff == 0 and diffs[0].lower == 0
    assert diffs[1].diff is not None and diffs[1].diff < 0
    assert diffs[1].lower is not None and diffs[1].lower < diffs[1].diff


def test_calls_needed_follows_the_normal_approximation() -> None:
    z = 1.6449 + 0.8416
    assert calls_needed(100, 0.05 / z, 0.05) == 100  # the SD that just suffices at 100 calls
    assert calls_needed(100, 0.1 / z, 0.05) == 400  # twice the SD: four times the calls
    assert calls_needed(50, 0.0, 0.05) == 0


def test_tables_cover_the_calls_every_configuration_scored() -> None:
    a = [
        Pair("c1", "discovery", "overall", 3, 4),
        Pair("c1", "discovery", "overall", 3, 2),  # a second manager of the same criterion
        Pair("c1", "discovery", "k1", 0, 2),
        Pair("c2", "discovery", "overall", 5, 5),
        Pair("c3", "discovery", "overall", 1, 1),  # only this configuration scored c3
        Pair("c1", "engagement", "overall", 2, 2),
    ]
    b = [
        Pair("c1", "discovery", "overall", 4, 4),
        Pair("c1", "discovery", "overall", 4, 2),
        Pair("c2", "discovery", "overall", 5, 5),  # b gave no score for c1's k1
    ]
    calls, tables = paired_tables([a, b], "discovery")
    assert calls == ["c1", "c2"] and tables.shape == (2, 2, 6, 6)
    assert tables[0, 0, 3, 4] == tables[0, 0, 3, 2] == 1 and tables[0, 0].sum() == 2
    assert tables[1, 0, 4, 4] == tables[1, 0, 4, 2] == 1 and tables[1, 1, 5, 5] == 1
