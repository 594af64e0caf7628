"""Weekly reviews: per-rep and per-team numbers for a week, from the read model
(`common.insights`) that the MCP tools use too.

A week runs Monday 00:00 to Monday 00:00 in the report time zone (`insights.week`).
"Previous" means the four weeks before it. Talk ratio and questions per discovery call are held
to the company's own won deals once it has enough closed deals (`Validity.figures`: the middle
half of its won deals' calls); until then to the figures vendors report from pooled data (talk
ratio near 43:57 rep:customer, 11-14 questions on discovery calls), labelled as such.

The team report's leadership section (`Leadership`) names the criteria that go clearly with won
or lost deals of the manager's reps, within rep and stage (`common.validity`), with the caveat
that this is association, not cause; or how many more closed deals are needed.

Only shown scores are counted (a manager's word, else a published AI score): a dimension
held for review is in no number here; the rep's report counts them and the team's lists
them. A change against the previous four weeks that run-to-run noise explains for that many
calls is marked as such (`within_noise`), never shown as a rise or a fall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from pydantic import BaseModel

from common import deals
from common.access.scope import Caller, visible_reps
from common.accuracy import disputes
from common.accuracy.disputes import DisputeOut
from common.accuracy.pairs import Filters, agreement
from common.calls import roles
from common.config import DIMENSIONS
from common.db import Row
from common.deals import ClosedDeal
from common.insights import noise as noise_mod
from common.insights.noise import Noise
from common.insights.performance import (
    CallScore,
    HeldScore,
    Recurring,
    held_for_review,
    recurring,
    scored_calls,
    week_and_before,
    week_changes,
    weekly,
)
from common.insights.validity import CriterionReading, read_report, strongest
from common.insights.week import previous_week, week_bounds
from common.validity import (
    ScoreRow,
    Spread,
    WonDealFigures,
    analyse,
    closed_deal_rows,
    won_deal_figures,
)

__all__ = ["previous_week", "week_bounds"]

TALK_RATIO_TARGET = (0.35, 0.52)  # around 43% rep
QUESTIONS_TARGET = (11, 14)
VENDORS = "vendors' pooled benchmark"
LEADERSHIP_TOP = 5  # criteria the team report names at most


Evidence = Recurring  # a strength or improvement, how often, one quote
CallRef = CallScore


class MetricCheck(BaseModel):
    name: str
    value: float | None
    benchmark: str
    within: bool | None


@dataclass(frozen=True)
class Validity:
    """What the week's reports use of the company's closed deals, read once a week: each
    closed deal's scored rows (the validity analysis's input, its owner as `rep_id`), the
    minimum of closed deals before any number, and the company's won-deal figures (None
    below the minimum: the vendors' benchmarks stay)."""

    rows: Sequence[ScoreRow]
    min_deals: int
    figures: WonDealFigures | None


def read_validity(conn: psycopg.Connection[Row], min_deals: int) -> Validity:
    return Validity(
        rows=closed_deal_rows(conn, None),
        min_deals=min_deals,
        figures=won_deal_figures(conn, None, min_deals),
    )


class Leadership(BaseModel):
    enough_deals: bool
    deals: int  # closed deals owned by the manager's reps
    won: int
    reps: int  # the reps owning them
    min_deals: int
    more_needed: int
    line: str  # the one line: how many deals and criteria, or how many more deals are needed
    caveat: str  # association within reps and stages, not proof of cause
    top: list[CriterionReading]  # clearly associated, furthest from 1 first


class RepReport(BaseModel):
    rep_id: str
    rep_name: str
    manager_id: str | None
    week_start: date
    job_role: str = roles.DEFAULT_ROLE  # at the week's end: the team report groups by it
    calls: int
    scores: dict[str, float]
    previous: dict[str, float]
    change: dict[str, float | None]
    within_noise: dict[str, bool | None] = {}  # True: the change is within run-to-run noise
    held: int = 0  # dimensions of the week's calls held for review (in no number here)
    trend: dict[str, list[tuple[str, float | None]]]
    metrics: list[MetricCheck]
    best_call: CallRef | None
    weakest_call: CallRef | None
    strengths: list[Evidence]
    improvements: list[Evidence]


class TeamReport(BaseModel):
    manager_id: str
    manager_name: str
    week_start: date
    reps: list[RepReport]  # by job role, then name: compared within a role only
    trend: dict[str, list[tuple[str, float | None]]]
    agreement: dict[str, Any] | None = None  # AI vs managers over the last four weeks
    disputes: list[DisputeOut] = []  # the team's open disputes, oldest first
    closed_deals: list[ClosedDeal] = []  # deals won or lost this week, with the team's calls
    held: list[HeldScore] = []  # dimensions held for review now, oldest call first
    held_total: int = 0
    leadership: Leadership | None = None  # which criteria go with the team's won deals


