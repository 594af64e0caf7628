"""Rep and team performance over time, from current coaching sessions. Pydantic results."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from pydantic import BaseModel

from common.coaching import CURRENT
from common.db import Row
from common.transcript import normalise


class WeekScores(BaseModel):
    week: date
    calls: int
    scores: dict[str, float]


class CallScore(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    average: float


class RepPerformance(BaseModel):
    rep_id: str
    rep_name: str
    weeks: list[WeekScores]
    averages: dict[str, float]
    trend_per_week: dict[str, float]  # least-squares slope of the weekly averages
    best_calls: list[CallScore]
    worst_calls: list[CallScore]
    recurring_improvements: list[tuple[str, int]]


class RepWeek(BaseModel):
    rep_id: str
    rep_name: str
    calls: int
    scores: dict[str, float]
    previous_4_weeks: dict[str, float]
    change: float | None  # overall average against the previous four weeks


class TeamOverview(BaseModel):
    week: date
    reps: list[RepWeek]
    improved: list[str]
    needs_help: list[str]


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return round(sum((x - mx) * (y - my) for x, y in points) / var, 3) if var else 0.0


def rep_performance(
    conn: psycopg.Connection[Row], rep_id: str, weeks: int, now: datetime
) -> RepPerformance:
    since = now - timedelta(weeks=weeks)
    rows = conn.execute(
        f"""
        SELECT date_trunc('week', c.started_at)::date AS week, s.dimension,
               avg(s.overall_score)::float AS score, count(DISTINCT c.id) AS calls
        FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
        WHERE s.rep_id = %s AND {CURRENT} AND c.started_at >= %s AND c.started_at < %s
        GROUP BY 1, 2 ORDER BY 1
        """,
        (rep_id, since, now),
    ).fetchall()
    by_week: dict[date, WeekScores] = {}
    for r in rows:
        wk = by_week.setdefault(r["week"], WeekScores(week=r["week"], calls=0, scores={}))
        wk.scores[r["dimension"]] = round(r["score"], 2)
        wk.calls = max(wk.calls, r["calls"])
    dims = sorted({r["dimension"] for r in rows})
    first = min(by_week) if by_week else now.date()
    trend = {
        d: _slope(
            [((w.week - first).days / 7, w.scores[d]) for w in by_week.values() if d in w.scores]
        )
        for d in dims
    }
    calls = _call_scores(conn, rep_id, since, now)
    name = conn.execute("SELECT name FROM users WHERE id = %s", (rep_id,)).fetchone()
    return RepPerformance(
        rep_id=rep_id,
        rep_name=name["name"] if name else rep_id,
        weeks=list(by_week.values()),
        averages=averages(conn, [rep_id], since, now).get(rep_id, {}),
        trend_per_week=trend,
        best_calls=calls[:3],
        worst_calls=calls[::-1][:3],
        recurring_improvements=_recurring(conn, rep_id, since, now),
    )


def _call_scores(
    conn: psycopg.Connection[Row], rep_id: str, since: datetime, now: datetime
) -> list[CallScore]:
    rows = conn.execute(
        f"""
        SELECT c.id, c.title, c.started_at, avg(s.overall_score)::float AS average
        FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
        WHERE s.rep_id = %s AND {CURRENT} AND c.started_at >= %s AND c.started_at < %s
        GROUP BY c.id ORDER BY average DESC, c.started_at DESC
        """,
        (rep_id, since, now),
    ).fetchall()
    return [
        CallScore(
            call_id=r["id"],
            title=r["title"],
            started_at=r["started_at"],
            average=round(r["average"], 2),
        )
        for r in rows
    ]


def _recurring(
    conn: psycopg.Connection[Row], rep_id: str, since: datetime, now: datetime
) -> list[tuple[str, int]]:
    rows = conn.execute(
        f"""
        SELECT jsonb_array_elements_text(s.result->'improvements') AS item
        FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
        WHERE s.rep_id = %s AND {CURRENT} AND c.started_at >= %s AND c.started_at < %s
        """,
        (rep_id, since, now),
    ).fetchall()
    counts: Counter[str] = Counter()
    first_form: dict[str, str] = {}
    for r in rows:
        key = normalise(r["item"])
        first_form.setdefault(key, r["item"])
        counts[key] += 1
    return [(first_form[k], n) for k, n in counts.most_common(5) if n > 1]


def averages(
    conn: psycopg.Connection[Row], rep_ids: list[str], since: datetime, until: datetime
) -> dict[str, dict[str, float]]:
    """Per rep, per dimension: the average current score of calls started in [since, until)."""
    rows = conn.execute(
        f"""
        SELECT s.rep_id, s.dimension, avg(s.overall_score)::float AS score
        FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
        WHERE s.rep_id = ANY(%s) AND {CURRENT} AND c.started_at >= %s AND c.started_at < %s
        GROUP BY 1, 2
        """,
        (rep_ids, since, until),
    ).fetchall()
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["rep_id"], {})[r["dimension"]] = round(r["score"], 2)
    return out


def _mean(scores: dict[str, float]) -> float | None:
    return round(sum(scores.values()) / len(scores), 2) if scores else None


def team_overview(conn: psycopg.Connection[Row], rep_ids: list[str], week: date) -> TeamOverview:
    start = datetime.combine(week, datetime.min.time()).astimezone()
    end = start + timedelta(weeks=1)
    this_week = averages(conn, rep_ids, start, end)
    before = averages(conn, rep_ids, start - timedelta(weeks=4), start)
    counts = {
        r["rep_id"]: r["n"]
        for r in conn.execute(
            "SELECT primary_user_id AS rep_id, count(*) AS n FROM calls WHERE primary_user_id = ANY(%s)"
            " AND started_at >= %s AND started_at < %s AND transcript_hash IS NOT NULL GROUP BY 1",
            (rep_ids, start, end),
        ).fetchall()
    }
    names = {  # reps, and managers only for weeks they sold themselves
        r["id"]: r["name"]
        for r in conn.execute(
            "SELECT id, name, role FROM users WHERE id = ANY(%s)", (rep_ids,)
        ).fetchall()
        if r["role"] == "rep" or counts.get(r["id"])
    }
    reps = []
    for rep_id in sorted(names, key=lambda i: names[i]):
        now_avg, then_avg = _mean(this_week.get(rep_id, {})), _mean(before.get(rep_id, {}))
        change = (
            round(now_avg - then_avg, 2) if now_avg is not None and then_avg is not None else None
        )
        reps.append(
            RepWeek(
                rep_id=rep_id,
                rep_name=names[rep_id],
                calls=counts.get(rep_id, 0),
                scores=this_week.get(rep_id, {}),
                previous_4_weeks=before.get(rep_id, {}),
                change=change,
            )
        )
    improved = [
        r.rep_name for r in sorted(reps, key=lambda r: -(r.change or 0)) if (r.change or 0) >= 0.25
    ]
    needs_help = [
        r.rep_name for r in reps if (r.change or 0) <= -0.25 or (_mean(r.scores) or 5) < 2.5
    ]
    return TeamOverview(week=week, reps=reps, improved=improved, needs_help=needs_help)


def compare(
    conn: psycopg.Connection[Row],
    rep_ids: list[str],
    since: datetime,
    until: datetime,
    dimension: str | None,
) -> dict[str, Any]:
    scores = averages(conn, rep_ids, since, until)
    if dimension:
        scores = {r: {dimension: s[dimension]} for r, s in scores.items() if dimension in s}
    ranking = sorted(scores, key=lambda r: -(_mean(scores[r]) or 0))
    return {"averages": scores, "ranking": ranking}
