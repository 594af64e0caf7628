"""Agreement between two raters on the fixed 1-5 scale, with bootstrap 95% intervals.

For pairs (ai, human) of scores 1-5:

- `exact`: share of pairs with the same score; `within_one`: share at most one point apart;
- `bias`: mean of ai - human (positive: the AI scores higher than managers);
- `qwk`: quadratic weighted kappa over the fixed scale 1-5 (weights (i - j)^2 / 16);
- `krippendorff_alpha`: Krippendorff's alpha, ordinal, over the value domain 1-5.

Kappa and alpha are chance-corrected: 1 is perfect agreement, 0 what chance gives, below 0
worse than chance. Both are undefined (None) when the pairs show no variation to correct for
(one pair, or both raters always giving the same single score). Every metric comes with a
bootstrap 95% interval over the pairs (`ci`), so a handful of pairs does not look precise.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np

SCALE = (1, 2, 3, 4, 5)
METRICS = ("exact", "within_one", "bias", "qwk", "krippendorff_alpha")


class PairsFileError(ValueError):
    """A pairs CSV row that cannot be read; the message names its line."""


@dataclass(frozen=True)
class Pair:
    call_id: str
    dimension: str
    criterion: str  # a criterion id, or "overall"
    ai: int
    human: int


def exact(pairs: Sequence[tuple[int, int]]) -> float | None:
    return sum(a == h for a, h in pairs) / len(pairs) if pairs else None


def within_one(pairs: Sequence[tuple[int, int]]) -> float | None:
    return sum(abs(a - h) <= 1 for a, h in pairs) / len(pairs) if pairs else None


def bias(pairs: Sequence[tuple[int, int]]) -> float | None:
    return sum(a - h for a, h in pairs) / len(pairs) if pairs else None


def qwk(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Quadratic weighted kappa on the fixed 1-5 scale; None when it is undefined."""
    k = len(SCALE)
    observed = np.zeros((k, k))
    for a, h in pairs:
        observed[a - 1, h - 1] += 1
    n = observed.sum()
    if n == 0:
        return None
    idx = np.arange(k)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (k - 1) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    disagreement_by_chance = float((weights * expected).sum())
    if disagreement_by_chance == 0:
        return None
    return 1 - float((weights * observed).sum()) / disagreement_by_chance


