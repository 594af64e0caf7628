"""Score pairs from Postgres, for agreement: AI vs manager, manager vs manager, AI vs AI.

- AI vs manager: each manager score beside the call's current AI session for the same
  dimension: its overall score for `overall`, the criterion's score otherwise. AI scores of
  chunked calls are weighted means; they are rounded half up onto the 1-5 scale.

N/A on either side is score 0 in a pair (`NA`): both N/A agree, one-sided N/A is counted
apart (`not_applicable` in each summary) and never enters the 1-5 metrics.
- Human ceiling: two managers who scored the same call, dimension and criterion. The AI
  cannot be expected to agree with managers more than they agree with each other.
- AI consistency: the same call and dimension scored twice under the same rubric version
  (a forced re-analysis), the two most recent sessions compared with each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import psycopg

from common.accuracy.agreement import SCALE, Pair, tables_summaries
from common.db import Row

NA = 0  # a pair's score when that side judged the criterion or dimension not applicable

HUMAN = "CASE WHEN m.not_applicable THEN 0 ELSE m.score END"


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # manager scores given on or after
    end: date | None = None  # ... and before
    rep_ids: list[str] | None = None  # a team's reps
    dimension: str | None = None
    rubric_version: str | None = None  # the AI session's rubric version

    def where(self, alias: str = "m") -> tuple[str, list[Any]]:
        clauses: list[str] = ["TRUE"]
        params: list[Any] = []
        if self.start:
            clauses.append(f"{alias}.scored_at >= %s")
            params.append(self.start)
        if self.end:
            clauses.append(f"{alias}.scored_at < %s")
            params.append(self.end)
        if self.rep_ids is not None:
            clauses.append(f"{alias}.rep_id = ANY(%b)")  # binary: a team's 1,000 ids, fast
            params.append(self.rep_ids)
        if self.dimension:
            clauses.append(f"{alias}.dimension = %s")
            params.append(self.dimension)
        return " AND ".join(clauses), params


def ai_vs_manager(
    conn: psycopg.Connection[Row], f: Filters, eval_run_id: int | None = None
) -> list[Pair]:
    """Managers' scores against the current production sessions, or against one eval run's
    results (`eval_run_id`, see `common.accuracy.evaluation`)."""
    if eval_run_id is not None:
        return _eval_pairs(conn, f, eval_run_id)
    sql, params = _ai_vs_manager_sql(f)
    return [_pair(r) for r in conn.execute(sql, params).fetchall()]


def _ai_vs_manager_sql(f: Filters, ordered: bool = True) -> tuple[str, list[Any]]:
    """Production pairs read the AI score kept beside each manager score (`ai_score`, by
    triggers in 0008_read_speed), so a team's quarter is one index range, not a probe of
    every session partition per score."""
    where, params = f.where()
    if f.rubric_version:
        where, params = f"{where} AND m.ai_rubric_version = %s", [*params, f.rubric_version]
    return (
        f"""
        SELECT m.call_id, m.dimension, m.criterion, {HUMAN} AS human,
               CASE WHEN m.ai_not_applicable THEN 0 ELSE floor(m.ai_score + 0.5)::int END AS ai
        FROM manager_scores m
        WHERE (m.ai_score IS NOT NULL OR m.ai_not_applicable) AND {where}
        {"ORDER BY m.call_id, m.dimension, m.criterion, m.reviewer_id" if ordered else ""}
        """,
        params,
    )


def _eval_pairs(conn: psycopg.Connection[Row], f: Filters, eval_run_id: int) -> list[Pair]:
    where, params = f.where()
    if f.rubric_version:
        where, params = f"{where} AND s.rubric_version = %s", [*params, f.rubric_version]
    rows = conn.execute(
        f"""
        SELECT m.call_id, m.dimension, m.criterion, {HUMAN} AS human,
               CASE WHEN a.not_applicable THEN 0 ELSE floor(a.score + 0.5)::int END AS ai
        FROM manager_scores m
        JOIN eval_results s ON s.eval_run_id = %s AND s.call_id = m.call_id
             AND s.dimension = m.dimension AND s.status = 'completed'
        CROSS JOIN ai_criterion(s.overall_score, s.result, m.criterion) a  -- 0012_ai_criterion
        WHERE {where}
        ORDER BY m.call_id, m.dimension, m.criterion, m.reviewer_id
        """,
        [eval_run_id, *params],
    ).fetchall()
    return [_pair(r) for r in rows if r["ai"] is not None]


def manager_vs_manager(conn: psycopg.Connection[Row], f: Filters) -> list[Pair]:
    sql, params = _manager_vs_manager_sql(f)
    return [_pair(r) for r in conn.execute(sql, params).fetchall()]


def _manager_vs_manager_sql(f: Filters, ordered: bool = True) -> tuple[str, list[Any]]:
    where, params = f.where("a")
    return (
        f"""
        SELECT a.call_id, a.dimension, a.criterion, coalesce(a.score, 0) AS ai,
               coalesce(b.score, 0) AS human
        FROM manager_scores a
        JOIN LATERAL (  -- lateral: probe each score's call, never hash every score
            SELECT b.score FROM manager_scores b
            WHERE b.call_id = a.call_id AND b.dimension = a.dimension
              AND b.criterion = a.criterion AND b.reviewer_id > a.reviewer_id
            OFFSET 0  -- keeps the planner from flattening it into a hash join
        ) b ON TRUE
        WHERE a.has_peer AND {where}  -- has_peer: another reviewer scored it (0010_team_reads)
        {"ORDER BY a.call_id, a.dimension, a.criterion" if ordered else ""}
        """,
        params,
    )


def ai_vs_ai(conn: psycopg.Connection[Row], f: Filters) -> list[Pair]:
    """A call and dimension's current session against the one it superseded under the same
    rubric version (a forced re-analysis); cache copies are not repeats.

    Read from the superseded side (a partial index holds only re-scored sessions), so the
    cost follows how often calls are re-scored, not how many were scored. The team filter
    applies to those few rows, not to every session partition's plan.
    """
    params = {
        "dimension": f.dimension,
        "version": f.rubric_version,
        "start": _midnight(conn, f.start),
        # no session is made tomorrow: a bound lets the planner skip the future's partitions
        "end": _midnight(conn, f.end) or datetime.now(UTC) + timedelta(days=1),
        "reps": f.rep_ids,
    }
    inner, outer = ["TRUE"], ["TRUE"]
    if f.dimension:
        inner.append("dimension = %(dimension)s")
    if f.rubric_version:
        inner.append("rubric_version = %(version)s")
    if f.start:  # both sessions made in the window (the partition key: old quarters skipped)
        inner.append("created_at >= %(start)s")
        outer.append("n.created_at >= %(start)s")
    inner.append("created_at < %(end)s")
    outer.append("n.created_at < %(end)s")
    if f.rep_ids is not None:
        outer.append("o.rep_id = ANY(%(reps)b)")  # binary: a team's 1,000 ids
    rows = conn.execute(
        f"""
        WITH rescored AS MATERIALIZED (
            SELECT call_id, dimension, rubric_version, rep_id, created_at, result
            FROM coaching_sessions
            WHERE superseded_at IS NOT NULL AND status = 'completed' AND cached_from IS NULL
              AND {" AND ".join(inner)}
        )
        SELECT DISTINCT ON (o.call_id, o.dimension)
               o.call_id, o.dimension, n.result AS newer, o.result AS older
        FROM rescored o
        JOIN current_sessions n ON n.call_id = o.call_id AND n.dimension = o.dimension
             AND n.rubric_version = o.rubric_version AND n.cached_from IS NULL
        WHERE {" AND ".join(outer)}
        ORDER BY o.call_id, o.dimension, o.created_at DESC
        """,
        params,
    ).fetchall()
    pairs = []
    for r in rows:
        pairs.append(
            Pair(
                r["call_id"],
                r["dimension"],
                "overall",
                _round(r["newer"]["overall_score"]),
                _round(r["older"]["overall_score"]),
            )
        )
        older = {c["criterion_id"]: c["score"] for c in r["older"]["criteria"]}
        for c in r["newer"]["criteria"]:
            if c["criterion_id"] in older:
                pairs.append(
                    Pair(
                        r["call_id"],
                        r["dimension"],
                        c["criterion_id"],
                        _round(c["score"]),
                        _round(older[c["criterion_id"]]),
                    )
                )
    return pairs


def _midnight(conn: psycopg.Connection[Row], day: date | None) -> datetime | None:
    """The day's start in the session's time zone: what Postgres makes of a date compared with
    a timestamptz, but as a value the planner can prune partitions with (a date's cast is not
    immutable, so a quarter's window planned every partition of coaching_sessions: 15 ms)."""
    return None if day is None else datetime.combine(day, time(), tzinfo=conn.info.timezone)


Counts = dict[tuple[str, str, int, int], int]  # (dimension, criterion, ai, human) -> pairs


def counts(conn: psycopg.Connection[Row], sql: str, params: list[Any]) -> Counts:
    """The pairs a query returns, counted by dimension, criterion and score pair in Postgres:
    agreement needs only these counts, never the pairs one by one."""
    rows = conn.execute(
        f"SELECT dimension, criterion, ai, human, count(*) AS n FROM ({sql}) p GROUP BY 1, 2, 3, 4",
        params,
    ).fetchall()
    return {(r["dimension"], r["criterion"], r["ai"], r["human"]): r["n"] for r in rows}


def agreement(
    conn: psycopg.Connection[Row],
    f: Filters,
    bootstrap: int = 1000,
    criteria_bootstrap: int | None = None,
) -> dict[str, Any]:
    """AI vs managers (overall, by dimension, by criterion), the human ceiling and AI
    consistency, each with the same metrics."""
    return {
        "ai_vs_manager": counts_report(
            counts(conn, *_ai_vs_manager_sql(f, ordered=False)), bootstrap, criteria_bootstrap
        ),
        "human_ceiling": counts_report(
            counts(conn, *_manager_vs_manager_sql(f, ordered=False)), bootstrap, criteria_bootstrap
        ),
        "ai_consistency": with_criteria(ai_vs_ai(conn, f), bootstrap, criteria_bootstrap),
    }


def with_criteria(
    pairs: list[Pair], bootstrap: int, criteria_bootstrap: int | None = None
) -> dict[str, Any]:
    return counts_report(
        Counter((p.dimension, p.criterion, p.ai, p.human) for p in pairs),
        bootstrap,
        criteria_bootstrap,
    )


def counts_report(
    pairs: Mapping[tuple[str, str, int, int], int],
    bootstrap: int,
    criteria_bootstrap: int | None = None,
) -> dict[str, Any]:
    """`overall`, `by_dimension` and `by_criterion` ("dimension.criterion") summaries, the
    criteria's intervals from `criteria_bootstrap` rounds when given (many small tables). Each
    table is (N/A + 1-5) square; the 1-5 part makes the metrics, the N/A row and column make
    `not_applicable`."""
    k = len(SCALE) + 1
    overall = np.zeros((k, k))
    by_dimension: dict[str, np.ndarray] = {}
    by_criterion: dict[str, np.ndarray] = {}
    for (dimension, criterion, ai, human), n in pairs.items():
        for table in (
            overall,
            by_dimension.setdefault(dimension, np.zeros((k, k))),
            by_criterion.setdefault(f"{dimension}.{criterion}", np.zeros((k, k))),
        ):
            table[ai, human] += n
    criteria_rounds = bootstrap if criteria_bootstrap is None else criteria_bootstrap
    dimensions, criteria = sorted(by_dimension), sorted(by_criterion)
    first = _summaries([overall, *(by_dimension[d] for d in dimensions)], bootstrap)
    rest = _summaries([by_criterion[c] for c in criteria], criteria_rounds)
    return {
        "overall": first[0],
        "by_dimension": dict(zip(dimensions, first[1:], strict=True)),
        "by_criterion": dict(zip(criteria, rest, strict=True)),
    }


def _summaries(tables: list[np.ndarray], bootstrap: int) -> list[dict[str, Any]]:
    """The 1-5 metrics of each table, and its N/A counts: `both` agree, `ai_only` and
    `manager_only` do not; `exact_with_na` is the share of all pairs that agree exactly, N/A
    included."""
    out = tables_summaries([t[1:, 1:] for t in tables], bootstrap)
    for summary, table in zip(out, tables, strict=True):
        both, ai_only, human_only = table[0, 0], table[0, 1:].sum(), table[1:, 0].sum()
        total = table.sum()
        summary["not_applicable"] = {
            "both": int(both),
            "ai_only": int(ai_only),
            "manager_only": int(human_only),
            "exact_with_na": round(float((np.trace(table[1:, 1:]) + both) / total), 4)
            if total
            else None,
        }
    return out


def _round(score: float | None) -> int:
    if score is None:
        return NA
    return max(1, min(5, int(float(score) + 0.5)))


def _pair(r: Row) -> Pair:
    return Pair(r["call_id"], r["dimension"], r["criterion"], int(r["ai"]), int(r["human"]))
