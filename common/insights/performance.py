"""Rep and team performance from the per-call read model (`call_scores`), one definition for
MCP and the weekly reports: per-dimension averages of current scores of calls started in a
range, the previous four weeks as the baseline, best and weakest calls by average score,
recurring improvements (the same advice on more than one call).

`call_scores` holds only shown scores (a manager's word, else a published AI score): a
dimension held for review enters no average here, and is counted as held instead. A change
against the previous four weeks that run-to-run noise explains (`noise`) is called that, not
an improvement or a decline.

Reps are ranked and compared only within a job role (`common.calls.roles`): an SE's scores are
on other rubrics than an AE's. A call counts under the role its rep had when it started, so a
rep whose role changed is two lines (one per role), each against its own previous weeks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import NamedTuple

import psycopg
from psycopg.rows import tuple_row
from pydantic import BaseModel, Field

from common.calls import roles
from common.calls.transcript import normalise
from common.config import DIMENSIONS
from common.db import Row
from common.insights import noise as noise_mod
from common.insights.links import safe_link
from common.insights.noise import Noise
from common.insights.week import week_bounds

# rounded in SQL, the same way everywhere (the reports, MCP and the weekly numbers agree)
_DIM_AVGS = ", ".join(f"round(avg({d}), 2)::float AS {d}" for d in DIMENSIONS)


class RepRef(BaseModel):
    rep_id: str
    rep_name: str
    job_role: str | None = Field(default=None, description="The job role the rep is ranked within")


class WeekScores(BaseModel):
    week: date = Field(description="Monday of the week (REPORT_TIMEZONE)")
    calls: int
    scores: dict[str, float]


class CallScore(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    average: float
    url: str | None = None


class Recurring(BaseModel):
    text: str
    calls: int = Field(description="How many sessions gave this")
    dimension: str
    quote: str | None = None
    speaker: str | None = None
    timestamp: str | None = None
    link: str | None = Field(None, description="Gong link to the moment quoted")


class RepPerformance(BaseModel):
    rep_id: str
    rep_name: str
    job_role: str | None = Field(
        default=None, description="The rep's job role at the end of the range"
    )
    weeks: list[WeekScores]
    averages: dict[str, float]
    trend_per_week: dict[str, float] = Field(
        description="Least-squares slope of the weekly averages (points per week)"
    )
    best_calls: list[CallScore]
    weakest_calls: list[CallScore]
    recurring_improvements: list[Recurring]
    held: int = Field(default=0, description="Dimensions held for review (in no average or trend)")


class RepWeek(BaseModel):
    rep_id: str
    rep_name: str
    job_role: str = Field(
        roles.DEFAULT_ROLE, description="Job role of these calls: the rep is ranked within it"
    )
    calls: int
    scores: dict[str, float]
    previous_4_weeks: dict[str, float]
    change: float | None = Field(description="Overall average against the previous four weeks")
    within_noise: bool | None = Field(
        default=None,
        description="True: the change is within run-to-run noise for this many calls (re-scoring"
        " the same calls could move it as much), so neither an improvement nor a decline;"
        " null when noise is not measured or there is no change",
    )
    held: int = Field(default=0, description="Dimensions of this week's calls held for review")


LISTED = 20  # reps named in improved / needs_help per job role; the totals count them all


class TeamOverview(BaseModel):
    week: date
    reps: list[RepWeek] = Field(
        description="This page of the team, by job role, then name (a rep whose role changed"
        " this week has a line per role)"
    )
    reps_total: int = Field(description="Lines in the team view (pages: offset and limit)")
    job_roles: dict[str, int] = Field(
        default={},
        description="Lines per job role: reps are ranked within their role only (an SE never"
        " against AEs), and improved / needs_help list each role's reps in turn",
    )
    calls: int = Field(description="Analysed calls of the whole team view this week")
    improved: list[RepRef] = Field(
        description=f"By job role; within a role most improved first (up to {LISTED} a role)"
    )
    improved_total: int = Field(
        description="Reps up 0.25 or more on their previous 4 weeks, beyond run-to-run noise"
    )
    needs_help: list[RepRef] = Field(
        description=f"By job role; within a role lowest average first (up to {LISTED} a role)"
    )
    needs_help_total: int = Field(
        description="Reps with calls this week down 0.25 or more (beyond run-to-run noise),"
        " or averaging under 2.5"
    )
    within_noise: list[RepRef] = Field(
        default=[],
        description="Up or down 0.25 or more, but within run-to-run noise (by job role, up to"
        f" {LISTED} a role)",
    )
    within_noise_total: int = 0
    held: int = Field(
        default=0, description="Dimensions of the team's calls this week held for review"
    )


class HeldScore(BaseModel):
    """A dimension held for review: no score until a manager confirms or changes it."""

    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    dimension: str
    ai_suggestion: float | None = Field(description="The AI's suggestion: not a score")
    review_reasons: list[str]
    url: str | None = None


class RepComparison(BaseModel):
    rank: int = Field(description="Within the job role: reps of other roles are not ranked here")
    rep_id: str
    rep_name: str
    job_role: str = Field(
        roles.DEFAULT_ROLE, description="Job role of these calls (the rubrics they are scored on)"
    )
    calls: int
    average: float | None
    scores: dict[str, float]
    held: int = Field(default=0, description="Dimensions held for review (in no average)")


class Comparison(BaseModel):
    since: datetime
    until: datetime
    dimension: str | None
    reps: list[RepComparison] = Field(description="By job role, ranked within each role")
    split_by_role: str | None = Field(
        None,
        description="Set when the reps are in more than one job role: they are ranked within"
        " each role only, never across",
    )


def _scores(row: Row) -> dict[str, float]:
    return {d: row[d] for d in DIMENSIONS if row[d] is not None}


def _mean(scores: dict[str, float]) -> float | None:
    return round(sum(scores.values()) / len(scores), 2) if scores else None


def averages(
    conn: psycopg.Connection[Row], rep_ids: list[str], since: datetime, until: datetime
) -> dict[str, dict[str, float]]:
    """Per rep, per dimension: the average current score of calls started in [since, until)."""
    return {rep: scores for rep, (_, scores) in rep_totals(conn, rep_ids, since, until).items()}


def rep_totals(
    conn: psycopg.Connection[Row], rep_ids: list[str], since: datetime, until: datetime
) -> dict[str, tuple[int, dict[str, float]]]:
    """Per rep: (analysed calls, per-dimension averages) for calls started in [since, until)."""
    rows = conn.execute(
        f"""SELECT rep_id, count(*) AS calls, {_DIM_AVGS} FROM call_scores
            WHERE rep_id = ANY(%b) AND started_at >= %s AND started_at < %s GROUP BY rep_id""",
        (rep_ids, since, until),
    ).fetchall()
    return {r["rep_id"]: (r["calls"], _scores(r)) for r in rows}


def held_counts(
    conn: psycopg.Connection[Row], rep_ids: list[str], since: datetime, until: datetime
) -> dict[str, int]:
    """Per rep: dimensions of calls started in [since, until) held for review."""
    rows = conn.execute(
        """SELECT rep_id, sum(held)::int AS held FROM call_scores
            WHERE rep_id = ANY(%b) AND started_at >= %s AND started_at < %s AND held > 0
            GROUP BY rep_id""",
        (rep_ids, since, until),
    ).fetchall()
    return {r["rep_id"]: r["held"] for r in rows}


def held_for_review(
    conn: psycopg.Connection[Row], rep_ids: list[str], until: datetime, limit: int = 50
) -> tuple[list[HeldScore], int]:
    """The reps' dimensions held for review now, of calls started before `until`, oldest
    call first (up to `limit`), and how many there are."""
    rows = conn.execute(
        """SELECT v.call_id, cs.title, cs.started_at, cs.rep_id, u.name AS rep_name, v.dimension,
                  v.ai_score::float AS ai_suggestion, v.review_reasons, c.url,
                  count(*) OVER () AS total
           FROM call_scores cs JOIN shown_scores v ON v.call_id = cs.call_id
           JOIN calls c ON c.id = cs.call_id LEFT JOIN users u ON u.id = cs.rep_id
           WHERE cs.rep_id = ANY(%s) AND cs.held > 0 AND cs.started_at < %s AND v.held
           ORDER BY cs.started_at, cs.call_id, v.dimension LIMIT %s""",
        (rep_ids, until, limit),
    ).fetchall()
    held = [
        HeldScore.model_validate(r | {"review_reasons": [str(x) for x in r["review_reasons"]]})
        for r in rows
    ]
    return held, int(rows[0]["total"]) if rows else 0


class _Weeks(NamedTuple):
    """A rep's week and the four weeks before it: calls, and the per-dimension averages in
    `DIMENSIONS` order (None where no call scored the dimension)."""

    calls: int
    calls_before: int
    now: tuple[float | None, ...]
    before: tuple[float | None, ...]
    n_now: tuple[int, ...] = ()  # calls with a shown score, per dimension
    n_before: tuple[int, ...] = ()
    held: int = 0  # dimensions held for review this week


def _scores_of(averages: tuple[float | None, ...]) -> dict[str, float]:
    return {d: v for d, v in zip(DIMENSIONS, averages, strict=True) if v is not None}


def _mean_of(averages: tuple[float | None, ...]) -> float | None:
    """`_mean` of the averages without building their dict (1,000 reps a team)."""
    present = [v for v in averages if v is not None]
    return round(sum(present) / len(present), 2) if present else None


def _week_rows(
    conn: psycopg.Connection[Row],
    rep_ids: list[str],
    start: datetime,
    end: datetime,
    default_role: str | None = None,
) -> dict[tuple[str, str | None], _Weeks]:
    """Each rep's `_Weeks` for the week [start, end), in one pass over the five weeks, keyed
    (rep, None); with `default_role`, keyed (rep, job role at the call): a rep whose role
    changed has a row per role (`default_role` for a rep with no role recorded). Rounded in
    SQL and read as tuples: a team of 1,000 reps is 1,000 rows, and building dicts and
    rounding in Python cost more than the query."""
    week = "cs.started_at >= %(start)s"
    dims = ", ".join(
        f"round(avg({d}) FILTER (WHERE {week}), 2)::float,"
        f" round(avg({d}) FILTER (WHERE NOT {week}), 2)::float,"
        f" count({d}) FILTER (WHERE {week}), count({d}) FILTER (WHERE NOT {week})"
        for d in DIMENSIONS
    )
    role, join = "NULL::text", ""
    if default_role is not None:
        role = "coalesce(jr.job_role, %(default)s)"
        join = roles.ROLE_AT_CALL.format(rep="cs.rep_id", at="cs.started_at")
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            f"""SELECT cs.rep_id, {role}, count(*) FILTER (WHERE {week}),
                       count(*) FILTER (WHERE NOT {week}),
                       coalesce(sum(held) FILTER (WHERE {week}), 0)::int, {dims}
                FROM call_scores cs {join} WHERE cs.rep_id = ANY(%(reps)b)
                  AND cs.started_at >= %(since)s AND cs.started_at < %(end)s GROUP BY 1, 2""",
            {
                "reps": rep_ids,
                "start": start,
                "end": end,
                "since": start - timedelta(weeks=4),
                "default": default_role,
            },
        ).fetchall()
    return {
        (rep_id, job_role): _Weeks(
            calls,
            before,
            tuple(v[0::4]),
            tuple(v[1::4]),
            tuple(v[2::4]),
            tuple(v[3::4]),
            held,
        )
        for rep_id, job_role, calls, before, held, *v in rows
    }


def _by_rep(rows: dict[tuple[str, str | None], _Weeks]) -> dict[str, _Weeks]:
    """`_week_rows` without roles, keyed by rep."""
    return {rep_id: w for (rep_id, _), w in rows.items()}


def _overall_within_noise(w: _Weeks, change: float | None, noise: Noise) -> bool | None:
    """Is the change of the rep's overall average (the mean of the dimensions both periods
    scored) within run-to-run noise? Counted over the fewest calls any of them had."""
    both = [
        i
        for i, (a, b) in enumerate(zip(w.now, w.before, strict=True))
        if a is not None and b is not None
    ]
    if change is None or not both or not w.n_now:
        return None
    sd = noise.sd_of_mean(DIMENSIONS[i] for i in both)
    n1, n2 = min(w.n_now[i] for i in both), min(w.n_before[i] for i in both)
    return noise_mod.within(change, sd, n1, n2)


def week_and_before(
    conn: psycopg.Connection[Row], rep_ids: list[str], start: datetime, end: datetime
) -> tuple[dict[str, tuple[int, dict[str, float]]], dict[str, dict[str, float]]]:
    """`rep_totals` of the week [start, end) and `averages` of the four weeks before it, in
    one pass over the five weeks."""
    rows = _by_rep(_week_rows(conn, rep_ids, start, end))
    this_week = {r: (w.calls, _scores_of(w.now)) for r, w in rows.items() if w.calls}
    before = {r: _scores_of(w.before) for r, w in rows.items() if w.calls_before}
    return this_week, before


class DimensionChange(NamedTuple):
    """A dimension's week against the four weeks before: the change, how many calls each
    side averaged, and whether run-to-run noise explains it (None: cannot say)."""

    change: float | None
    calls: int
    calls_before: int
    within_noise: bool | None


def week_changes(
    conn: psycopg.Connection[Row],
    rep_id: str,
    start: datetime,
    end: datetime,
    noise: Noise | None = None,
) -> tuple[dict[str, DimensionChange], int]:
    """Per dimension, the rep's change this week against the four before, judged against
    run-to-run noise; and how many of the week's dimensions are held for review."""
    w = _week_rows(conn, [rep_id], start, end).get((rep_id, None), _NONE)
    noise = noise if noise is not None else noise_mod.current(conn)
    out = {}
    for i, d in enumerate(DIMENSIONS):
        now, then = w.now[i], w.before[i]
        change = round(now - then, 2) if now is not None and then is not None else None
        n1, n2 = w.n_now[i], w.n_before[i]
        out[d] = DimensionChange(change, n1, n2, noise_mod.within(change, noise.sd(d), n1, n2))
    return out, w.held


