"""Which criteria go with won deals, within rep and within stage.

The unit is the closed deal (`deals`). For each criterion (and each dimension's "overall"),
over the deals where it was scored, a logistic regression of won on:

- the deal's score held apart from stage (`Deal.within_stage`), minus the mean of it over the
  rep's deals: the within-rep score, whose coefficient is what is estimated and reported;
- the rep's mean of it (the between-rep part, Mundlak's device): strong reps scoring higher
  and winning more is absorbed here, never in the within-rep coefficient;
- the share of the deal's calls at each stage (one stage left out as reference; a stage on
  fewer than MIN_STAGE_DEALS deals, or whose deals all ended alike, pooled with it): deals
  that reached late stages winning more is absorbed here.

The odds ratio is exp(coefficient) per score point, with a 95% interval from the larger of
the rep-clustered (sandwich) and the model-based standard error, on Student's t with reps less
one degrees of freedom: a rep's deals are not independent draws, and with few reps the
clustered error is itself too small. The two-sided p value of each criterion goes into
Benjamini-Hochberg q values across the criteria given numbers. Nothing is resampled.

Minimums: below `min_deals` closed deals (100 by default) the report has `enough_deals` false,
`more_needed`, and no criteria at all; a criterion scored on fewer than `min_deals` deals, or
whose model has no finite fit, is listed with its deal count and no numbers. This is
association within reps, not proof that the behaviour causes the win.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel

from common.validity.deals import Deal, Key, ScoreRow, deals
from common.validity.fdr import bh_q_values
from common.validity.logistic import fit_logistic
from common.validity.student import quantile_975, two_sided_p
from common.validity.units import unit

MIN_DEALS = 100
MIN_STAGE_DEALS = 10  # a stage on fewer deals is pooled with the reference stage


class CriterionResult(BaseModel):
    dimension: str
    criterion: str
    odds_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    q_value: float | None
    deals: int


class Report(BaseModel):
    enough_deals: bool
    deals: int
    won: int
    criteria: list[CriterionResult]
    more_needed: int  # closed deals still needed to reach the minimum (0 when enough)

    def public(self) -> dict[str, object]:
        """The `--json` shape: everything but `more_needed`."""
        return self.model_dump(exclude={"more_needed"})


def analyse(rows: Iterable[ScoreRow], min_deals: int = MIN_DEALS) -> Report:
    return analyse_deals(deals(rows), min_deals)


def analyse_deals(closed: Sequence[Deal], min_deals: int = MIN_DEALS) -> Report:
    won = sum(d.won for d in closed)
    if len(closed) < min_deals:
        return Report(
            enough_deals=False,
            deals=len(closed),
            won=won,
            criteria=[],
            more_needed=min_deals - len(closed),
        )
    keys = sorted({k for d in closed for k in d.within_stage})
    estimates = {k: within_rep_estimate(closed, k, min_deals) for k in keys}
    tested = [k for k in keys if estimates[k][1] is not None]
    q = dict(zip(tested, bh_q_values([_p_value(*estimates[k][1]) for k in tested]), strict=True))  # type: ignore[misc]
    criteria = [_result(k, estimates[k], q.get(k)) for k in keys]
    return Report(enough_deals=True, deals=len(closed), won=won, criteria=criteria, more_needed=0)


Estimate = tuple[float, float, float]  # (log odds ratio per point, its error, degrees of freedom)


def within_rep_estimate(
    closed: Sequence[Deal], key: Key, min_deals: int
) -> tuple[int, Estimate | None]:
    """(deals scored on `key`, its estimate or None). The error is the larger of the
    rep-clustered and the model-based one, with reps less one degrees of freedom: with few reps
    the clustered error is itself too small, and a normal quantile too narrow."""
    scored = [d for d in closed if key in d.within_stage]
    reps = len({d.rep_id for d in scored})
    if len(scored) < min_deals or reps < 2:
        return len(scored), None
    x = np.array([d.within_stage[key] for d in scored])
    by_rep: dict[str, list[float]] = defaultdict(list)
    for d, value in zip(scored, x, strict=True):
        by_rep[d.rep_id].append(float(value))
    means = {rep: sum(values) / len(values) for rep, values in by_rep.items()}
    rep_mean = np.array([means[d.rep_id] for d in scored])
    design = np.column_stack([np.ones(len(scored)), x - rep_mean, rep_mean, _stage_shares(scored)])
    won = np.array([1.0 if d.won else 0.0 for d in scored])
    fit = fit_logistic(design, won, clusters=[d.rep_id for d in scored])
    if fit is None:
        return len(scored), None
    variance = max(float(fit.cov[1, 1]), float(fit.model_cov[1, 1]))
    return len(scored), (float(fit.coef[1]), math.sqrt(variance), float(reps - 1))


def _stage_shares(scored: Sequence[Deal]) -> np.ndarray:
    """Columns of the share of each deal's calls at each stage, the most common stage left out
    (the shares sum to one, so the intercept stands for it). A stage on fewer than
    MIN_STAGE_DEALS deals, or whose deals all ended alike, is pooled with that reference: its
    own column would predict those few outcomes perfectly, and with the fit running off to
    infinity no criterion would get numbers (one CRM stage name used once did that)."""
    totals: dict[str, float] = defaultdict(float)
    deals_at: dict[str, int] = defaultdict(int)
    outcomes: dict[str, set[bool]] = defaultdict(set)
    for d in scored:
        for stage, share in d.stages.items():
            totals[stage] += share
            deals_at[stage] += 1
            outcomes[stage].add(d.won)
    common = [s for s in totals if deals_at[s] >= MIN_STAGE_DEALS and len(outcomes[s]) == 2]
    kept = sorted(common, key=lambda s: (-totals[s], s))[1:]
    return np.array([[d.stages.get(s, 0.0) for s in kept] for d in scored]).reshape(
        len(scored), len(kept)
    )


def _p_value(beta: float, se: float, df: float) -> float:
    return two_sided_p(beta / se, df)


def _result(key: Key, estimate: tuple[int, Estimate | None], q: float | None) -> CriterionResult:
    n, fitted = estimate
    dimension, criterion = key
    if fitted is None:
        return CriterionResult(
            dimension=dimension,
            criterion=criterion,
            odds_ratio=None,
            ci_low=None,
            ci_high=None,
            q_value=None,
            deals=n,
        )
    beta, se, df = fitted
    half = quantile_975(df) * se
    return CriterionResult(
        dimension=dimension,
        criterion=criterion,
        odds_ratio=math.exp(beta),
        ci_low=math.exp(beta - half),
        ci_high=math.exp(beta + half),
        q_value=q,
        deals=n,
    )


def table(report: Report) -> str:
    """The report for people: one row per criterion, or how many more deals are needed."""
    if not report.enough_deals:
        return (
            f"too few closed deals: {report.deals} of {report.deals + report.more_needed},"
            f" {report.more_needed} more needed (no numbers until then)"
        )
    lines = [
        f"{report.deals} closed deals, {report.won} won. Odds ratio of winning per score point,"
        " within rep and stage (association, not cause):",
        f"{'dimension':<20} {'criterion':<28} {'odds ratio':>10} {'95% interval':>16}"
        f" {'q':>6} {'deals':>6}",
    ]
    for c in report.criteria:
        if c.odds_ratio is None or c.ci_low is None or c.ci_high is None or c.q_value is None:
            numbers = f"{'too few deals or no fit':>40}"
        else:
            interval = f"{c.ci_low:.2f}-{c.ci_high:.2f}"
            numbers = f"{c.odds_ratio:>10.2f} {interval:>16} {c.q_value:>6.3f}"
        lines.append(f"{c.dimension:<20} {c.criterion:<28} {numbers} {c.deals:>6}")
    units = sorted({unit(c.dimension, c.criterion) for c in report.criteria} - {"per score point"})
    if units:
        lines.append(
            f"Conversation metrics are measured, not scored: odds ratio {'; '.join(units)}."
        )
    return "\n".join(lines)
