"""Weekly reviews: per-rep and per-team numbers for a week, from the read model
(`common.insights`) that the MCP tools use too.

A week runs Monday 00:00 to Monday 00:00 in the report time zone (`insights.week`).
"Previous" means the four weeks before it. Benchmarks peers report: talk ratio near 43:57 (rep:customer), 11-14
questions on discovery calls.

Only shown scores are counted (a manager's word, else a published AI score): a dimension
held for review is in no number here; the rep's report counts them and the team's lists
them. A change against the previous four weeks that run-to-run noise explains for that many
calls is marked as such (`within_noise`), never shown as a rise or a fall.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from pydantic import BaseModel

from common import deals
from common.accuracy import disputes
from common.accuracy.disputes import DisputeOut
from common.accuracy.pairs import Filters, agreement
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
from common.insights.week import previous_week, week_bounds

__all__ = ["previous_week", "week_bounds"]

TALK_RATIO_TARGET = (0.35, 0.52)  # around 43% rep
QUESTIONS_TARGET = (11, 14)


Evidence = Recurring  # a strength or improvement, how often, one quote
CallRef = CallScore


class MetricCheck(BaseModel):
    name: str
    value: float | None
    benchmark: str
    within: bool | None


class RepReport(BaseModel):
    rep_id: str
    rep_name: str
    manager_id: str | None
    week_start: date
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
    reps: list[RepReport]
    trend: dict[str, list[tuple[str, float | None]]]
    agreement: dict[str, Any] | None = None  # AI vs managers over the last four weeks
    disputes: list[DisputeOut] = []  # the team's open disputes, oldest first
    closed_deals: list[ClosedDeal] = []  # deals won or lost this week, with the team's calls
    held: list[HeldScore] = []  # dimensions held for review now, oldest call first
    held_total: int = 0


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


def _metrics(calls: list[Row]) -> list[MetricCheck]:
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
    return [
        check(
            "Talk ratio (rep share)",
            avg("talk_ratio_rep", calls),
            "about 43%",
            lambda v: TALK_RATIO_TARGET[0] <= v <= TALK_RATIO_TARGET[1],
        ),
        check(
            "Questions per discovery call",
            avg("rep_questions", discovery),
            "11-14",
            lambda v: QUESTIONS_TARGET[0] <= v <= QUESTIONS_TARGET[1],
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


def rep_report(
    conn: psycopg.Connection[Row], rep: Row, week_start: date, tz: str, noise: Noise | None = None
) -> RepReport:
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
        calls=calls,
        scores=now,
        previous=before,
        change={d: changes[d].change for d in DIMENSIONS},
        within_noise={d: changes[d].within_noise for d in DIMENSIONS},
        held=held,
        trend=_trend(conn, [rep["id"]], start, tz),
        metrics=_metrics(_call_metrics(conn, rep["id"], start, end)),
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
    conn: psycopg.Connection[Row], manager: Row, reps: list[RepReport], week_start: date, tz: str
) -> TeamReport:
    start, end = week_bounds(week_start, tz)
    rep_ids = [r.rep_id for r in reps]
    window = Filters(start=(start - timedelta(weeks=3)).date(), end=end.date(), rep_ids=rep_ids)
    result = agreement(conn, window, bootstrap=200)
    held, held_total = held_for_review(conn, rep_ids, end)
    return TeamReport(
        manager_id=manager["id"],
        manager_name=manager["name"],
        week_start=week_start,
        reps=reps,
        trend=_trend(conn, rep_ids, start, tz),
        agreement=result if result["ai_vs_manager"]["overall"]["n"] else None,
        disputes=disputes.listed(conn, rep_ids, "open"),
        closed_deals=deals.closed_between(
            conn, week_start, week_start + timedelta(days=7), set(rep_ids)
        ),
        held=held,
        held_total=held_total,
    )