def weekly(
    conn: psycopg.Connection[Row], rep_ids: list[str], since: datetime, until: datetime, tz: str
) -> list[WeekScores]:
    """Per week (Mondays in `tz`), the reps' calls pooled: count and per-dimension averages."""
    rows = conn.execute(
        f"""SELECT date_trunc('week', started_at AT TIME ZONE %s)::date AS week,
                   count(*) AS calls, {_DIM_AVGS}
            FROM call_scores WHERE rep_id = ANY(%b) AND started_at >= %s AND started_at < %s
            GROUP BY 1 ORDER BY 1""",
        (tz, rep_ids, since, until),
    ).fetchall()
    return [WeekScores(week=r["week"], calls=r["calls"], scores=_scores(r)) for r in rows]


def scored_calls(
    conn: psycopg.Connection[Row], rep_id: str, since: datetime, until: datetime
) -> list[CallScore]:
    """The rep's analysed calls in the range, best average first."""
    rows = conn.execute(  # a call with no shown score (held or N/A throughout) has no average
        """SELECT cs.call_id, cs.title, cs.started_at, cs.average::float AS average, c.url
           FROM call_scores cs JOIN calls c ON c.id = cs.call_id
           WHERE cs.rep_id = %s AND cs.started_at >= %s AND cs.started_at < %s
             AND cs.average IS NOT NULL
           ORDER BY cs.average DESC, cs.started_at DESC""",
        (rep_id, since, until),
    ).fetchall()
    return [CallScore.model_validate(r) for r in rows]