def _trend(
    conn: psycopg.Connection[Row], rep_ids: list[str], start: datetime, tz: str
) -> dict[str, list[tuple[str, float | None]]]:
    """Weekly averages per dimension over the 8 weeks ending with this one."""
    first = start - timedelta(weeks=7)
    by_week = {w.week: w for w in weekly(conn, rep_ids, first, start + timedelta(weeks=1), tz)}
    series: dict[str, list[tuple[str, float | None]]] = {d: [] for d in DIMENSIONS}
    for i in range(8):
        wk = (first + timedelta(weeks=i)).date()
        for d in DIMENSIONS:
            found = by_week.get(wk)
            series[d].append((wk.strftime("%d %b"), found.scores.get(d) if found else None))
    return series


def _call_metrics(
    conn: psycopg.Connection[Row], rep_id: str, start: datetime, end: datetime
) -> list[Row]:
    return conn.execute(
        """SELECT c.title, c.metrics FROM call_scores cs JOIN calls c ON c.id = cs.call_id
           WHERE cs.rep_id = %s AND cs.started_at >= %s AND cs.started_at < %s""",
        (rep_id, start, end),
    ).fetchall()


def _metrics(calls: list[Row], figures: WonDealFigures | None = None) -> list[MetricCheck]:
    """The week's conversation metrics against the company's won deals' middle half when
    `figures` has it, else against the vendors' pooled benchmarks (so labelled)."""

    def avg(key: str, rows: list[Row]) -> float | None:
        values = [r["metrics"][key] for r in rows if r["metrics"] and key in r["metrics"]]
        return round(sum(values) / len(values), 2) if values else None

    def check(
        name: str, value: float | None, benchmark: str, ok: Callable[[float], bool]
    ) -> MetricCheck:
        return MetricCheck(
            name=name, value=value, benchmark=benchmark, within=None if value is None else ok(value)
        )

    discovery = [c for c in calls if "discovery" in c["title"].lower()]
    talk = figures.talk_ratio_won if figures else None
    questions = figures.questions_won if figures else None
    return [
        check(
            "Talk ratio (rep share)",
            avg("talk_ratio_rep", calls),
            *_benchmark(
                talk,
                figures.talk_ratio_lost if figures else None,
                _percent,
                f"about 43% ({VENDORS})",
                TALK_RATIO_TARGET,
            ),
        ),
        check(
            "Questions per discovery call",
            avg("rep_questions", discovery),
            *_benchmark(
                questions,
                figures.questions_lost if figures else None,
                _count,
                f"11-14 ({VENDORS})",
                QUESTIONS_TARGET,
            ),
        ),
        check(
            "Longest monologue (s)",
            avg("longest_monologue_s", calls),
            "under 150 s",
            lambda v: v < 150,
        ),
        check(
            "Patience before answering (s)",
            avg("patience_s", calls),
            "about 1.5 s",
            lambda v: v >= 1.0,
        ),
    ]


def _benchmark(
    won: Spread | None,
    lost: Spread | None,
    show: Callable[[Spread], str],
    vendors: str,
    target: tuple[float, float],
) -> tuple[str, Callable[[float], bool]]:
    """(the benchmark's text, whether a value is within it): the middle half of the won deals'
    calls here (the lost deals' beside it), else the vendors' figure."""
    if won is None:
        return vendors, lambda v: target[0] <= v <= target[1]
    text = f"won deals here: {show(won)}" + (f" (lost: {show(lost)})" if lost else "")
    return text, lambda v: won.low <= v <= won.high


def _percent(s: Spread) -> str:
    return f"{100 * s.low:.0f}-{100 * s.high:.0f}%"


def _count(s: Spread) -> str:
    def n(x: float) -> str:
        return f"{x:.1f}".removesuffix(".0")

    return f"{n(s.low)}-{n(s.high)}"