def krippendorff_alpha(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Krippendorff's alpha (ordinal, domain 1-5); None when it is undefined."""
    if len(pairs) < 2 or len({v for p in pairs for v in p}) < 2:
        return None
    data = np.array([[a for a, _ in pairs], [h for _, h in pairs]], dtype=float)
    value = float(
        krippendorff.alpha(
            reliability_data=data, level_of_measurement="ordinal", value_domain=list(SCALE)
        )
    )
    return None if math.isnan(value) else value


FUNCTIONS: dict[str, Callable[[Sequence[tuple[int, int]]], float | None]] = {
    "exact": exact,
    "within_one": within_one,
    "bias": bias,
    "qwk": qwk,
    "krippendorff_alpha": krippendorff_alpha,
}


def summary(
    pairs: Sequence[tuple[int, int]], bootstrap: int = 1000, seed: int = 7
) -> dict[str, Any]:
    """Every metric as a plain number (or None), its bootstrap 95% interval under `ci`."""
    return table_summary(_table(pairs), bootstrap, seed)


def table_summary(table: np.ndarray, bootstrap: int = 1000, seed: int = 7) -> dict[str, Any]:
    """`summary` of the (ai x human) 5x5 count table of the pairs: every metric depends on
    that table only, so a report can be built from counts without the pairs themselves."""
    return tables_summaries([table], bootstrap, seed)[0]


def tables_summaries(
    tables: Sequence[np.ndarray], bootstrap: int = 1000, seed: int = 7
) -> list[dict[str, Any]]:
    """`table_summary` of each table, the metrics and the intervals each in one pass."""
    if not tables:
        return []
    metrics = table_metrics(np.stack(tables))
    sampled = [i for i, table in enumerate(tables) if bootstrap and table.sum()]
    cis = tables_intervals([tables[i] for i in sampled], bootstrap, seed)
    ci_of = dict(zip(sampled, cis, strict=True))
    out = []
    for i, table in enumerate(tables):
        summary: dict[str, Any] = {"n": int(table.sum())}
        for name, values in metrics.items():
            value = float(values[i])
            summary[name] = None if math.isnan(value) else round(value, 4)
        summary["ci"] = ci_of.get(i, {})
        out.append(summary)
    return out


def intervals(
    pairs: Sequence[tuple[int, int]], rounds: int, seed: int
) -> dict[str, list[float] | None]:
    """Percentile bootstrap: resample the pairs with replacement `rounds` times."""
    return table_intervals(_table(pairs), rounds, seed)


def table_intervals(table: np.ndarray, rounds: int, seed: int) -> dict[str, list[float] | None]:
    """Percentile bootstrap from the count table.

    On a fixed 1-5 scale every metric depends only on the 5x5 table of (ai, human) counts, so
    a resample is a multinomial draw of that table and all rounds are computed at once
    (`table_metrics`): a few milliseconds for thousands of pairs.
    """
    return tables_intervals([table], rounds, seed)[0]


def tables_intervals(
    tables: Sequence[np.ndarray], rounds: int, seed: int
) -> list[dict[str, list[float] | None]]:
    """`table_intervals` of many tables (a report's dimensions and criteria), their resamples
    computed in one pass: the same numbers as one table at a time, without numpy's fixed cost
    per call repeated for every criterion."""
    k = len(SCALE)
    draws = []
    for table in tables:
        counts = table.reshape(k * k)
        rng = np.random.default_rng(seed)  # each table its own stream, as when computed alone
        draws.append(rng.multinomial(int(counts.sum()), counts / counts.sum(), size=rounds))
    if not draws:
        return []
    stacked = np.concatenate(draws).reshape(len(draws) * rounds, k, k).astype(float)
    out: list[dict[str, list[float] | None]] = [{} for _ in draws]
    for name, values in table_metrics(stacked).items():
        ordered = np.sort(values.reshape(len(draws), rounds), axis=1)  # NaN sort last
        defined = (~np.isnan(ordered)).sum(axis=1)
        for i, n in enumerate(defined):
            if n < rounds / 2:  # mostly undefined: no interval worth showing
                out[i][name] = None
                continue
            lo, hi = ordered[i, int(0.025 * (n - 1))], ordered[i, math.ceil(0.975 * (n - 1))]
            out[i][name] = [round(float(lo), 4), round(float(hi), 4)]
    return out


def _table(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The (ai x human) count table of the pairs."""
    k = len(SCALE)
    table = np.zeros((k, k))
    if pairs:
        idx = np.asarray(pairs, dtype=np.intp) - 1
        np.add.at(table, (idx[:, 0], idx[:, 1]), 1)
    return table


def table_metrics(tables: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric for a stack of (ai x human) count tables, shape (rounds, 5, 5); NaN where
    a metric is undefined. Agrees with the per-pair functions above (a test checks)."""
    k = tables.shape[1]
    idx = np.arange(k)
    distance = idx[:, None] - idx[None, :]  # ai - human
    n = tables.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "exact": np.trace(tables, axis1=1, axis2=2) / n,
            "within_one": (tables * (np.abs(distance) <= 1)).sum(axis=(1, 2)) / n,
            "bias": (tables * distance).sum(axis=(1, 2)) / n,
        }
        weights = distance**2 / (k - 1) ** 2
        expected = (
            tables.sum(axis=2)[:, :, None] * tables.sum(axis=1)[:, None, :] / n[:, None, None]
        )
        chance = (weights * expected).sum(axis=(1, 2))
        observed = (weights * tables).sum(axis=(1, 2))
        out["qwk"] = np.where(chance > 0, 1 - observed / chance, np.nan)
        out["krippendorff_alpha"] = _ordinal_alpha(tables)
    return out


def _ordinal_alpha(tables: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal alpha for two raters and no missing values, per table."""
    coincidence = tables + np.transpose(tables, (0, 2, 1))
    marginal = coincidence.sum(axis=2)  # n_c
    total = marginal.sum(axis=1)  # 2N
    cum = np.cumsum(marginal, axis=1)
    k = tables.shape[1]
    lo, hi = (
        np.minimum.outer(np.arange(k), np.arange(k)),
        np.maximum.outer(np.arange(k), np.arange(k)),
    )
    # sum of n_g for g in [c, k], minus half of n_c and n_k, squared
    between = cum[:, hi] - np.where(lo > 0, cum[:, np.maximum(lo - 1, 0)], 0)
    delta = (between - (marginal[:, :, None] + marginal[:, None, :]) / 2) ** 2
    observed = (coincidence * delta).sum(axis=(1, 2))
    expected = (marginal[:, :, None] * marginal[:, None, :] * delta).sum(axis=(1, 2))
    defined = (expected > 0) & (total >= 4)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, 1 - (total - 1) * observed / expected, np.nan)


def report(pairs: Iterable[Pair], bootstrap: int = 1000) -> dict[str, Any]:
    """`overall` (every pair) and `by_dimension` (every pair of each dimension)."""
    pairs = list(pairs)
    by_dimension: dict[str, list[tuple[int, int]]] = {}
    for p in pairs:
        by_dimension.setdefault(p.dimension, []).append((p.ai, p.human))
    return {
        "overall": summary([(p.ai, p.human) for p in pairs], bootstrap),
        "by_dimension": {d: summary(v, bootstrap) for d, v in sorted(by_dimension.items())},
    }


HEADER = ["call_id", "dimension", "criterion", "ai_score", "manager_score"]


def read_csv(path: Path, header: list[str]) -> list[list[str]]:
    """A CSV's rows after its header (which must be `header`), each cell stripped; blank rows
    are kept as empty lists so line numbers hold. Anything a spreadsheet export can get wrong
    (not UTF-8, a field over the csv module's limit, a NUL character, a wrong header) is a
    PairsFileError naming the line, never a traceback."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise PairsFileError(
            f"{path}: not UTF-8 (byte {exc.start}): save it as CSV UTF-8"
        ) from None
    except csv.Error as exc:
        raise PairsFileError(f"{path}: not a readable CSV: {exc}") from None
    if not rows or [c.strip() for c in rows[0]] != header:
        raise PairsFileError(f"{path}: line 1: the header must be {','.join(header)}")
    out: list[list[str]] = []
    for line, row in enumerate(rows[1:], start=2):
        if any("\x00" in cell for cell in row):
            raise PairsFileError(f"{path}: line {line}: contains a NUL character")
        cells = [c.strip() for c in row]
        if any(cells) and len(cells) != len(header):
            raise PairsFileError(
                f"{path}: line {line}: expected {len(header)} fields, got {len(cells)}"
            )
        out.append(cells if any(cells) else [])
    return out


def read_pairs(path: Path) -> list[Pair]:
    """Pairs from a CSV with the header call_id,dimension,criterion,ai_score,manager_score.

    Scores are whole numbers 1-5; a row that is not is a PairsFileError naming its line.
    """
    pairs = []
    for line, row in enumerate(read_csv(path, HEADER), start=2):
        if not row:
            continue
        call_id, dimension, criterion, ai, human = row
        if not (call_id and dimension and criterion):
            raise PairsFileError(
                f"{path}: line {line}: call_id, dimension and criterion are required"
            )
        pairs.append(
            Pair(
                call_id,
                dimension,
                criterion,
                _score(path, line, "ai_score", ai),
                _score(path, line, "manager_score", human),
            )
        )
    return pairs


def _score(path: Path, line: int, column: str, text: str) -> int:
    if text not in {str(v) for v in SCALE}:
        raise PairsFileError(
            f"{path}: line {line}: {column} must be a whole number 1-5, got {text!r}"
        )
    return int(text)


def table(result: dict[str, Any]) -> str:
    """AI vs managers by dimension beside the human ceiling, as aligned text."""
    ai, ceiling = result["ai_vs_manager"], result["human_ceiling"]
    consistency = result.get("ai_consistency", {})
    head = (
        f"{'':<18}{'pairs':>6}{'exact':>7}{'±1':>6}{'bias':>7}{'QWK':>7}{'alpha':>7}"
        f"{'N/A both':>10}{'AI only':>8}{'mgr only':>9}"
        f"   {'managers:':<9}{'pairs':>6}{'exact':>7}{'QWK':>7}"
    )
    lines = [head, "-" * len(head)]
    rows = [("overall", ai["overall"], ceiling["overall"])]
    for dim in sorted(set(ai["by_dimension"]) | set(ceiling["by_dimension"])):
        rows.append((dim, ai["by_dimension"].get(dim, {}), ceiling["by_dimension"].get(dim, {})))
    for name, a, h in rows:
        na = a.get("not_applicable") or {}
        lines.append(
            f"{name:<18}{a.get('n', 0):>6}{_num(a.get('exact'), True):>7}"
            f"{_num(a.get('within_one'), True):>6}{_num(a.get('bias')):>7}{_num(a.get('qwk')):>7}"
            f"{_num(a.get('krippendorff_alpha')):>7}"
            f"{na.get('both', '-'):>10}{na.get('ai_only', '-'):>8}{na.get('manager_only', '-'):>9}"
            f"   {'':<9}{h.get('n', 0):>6}"
            f"{_num(h.get('exact'), True):>7}{_num(h.get('qwk')):>7}"
        )
    if consistency and consistency["overall"]["n"]:
        c = consistency["overall"]
        lines.append(
            f"AI consistency (same call scored twice): {c['n']} pairs, exact"
            f" {_num(c['exact'], True)}, QWK {_num(c['qwk'])}"
        )
    return "\n".join(lines)


def _num(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:+.2f}" if value < 0 else f"{value:.2f}"
