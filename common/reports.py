"""Weekly reviews: per-rep and per-team numbers for a week, from current coaching sessions.

A week runs Monday 00:00 to Monday 00:00 in the report time zone. "Previous" means the four
weeks before it. Benchmarks peers report: talk ratio near 43:57 (rep:customer), 11-14
questions on discovery calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from pydantic import BaseModel

from common.accuracy.pairs import Filters, agreement
from common.coaching import CURRENT
from common.config import DIMENSIONS
from common.db import Row
from common.performance import averages
from common.transcript import normalise

TALK_RATIO_TARGET = (0.35, 0.52)  # around 43% rep
QUESTIONS_TARGET = (11, 14)


class Evidence(BaseModel):
    text: str
    dimension: str
    quote: str | None
    speaker: str | None
    timestamp: str | None
    link: str | None
    count: int


class CallRef(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    average: float
    url: str | None


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


def week_bounds(week_start: date, tz: str) -> tuple[datetime, datetime]:
    start = datetime.combine(week_start, datetime.min.time(), tzinfo=ZoneInfo(tz))
    return start, start + timedelta(weeks=1)


def previous_week(now: datetime, tz: str) -> date:
    """The Monday of the last complete week in `tz`."""
    local = now.astimezone(ZoneInfo(tz)).date()
    return local - timedelta(days=local.weekday() + 7)


def _trend(
    conn: psycopg.Connection[Row], rep_ids: list[str], start: datetime, tz: str
) -> dict[str, list[tuple[str, float | None]]]:
    """Weekly averages per dimension over the 8 weeks ending with this one."""
    weeks = [(start - timedelta(weeks=7 - i)) for i in range(8)]
    series: dict[str, list[tuple[str, float | None]]] = {d: [] for d in DIMENSIONS}
    for wk in weeks:
        scores = averages(conn, rep_ids, wk, wk + timedelta(weeks=1))
        for d in DIMENSIONS:
            values = [s[d] for s in scores.values() if d in s]
            series[d].append(
                (wk.strftime("%d %b"), round(sum(values) / len(values), 2) if values else None)
            )
    return series


def _calls(conn: psycopg.Connection[Row], rep_id: str, start: datetime, end: datetime) -> list[Row]:
    return conn.execute(
        f"""SELECT c.id, c.title, c.started_at, c.url, c.metrics, avg(s.overall_score)::float AS average
            FROM calls c JOIN coaching_sessions s ON s.call_id = c.id AND {CURRENT}
            WHERE c.primary_user_id = %s AND c.started_at >= %s AND c.started_at < %s
            GROUP BY c.id ORDER BY average DESC, c.started_at""",
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


def _evidence(
    conn: psycopg.Connection[Row], rep_id: str, start: datetime, end: datetime
) -> tuple[list[Evidence], list[Evidence]]:
    """Top three strengths and improvements, each with a verbatim quote from the same session."""
    rows = conn.execute(
        f"""SELECT s.dimension, s.result FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
            WHERE s.rep_id = %s AND {CURRENT} AND c.started_at >= %s AND c.started_at < %s""",
        (rep_id, start, end),
    ).fetchall()
    found: dict[str, dict[str, Evidence]] = {"strengths": {}, "improvements": {}}
    counts: dict[str, Counter[str]] = {"strengths": Counter(), "improvements": Counter()}
    for r in rows:
        criteria = sorted(r["result"]["criteria"], key=lambda c: c["score"])
        for kind, criterion in (("strengths", criteria[-1]), ("improvements", criteria[0])):
            ev = criterion["evidence"][0] if criterion["evidence"] else None
            for text in r["result"][kind]:
                key = normalise(text)
                counts[kind][key] += 1
                if key not in found[kind] or (found[kind][key].quote is None and ev):
                    found[kind][key] = Evidence(
                        text=text,
                        dimension=r["dimension"],
                        quote=ev["quote"] if ev else None,
                        speaker=ev["speaker"] if ev else None,
                        timestamp=ev["timestamp"] if ev else None,
                        link=ev["link"] if ev else None,
                        count=0,
                    )
    top = {}
    for kind in found:
        top[kind] = [
            found[kind][k].model_copy(update={"count": n}) for k, n in counts[kind].most_common(3)
        ]
    return top["strengths"], top["improvements"]


def rep_report(conn: psycopg.Connection[Row], rep: Row, week_start: date, tz: str) -> RepReport:
    start, end = week_bounds(week_start, tz)
    now = averages(conn, [rep["id"]], start, end).get(rep["id"], {})
    before = averages(conn, [rep["id"]], start - timedelta(weeks=4), start).get(rep["id"], {})
    calls = _calls(conn, rep["id"], start, end)
    refs = [
        CallRef(
            call_id=c["id"],
            title=c["title"],
            started_at=c["started_at"],
            average=round(c["average"], 2),
            url=c["url"],
        )
        for c in calls
    ]
    strengths, improvements = _evidence(conn, rep["id"], start, end)
    return RepReport(
        rep_id=rep["id"],
        rep_name=rep["name"],
        manager_id=rep["manager_id"],
        week_start=week_start,
        calls=len(calls),
        scores=now,
        previous=before,
        change={
            d: round(now[d] - before[d], 2) if d in now and d in before else None
            for d in DIMENSIONS
        },
        trend=_trend(conn, [rep["id"]], start, tz),
        metrics=_metrics(calls),
        best_call=refs[0] if refs else None,
        weakest_call=refs[-1] if len(refs) > 1 else None,
        strengths=strengths,
        improvements=improvements,
    )


def reps_with_calls(conn: psycopg.Connection[Row], week_start: date, tz: str) -> list[Row]:
    start, end = week_bounds(week_start, tz)
    return conn.execute(
        f"""SELECT DISTINCT u.id, u.name, u.manager_id FROM users u
            JOIN coaching_sessions s ON s.rep_id = u.id AND {CURRENT}
            JOIN calls c ON c.id = s.call_id AND c.started_at >= %s AND c.started_at < %s
            WHERE u.deleted_at IS NULL ORDER BY u.name""",
        (start, end),
    ).fetchall()


def team_report(
    conn: psycopg.Connection[Row], manager: Row, reps: list[RepReport], week_start: date, tz: str
) -> TeamReport:
    start, end = week_bounds(week_start, tz)
    rep_ids = [r.rep_id for r in reps]
    window = Filters(start=(start - timedelta(weeks=3)).date(), end=end.date(), rep_ids=rep_ids)
    result = agreement(conn, window, bootstrap=200)
    return TeamReport(
        manager_id=manager["id"],
        manager_name=manager["name"],
        week_start=week_start,
        reps=reps,
        trend=_trend(conn, rep_ids, start, tz),
        agreement=result if result["ai_vs_manager"]["overall"]["n"] else None,
    )