def recurring(
    conn: psycopg.Connection[Row],
    rep_id: str,
    since: datetime,
    until: datetime,
    kind: str = "improvements",
    top: int = 5,
    min_calls: int = 2,
) -> list[Recurring]:
    """The rep's most repeated strengths or improvements in the range, each with a verbatim
    quote from a session that gave it (from its best criterion for a strength, its weakest
    for an improvement)."""
    assert kind in ("strengths", "improvements")
    rows = conn.execute(
        """SELECT s.dimension, s.result FROM call_scores cs
            JOIN current_sessions s ON s.call_id = cs.call_id
            WHERE cs.rep_id = %s AND cs.started_at >= %s AND cs.started_at < %s
            ORDER BY cs.started_at DESC, s.dimension""",
        (rep_id, since, until),
    ).fetchall()
    found: dict[str, Recurring] = {}
    counts: Counter[str] = Counter()
    for r in rows:
        criteria = sorted(
            (c for c in r["result"]["criteria"] if c["score"] is not None),  # N/A: no quote
            key=lambda c: c["score"],
        )
        criterion = (criteria[-1] if kind == "strengths" else criteria[0]) if criteria else None
        ev = criterion["evidence"][0] if criterion and criterion["evidence"] else None
        for text in r["result"][kind]:
            key = normalise(text)
            counts[key] += 1
            if key not in found or (found[key].quote is None and ev):
                found[key] = Recurring(
                    text=text,
                    calls=0,
                    dimension=r["dimension"],
                    quote=ev["quote"] if ev else None,
                    speaker=ev["speaker"] if ev else None,
                    timestamp=ev["timestamp"] if ev else None,
                    link=safe_link(ev["link"]) if ev else None,
                )
    return [
        found[k].model_copy(update={"calls": n})
        for k, n in counts.most_common(top)
        if n >= min_calls
    ]


def slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return round(sum((x - mx) * (y - my) for x, y in points) / var, 3) if var else 0.0


def rep_performance(
    conn: psycopg.Connection[Row],
    rep: RepRef,
    since: datetime,
    until: datetime,
    tz: str,
    default_role: str = roles.DEFAULT_ROLE,
) -> RepPerformance:
    weeks = weekly(conn, [rep.rep_id], since, until, tz)
    first = weeks[0].week if weeks else since.date()
    trend = {
        d: slope([((w.week - first).days / 7, w.scores[d]) for w in weeks if d in w.scores])
        for d in DIMENSIONS
        if any(d in w.scores for w in weeks)
    }
    calls = scored_calls(conn, rep.rep_id, since, until)
    return RepPerformance(
        rep_id=rep.rep_id,
        rep_name=rep.rep_name,
        job_role=roles.role_at(conn, rep.rep_id, until, default_role),
        weeks=weeks,
        averages=averages(conn, [rep.rep_id], since, until).get(rep.rep_id, {}),
        trend_per_week=trend,
        best_calls=calls[:3],
        weakest_calls=calls[::-1][:3] if len(calls) > 1 else [],
        recurring_improvements=recurring(conn, rep.rep_id, since, until),
        held=held_counts(conn, [rep.rep_id], since, until).get(rep.rep_id, 0),
    )