def rep_report(
    conn: psycopg.Connection[Row],
    rep: Row,
    week_start: date,
    tz: str,
    noise: Noise | None = None,
    validity: Validity | None = None,
    default_role: str = roles.DEFAULT_ROLE,
) -> RepReport:
    """A rep's week, with the rep's job role at its end; `validity` (the company's closed
    deals) sets the talk-ratio and questions benchmarks to its won deals' figures once there
    are enough (else vendors')."""
    start, end = week_bounds(week_start, tz)
    this_week, previous = week_and_before(conn, [rep["id"]], start, end)
    calls, now = this_week.get(rep["id"], (0, {}))
    before = previous.get(rep["id"], {})
    refs = scored_calls(conn, rep["id"], start, end)
    changes, held = week_changes(conn, rep["id"], start, end, noise or noise_mod.current(conn))
    return RepReport(
        rep_id=rep["id"],
        rep_name=rep["name"],
        manager_id=rep["manager_id"],
        week_start=week_start,
        job_role=roles.role_at(conn, rep["id"], end - timedelta(microseconds=1), default_role),
        calls=calls,
        scores=now,
        previous=before,
        change={d: changes[d].change for d in DIMENSIONS},
        within_noise={d: changes[d].within_noise for d in DIMENSIONS},
        held=held,
        trend=_trend(conn, [rep["id"]], start, tz),
        metrics=_metrics(
            _call_metrics(conn, rep["id"], start, end), validity.figures if validity else None
        ),
        best_call=refs[0] if refs else None,
        weakest_call=refs[-1] if len(refs) > 1 else None,
        strengths=recurring(conn, rep["id"], start, end, "strengths", top=3, min_calls=1),
        improvements=recurring(conn, rep["id"], start, end, "improvements", top=3, min_calls=1),
    )


def reps_with_calls(conn: psycopg.Connection[Row], week_start: date, tz: str) -> list[Row]:
    start, end = week_bounds(week_start, tz)
    return conn.execute(
        """SELECT u.id, u.name, u.manager_id FROM users u
           WHERE u.deleted_at IS NULL AND EXISTS (
               SELECT 1 FROM call_scores cs WHERE cs.rep_id = u.id
                 AND cs.started_at >= %s AND cs.started_at < %s)
           ORDER BY u.name""",
        (start, end),
    ).fetchall()


def team_report(
    conn: psycopg.Connection[Row],
    manager: Row,
    reps: list[RepReport],
    week_start: date,
    tz: str,
    validity: Validity | None = None,
) -> TeamReport:
    """A manager's team's week, its reps grouped by job role (compared within a role only);
    with `validity`, the leadership section over the closed deals owned by the reps in the
    manager's scope (their team, all the way down)."""
    start, end = week_bounds(week_start, tz)
    rep_ids = [r.rep_id for r in reps]
    window = Filters(start=(start - timedelta(weeks=3)).date(), end=end.date(), rep_ids=rep_ids)
    result = agreement(conn, window, bootstrap=200)
    held, held_total = held_for_review(conn, rep_ids, end)
    return TeamReport(
        manager_id=manager["id"],
        manager_name=manager["name"],
        week_start=week_start,
        reps=sorted(reps, key=lambda r: r.job_role),  # stable: by name within a role
        trend=_trend(conn, rep_ids, start, tz),
        agreement=result if result["ai_vs_manager"]["overall"]["n"] else None,
        disputes=disputes.listed(conn, rep_ids, "open"),
        closed_deals=deals.closed_between(
            conn, week_start, week_start + timedelta(days=7), set(rep_ids)
        ),
        held=held,
        held_total=held_total,
        leadership=leadership(validity, _scope(conn, manager)) if validity else None,
    )


def _scope(conn: psycopg.Connection[Row], manager: Row) -> AbstractSet[str]:
    """The reps in the manager's scope, as the MCP tools see it (their team, every level)."""
    return visible_reps(conn, Caller(manager["id"], manager["name"], "manager")) or set()


def leadership(validity: Validity, team: AbstractSet[str]) -> Leadership:
    """Which criteria go clearly with won (or lost) deals owned by `team`'s reps, or how many
    more closed deals are needed before anything is said."""
    rows = [r for r in validity.rows if r.rep_id in team]
    report = analyse(rows, validity.min_deals)
    reps = len({r.rep_id for r in rows})
    answer = read_report(report, reps, validity.min_deals, "team")
    top = strongest(answer, LEADERSHIP_TOP)
    if not report.enough_deals:
        line = (
            f"too few closed deals: {report.deals} of {validity.min_deals},"
            f" {report.more_needed} more needed"
        )
    else:
        tested = sum(c.odds_ratio is not None for c in answer.criteria)
        line = (
            f"{report.deals} closed deals of {reps} reps, {report.won} won: {len(top)} of"
            f" {tested} criteria clearly go with winning or losing (95% interval excludes 1,"
            " q < 0.10)"
        )
    return Leadership(
        enough_deals=report.enough_deals,
        deals=report.deals,
        won=report.won,
        reps=reps,
        min_deals=validity.min_deals,
        more_needed=report.more_needed,
        line=line,
        caveat=answer.caveat,
        top=top,
    )
