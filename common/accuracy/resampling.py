"""Paired, clustered comparisons of configurations' agreement with managers.

Several configurations scored the same calls, and managers' scores of those calls are the
same for each. A comparison resamples CALLS with replacement (all pairs of a call together:
the criteria of one call are not independent draws) and uses the SAME resample for every
configuration, so what they share (a hard call, a lenient manager) cancels out of their
difference instead of widening two separate intervals.

Agreement is Cohen's weighted kappa on six categories, N/A and 1-5: quadratic weights
(i - j)^2 / 16 between scores, weight 1 (as far apart as 1 is from 5) between N/A and any
score, 0 between N/A and N/A. Without N/A it is exactly the QWK of `agreement`; a one-sided
N/A (the AI's where a manager scored, or the reverse) is a maximal disagreement, so a judge
that abstains when unsure pays for it rather than scoring only its easy calls.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from common.accuracy.agreement import SCALE, Pair

K = len(SCALE) + 1  # category 0 is N/A, then the scale 1-5


def weights() -> np.ndarray:
    """Disagreement weights (K x K): quadratic on 1-5, 1 between N/A and a score."""
    idx = np.arange(1, K)
    w = np.ones((K, K))
    w[1:, 1:] = (idx[:, None] - idx[None, :]) ** 2 / (len(SCALE) - 1) ** 2
    w[0, 0] = 0.0
    return w


def call_table(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """One call's (ai x manager) count table, N/A as 0."""
    table = np.zeros((K, K))
    for ai, human in pairs:
        table[ai, human] += 1
    return table


def kappa(tables: np.ndarray) -> np.ndarray:
    """Weighted kappa of each (..., K, K) table; NaN where undefined (no disagreement expected
    by chance: one pair, or both sides always giving the same answer)."""
    w = weights()
    n = tables.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = tables.sum(axis=-1)[..., :, None] * tables.sum(axis=-2)[..., None, :]
        chance = (w * expected).sum(axis=(-2, -1)) / n
        observed = (w * tables).sum(axis=(-2, -1))
        out = 1 - observed / chance
    return np.where(chance > 0, out, np.nan)


def resample_calls(calls: int, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, calls): how many times each call is drawn in each resample."""
    return rng.multinomial(calls, np.full(calls, 1 / calls), size=rounds)


def resampled_kappas(tables: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Kappa of every configuration in every resample: tables (configs, calls, K, K) and
    draws (rounds, calls) -> (rounds, configs), one draw shared by all configurations."""
    return kappa(np.einsum("rc,kcij->rkij", draws, tables))


@dataclass(frozen=True)
class Difference:
    """One configuration against the best (by point kappa) on the same calls."""

    kappa: float | None  # this configuration's kappa
    diff: float | None  # its kappa minus the best's
    lower: float | None  # one-sided lower confidence bound of `diff`
    sd: float | None  # bootstrap standard deviation of `diff`


def compare(
    tables: np.ndarray, rounds: int = 2000, seed: int = 7, alpha: float = 0.05
) -> tuple[int | None, list[Difference]]:
    """The best configuration's index (None when no kappa is defined) and each configuration's
    difference from it, with a one-sided (1 - alpha) percentile lower bound from the paired,
    clustered bootstrap. The best's own difference is 0 with bound 0."""
    point = kappa(tables.sum(axis=1))
    if np.isnan(point).all():
        return None, [Difference(None, None, None, None) for _ in point]
    best = int(np.nanargmax(point))
    draws = resample_calls(tables.shape[1], rounds, np.random.default_rng(seed))
    diffs = resampled_kappas(tables, draws) - resampled_kappas(tables[best : best + 1], draws)
    out = []
    for k, value in enumerate(point):
        if math.isnan(value):
            out.append(Difference(None, None, None, None))
            continue
        defined = diffs[:, k][~np.isnan(diffs[:, k])]
        enough = len(defined) >= rounds / 2  # mostly undefined: no bound worth stating
        out.append(
            Difference(
                kappa=float(value),
                diff=float(value - point[best]),
                lower=float(np.quantile(defined, alpha)) if enough else None,
                sd=float(defined.std(ddof=1)) if enough and len(defined) > 1 else None,
            )
        )
    return best, out


def calls_needed(
    calls: int, sd: float, delta: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Calls for the one-sided (1 - alpha) lower bound of a difference to clear -delta with
    probability `power` when the true difference is 0, from the bootstrap SD at `calls`
    (normal approximation; the SD shrinks as 1 / sqrt(calls))."""
    z = NormalDist().inv_cdf(1 - alpha) + NormalDist().inv_cdf(power)
    return math.ceil(calls * (z * sd / delta) ** 2)


def paired_tables(
    pairs_by_config: Sequence[Sequence[Pair]], dimension: str
) -> tuple[list[str], np.ndarray]:
    """The calls every configuration scored on `dimension` and their tables, shape
    (configs, calls, K, K). Pairs are matched on (call, criterion, the n-th manager score of
    it); a pair one configuration lacks (it gave no score for that criterion) is left out of
    every configuration, so all are compared on the same manager scores."""
    keyed = [_keyed(pairs, dimension) for pairs in pairs_by_config]
    common = set.intersection(*(set(k) for k in keyed)) if keyed else set()
    calls = sorted({key[0] for key in common})
    at = {call: i for i, call in enumerate(calls)}
    tables = np.zeros((len(keyed), len(calls), K, K))
    for c, by_key in enumerate(keyed):
        for key in common:
            ai, human = by_key[key]
            tables[c, at[key[0]], ai, human] += 1
    return calls, tables


def _keyed(pairs: Sequence[Pair], dimension: str) -> dict[tuple[str, str, int], tuple[int, int]]:
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = {}
    for p in pairs:
        if p.dimension != dimension:
            continue
        n = seen[(p.call_id, p.criterion)]
        seen[(p.call_id, p.criterion)] += 1
        out[(p.call_id, p.criterion, n)] = (p.ai, p.human)
    return out