class _Line(NamedTuple):
    rep_id: str
    name: str
    weeks: _Weeks
    change: float | None
    average: float | None

    @property
    def ref(self) -> RepRef:
        return RepRef(rep_id=self.rep_id, rep_name=self.name, job_role=self.job_role)

    within_noise: bool | None = None
    job_role: str = roles.DEFAULT_ROLE

    def row(self) -> RepWeek:
        return RepWeek(
            rep_id=self.rep_id,
            rep_name=self.name,
            job_role=self.job_role,
            calls=self.weeks.calls,
            scores=_scores_of(self.weeks.now),
            previous_4_weeks=_scores_of(self.weeks.before),
            change=self.change,
            within_noise=self.within_noise,
            held=self.weeks.held,
        )

    @property
    def moved(self) -> bool:
        """Up or down by 0.25 or more, beyond run-to-run noise."""
        return abs(self.change or 0) >= 0.25 and self.within_noise is not True


_NONE = _Weeks(
    0,
    0,
    (None,) * len(DIMENSIONS),
    (None,) * len(DIMENSIONS),
    (0,) * len(DIMENSIONS),
    (0,) * len(DIMENSIONS),
)


def _by_role(rows: dict[tuple[str, str | None], _Weeks]) -> dict[str, dict[str, _Weeks]]:
    """rep -> job role -> weeks."""
    found: dict[str, dict[str, _Weeks]] = {}
    for (rep_id, role), weeks in rows.items():
        found.setdefault(rep_id, {})[str(role)] = weeks
    return found


