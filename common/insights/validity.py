"""Which of our criteria go with won deals, in words a manager can act on.

`common.validity` estimates, for each criterion, the odds ratio of winning per score point
within rep and within stage, with its 95% interval and a q value across criteria. This module
reads that report for people: each criterion gets its unit and a `reading` in plain words, the
answer carries the caveat (association within reps and stages, not proof of cause; or how many
more closed deals are needed), and `strongest` picks the criteria clearly associated with
winning or losing (interval excluding 1 and q below `Q_CLEAR`), furthest from 1 first.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from common.validity import CONVERSATION, METRICS, CriterionResult, Report, unit

Q_CLEAR = 0.10  # the false-discovery rate below which an association is called clear
Scope = Literal["team", "company"]


class CriterionReading(BaseModel):
    dimension: str
    criterion: str = Field(
        description='A rubric criterion id, "overall" (the dimension score),'
        " or a conversation metric"
    )
    odds_ratio: float | None = Field(description="Odds of winning multiply by this per unit")
    ci_low: float | None = Field(description="95% interval, low end")
    ci_high: float | None = Field(description="95% interval, high end")
    q_value: float | None = Field(description="False-discovery-rate adjusted p across criteria")
    deals: int = Field(description="Closed deals scored on this criterion")
    unit: str = Field(description='What the odds ratio is per, e.g. "per score point"')
    clear: bool = Field(description=f"Interval excludes 1 and q < {Q_CLEAR}")
    reading: str = Field(description="The number in plain words")


class WonDealCriteria(BaseModel):
    scope: Scope = Field(description="team: deals owned by reps in your team; company: all")
    enough_deals: bool = Field(description="False: too few closed deals, no numbers")
    deals: int = Field(description="Closed deals in scope")
    won: int
    reps: int = Field(
        description="Reps owning those deals: each criterion compares a rep's own deals, so"
        " a handful of reps makes the intervals unreliable"
    )
    min_deals: int = Field(description="Closed deals needed before numbers are shown")
    more_needed: int = Field(description="Closed deals still needed (0 when enough)")
    criteria: list[CriterionReading]
    caveat: str
    units: str = Field(description="What each odds ratio is per")
    computed_at: datetime | None = Field(
        default=None,
        description="When the daily deal refresh computed this (None: not yet computed)",
    )


def read_report(
    report: Report,
    reps: int,
    min_deals: int,
    scope: Scope,
    dimension: str | None = None,
    computed_at: datetime | None = None,
) -> WonDealCriteria:
    """The report over the deals of `reps` reps, for people; `dimension` keeps that
    dimension's criteria only (their q values stay those adjusted across every criterion)."""
    kept = [c for c in report.criteria if dimension is None or c.dimension == dimension]
    return WonDealCriteria(
        scope=scope,
        enough_deals=report.enough_deals,
        deals=report.deals,
        won=report.won,
        reps=reps,
        min_deals=min_deals,
        more_needed=report.more_needed,
        criteria=[reading(c, min_deals) for c in kept],
        caveat=caveat(report, min_deals),
        units=units_note(),
        computed_at=computed_at,
    )


def not_computed(scope: Scope, min_deals: int) -> WonDealCriteria:
    """The answer before the daily deal refresh has computed this scope's report."""
    return WonDealCriteria(
        scope=scope,
        enough_deals=False,
        deals=0,
        won=0,
        reps=0,
        min_deals=min_deals,
        more_needed=0,
        criteria=[],
        caveat="Not computed yet: the daily deal refresh (the refresh-deals flow) computes it"
        " for the company and each manager's team; an admin can run `sales-coach validity`"
        " to see it now.",
        units=units_note(),
    )


def is_clear(c: CriterionResult) -> bool:
    """Clearly associated with winning or losing: the interval excludes 1 and q < Q_CLEAR."""
    if c.ci_low is None or c.ci_high is None or c.q_value is None:
        return False
    return (c.ci_low > 1 or c.ci_high < 1) and c.q_value < Q_CLEAR


def reading(c: CriterionResult, min_deals: int) -> CriterionReading:
    per = unit(c.dimension, c.criterion)
    return CriterionReading(
        dimension=c.dimension,
        criterion=c.criterion,
        odds_ratio=c.odds_ratio,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        q_value=c.q_value,
        deals=c.deals,
        unit=per,
        clear=is_clear(c),
        reading=_words(c, per, min_deals),
    )


# "each ... more" for the conversation metrics; rubric criteria are "each score point more"
_EACH = {
    "talk_ratio": "each 10 points more of the rep's share of talk",
    "questions": "each question more the rep asks",
    "longest_monologue": "each minute more of the longest monologue",
}


def _words(c: CriterionResult, per: str, min_deals: int) -> str:
    if c.odds_ratio is None or c.ci_low is None or c.ci_high is None or c.q_value is None:
        if c.deals < min_deals:
            return f"no numbers: scored on {c.deals} closed deals, {min_deals} needed"
        return "no numbers: the model found no stable fit (e.g. every deal won at each score)"
    each = "each score point more" if per == "per score point" else _EACH.get(c.criterion, per)
    odds = f"{c.odds_ratio:.2f}x the odds of winning"
    interval = f"(95% interval {c.ci_low:.2f}-{c.ci_high:.2f})"
    if c.ci_low <= 1 <= c.ci_high:
        return f"no clear association: {each} goes with {odds} {interval}"
    if not is_clear(c):
        return (
            f"{each} goes with {odds} {interval}, but q is {c.q_value:.2f}: among this many"
            " criteria it could be chance"
        )
    return f"{each} goes with {odds} {interval}"


def caveat(report: Report, min_deals: int) -> str:
    if not report.enough_deals:
        return (
            f"Too few closed deals to say anything: {report.deals} of {min_deals},"
            f" {report.more_needed} more needed. Until then there are no numbers; then they"
            " will be association within reps and stages, not proof of cause."
        )
    return (
        "Association within reps and stages, not proof of cause: each criterion compares a"
        " rep's own won and lost deals at the same stage, so strong reps and late-stage calls"
        " make no effect here; it does not show that coaching a behaviour wins deals."
    )


def units_note() -> str:
    metrics = "; ".join(f"{name} {per}" for name, (_, _, per) in METRICS.items())
    return (
        "Rubric scores (1-5): odds ratio per score point. Conversation metrics (dimension"
        f" {CONVERSATION}) are measured, not scored: {metrics}."
    )


def strongest(answer: WonDealCriteria, top: int = 5) -> list[CriterionReading]:
    """The clearly associated criteria, furthest from 1 first (a criterion going with losing
    is as much news as one going with winning)."""
    found = [c for c in answer.criteria if c.clear and c.odds_ratio]
    found.sort(key=lambda c: (-abs(math.log(c.odds_ratio or 1.0)), c.dimension, c.criterion))
    return found[:top]