def _rep_lines(mine: dict[str, _Weeks], role_at_end: str) -> list[tuple[str, _Weeks]]:
    """(job role, weeks) per role the rep's calls of the week were under; a rep with none
    this week is one line in their role at the week's end, against its previous weeks."""
    lines = [(role, w) for role, w in mine.items() if w.calls]
    return lines or [(role_at_end, mine.get(role_at_end, _NONE))]


def _line(rep_id: str, name: str, role: str, weeks: _Weeks, noise: Noise) -> _Line:
    now_avg = _mean_of(weeks.now) if weeks.calls else None
    then_avg = _mean_of(weeks.before) if weeks.calls_before else None
    change = round(now_avg - then_avg, 2) if now_avg is not None and then_avg is not None else None
    within = _overall_within_noise(weeks, change, noise)
    return _Line(rep_id, name, weeks, change, now_avg, within, role)


def _within_roles(lines: list[_Line]) -> list[RepRef]:
    """`lines` (ranked) role by role, up to LISTED of each role."""
    by_role: dict[str, list[_Line]] = {}
    for line in lines:
        by_role.setdefault(line.job_role, []).append(line)
    return [line.ref for role in sorted(by_role) for line in by_role[role][:LISTED]]


def team_overview(
    conn: psycopg.Connection[Row],
    reps: Mapping[str, str],
    week: date,
    tz: str,
    *,
    offset: int = 0,
    limit: int = 50,
    sold_only: frozenset[str] = frozenset(),
    noise: Noise | None = None,
    default_role: str = roles.DEFAULT_ROLE,
) -> TeamOverview:
    """Each rep's week (`reps`: id -> name) against their previous four weeks, a page at a
    time (by job role, then name); who improved and who needs help over the whole team,
    ranked within each job role only. Those in `sold_only` (managers) are listed only for
    weeks they had calls. Only the page's reps become models: the ranking reads tuples. A
    move within run-to-run noise (`noise`, the last four weeks' when not given) is listed as
    such, not as improved or needing help."""
    start, end = week_bounds(week, tz)
    rows = _by_role(_week_rows(conn, list(reps), start, end, default_role))
    at_end = roles.roles_at(conn, list(reps), end, default_role)
    noise = noise if noise is not None else noise_mod.current(conn)
    lines = []
    for rep_id, name in reps.items():
        for role, weeks in _rep_lines(rows.get(rep_id, {}), at_end[rep_id]):
            if weeks.calls or rep_id not in sold_only:
                lines.append(_line(rep_id, name, role, weeks, noise))
    lines.sort(key=lambda line: (line.job_role, line.name, line.rep_id))
    improved = sorted(
        (line for line in lines if line.moved and (line.change or 0) > 0),
        key=lambda line: -(line.change or 0),
    )
    needs_help = sorted(
        (
            line
            for line in lines
            if line.weeks.calls
            and ((line.moved and (line.change or 0) < 0) or (line.average or 5) < 2.5)
        ),
        key=lambda line: (line.average or 5, line.change or 0),
    )
    noisy = sorted(
        (line for line in lines if abs(line.change or 0) >= 0.25 and line.within_noise),
        key=lambda line: -abs(line.change or 0),
    )
    return TeamOverview(
        week=start.date(),
        reps=[line.row() for line in lines[offset : offset + limit]],
        reps_total=len(lines),
        job_roles=dict(Counter(line.job_role for line in lines)),
        calls=sum(line.weeks.calls for line in lines),
        improved=_within_roles(improved),
        improved_total=len(improved),
        needs_help=_within_roles(needs_help),
        needs_help_total=len(needs_help),
        within_noise=_within_roles(noisy),
        within_noise_total=len(noisy),
        held=sum(line.weeks.held for line in lines),
    )


def _role_totals(
    conn: psycopg.Connection[Row],
    rep_ids: list[str],
    since: datetime,
    until: datetime,
    default_role: str,
) -> dict[tuple[str, str], tuple[int, dict[str, float], int]]:
    """Per (rep, job role at the call): analysed calls, per-dimension averages and held
    dimensions of calls started in [since, until)."""
    rows = conn.execute(
        f"""SELECT cs.rep_id, coalesce(jr.job_role, %(default)s) AS job_role, count(*) AS calls,
                   coalesce(sum(cs.held), 0)::int AS held, {_DIM_AVGS}
            FROM call_scores cs {roles.ROLE_AT_CALL.format(rep="cs.rep_id", at="cs.started_at")}
            WHERE cs.rep_id = ANY(%(reps)b) AND cs.started_at >= %(since)s
              AND cs.started_at < %(until)s GROUP BY 1, 2""",
        {"reps": rep_ids, "since": since, "until": until, "default": default_role},
    ).fetchall()
    return {(r["rep_id"], r["job_role"]): (r["calls"], _scores(r), r["held"]) for r in rows}


def compare(
    conn: psycopg.Connection[Row],
    reps: list[RepRef],
    since: datetime,
    until: datetime,
    dimension: str | None,
    default_role: str = roles.DEFAULT_ROLE,
) -> Comparison:
    """The reps side by side, ranked within each job role (split, never ranked across): a
    rep's calls count under the role they had at each call; a rep with no calls in the range
    is listed in their role at its end."""
    ids = [r.rep_id for r in reps]
    totals = _role_totals(conn, ids, since, until, default_role)
    at_end = roles.roles_at(conn, ids, until, default_role)
    rows = []
    for rep in reps:
        mine = [(role, v) for (rep_id, role), v in totals.items() if rep_id == rep.rep_id]
        for role, (calls, scores, held) in mine or [(at_end[rep.rep_id], (0, {}, 0))]:
            if dimension:
                scores = {dimension: scores[dimension]} if dimension in scores else {}
            rows.append((role, rep, calls, scores, _mean(scores), held))
    rows.sort(key=lambda t: (t[0], t[4] is None, -(t[4] or 0), t[1].rep_name))
    ranked, rank = [], 0
    for i, (role, rep, calls, scores, avg, held) in enumerate(rows):
        rank = 1 if i == 0 or rows[i - 1][0] != role else rank + 1
        ranked.append(
            RepComparison(
                rank=rank,
                rep_id=rep.rep_id,
                rep_name=rep.rep_name,
                job_role=role,
                calls=calls,
                average=avg,
                scores=scores,
                held=held,
            )
        )
    found = sorted({r.job_role for r in ranked})
    split = (
        f"these reps are in {len(found)} job roles ({', '.join(found)}): each is scored on its"
        " role's rubrics, so they are ranked within each role only, never across"
        if len(found) > 1
        else None
    )
    return Comparison(
        since=since, until=until, dimension=dimension, reps=ranked, split_by_role=split
    )
