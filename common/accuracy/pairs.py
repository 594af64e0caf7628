"""Score pairs from Postgres, for agreement: AI vs manager, manager vs manager, AI vs AI.

- AI vs manager: each manager score (not N/A) beside the call's current AI session for the
  same dimension: its overall score for `overall`, the criterion's score otherwise. AI scores
  of chunked calls are weighted means; they are rounded half up onto the 1-5 scale.
- Human ceiling: two managers who scored the same call, dimension and criterion. The AI
  cannot be expected to agree with managers more than they agree with each other.
- AI consistency: the same call and dimension scored twice under the same rubric version
  (a forced re-analysis), the two most recent sessions compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from common.accuracy.agreement import Pair, report
from common.db import Row

AI_SCORE = """
CASE WHEN m.criterion = 'overall' THEN s.overall_score
     ELSE (SELECT (c ->> 'score')::numeric FROM jsonb_array_elements(s.result -> 'criteria') c
           WHERE c ->> 'criterion_id' = m.criterion) END
"""


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
            clauses.append(f"{alias}.rep_id = ANY(%s)")
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
    where, params = f.where()
    if eval_run_id is None:
        source = "coaching_sessions s ON s.superseded_at IS NULL AND"
    else:
        source, params = "eval_results s ON s.eval_run_id = %s AND", [eval_run_id, *params]
    if f.rubric_version:
        where, params = f"{where} AND s.rubric_version = %s", [*params, f.rubric_version]
    rows = conn.execute(
        f"""
        SELECT m.call_id, m.dimension, m.criterion, m.score AS human,
               floor(({AI_SCORE}) + 0.5)::int AS ai
        FROM manager_scores m
        JOIN {source} s.call_id = m.call_id AND s.dimension = m.dimension
             AND s.status = 'completed'
        WHERE NOT m.not_applicable AND {where}
        ORDER BY m.call_id, m.dimension, m.criterion, m.reviewer_id
        """,
        params,
    ).fetchall()
    return [_pair(r) for r in rows if r["ai"] is not None]


def manager_vs_manager(conn: psycopg.Connection[Row], f: Filters) -> list[Pair]:
    where, params = f.where("a")
    rows = conn.execute(
        f"""
        SELECT a.call_id, a.dimension, a.criterion, a.score AS ai, b.score AS human
        FROM manager_scores a
        JOIN manager_scores b ON b.call_id = a.call_id AND b.dimension = a.dimension
             AND b.criterion = a.criterion AND b.reviewer_id > a.reviewer_id
        WHERE NOT a.not_applicable AND NOT b.not_applicable AND {where}
        ORDER BY a.call_id, a.dimension, a.criterion
        """,
        params,
    ).fetchall()
    return [_pair(r) for r in rows]


def ai_vs_ai(conn: psycopg.Connection[Row], f: Filters) -> list[Pair]:
    """The two newest completed sessions (not cache copies) of a call and dimension."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if f.dimension:
        clauses.append("dimension = %s")
        params.append(f.dimension)
    if f.rep_ids is not None:
        clauses.append("rep_id = ANY(%s)")
        params.append(f.rep_ids)
    if f.rubric_version:
        clauses.append("rubric_version = %s")
        params.append(f.rubric_version)
    if f.start:  # sessions made in the window (the partition key: old quarters are skipped)
        clauses.append("created_at >= %s")
        params.append(f.start)
    if f.end:
        clauses.append("created_at < %s")
        params.append(f.end)
    rows = conn.execute(
        f"""
        WITH repeated AS (  -- narrow columns first: most calls were scored once
            SELECT call_id, dimension, rubric_version FROM coaching_sessions
            WHERE status = 'completed' AND cached_from IS NULL AND {" AND ".join(clauses)}
            GROUP BY 1, 2, 3 HAVING count(*) > 1
        ), ranked AS (
            SELECT s.call_id, s.dimension, s.rubric_version, s.result,
                   row_number() OVER (PARTITION BY s.call_id, s.dimension, s.rubric_version
                                      ORDER BY s.created_at DESC) AS k
            FROM coaching_sessions s JOIN repeated USING (call_id, dimension, rubric_version)
            WHERE s.status = 'completed' AND s.cached_from IS NULL
        )
        SELECT a.call_id, a.dimension, a.result AS newer, b.result AS older
        FROM ranked a JOIN ranked b USING (call_id, dimension, rubric_version)
        WHERE a.k = 1 AND b.k = 2
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


def agreement(conn: psycopg.Connection[Row], f: Filters, bootstrap: int = 1000) -> dict[str, Any]:
    """AI vs managers (overall, by dimension, by criterion), the human ceiling and AI
    consistency, each with the same metrics."""
    return {
        "ai_vs_manager": with_criteria(ai_vs_manager(conn, f), bootstrap),
        "human_ceiling": with_criteria(manager_vs_manager(conn, f), bootstrap),
        "ai_consistency": with_criteria(ai_vs_ai(conn, f), bootstrap),
    }


def with_criteria(pairs: list[Pair], bootstrap: int) -> dict[str, Any]:
    out = report(pairs, bootstrap)
    by_criterion: dict[str, list[Pair]] = {}
    for p in pairs:
        by_criterion.setdefault(f"{p.dimension}.{p.criterion}", []).append(p)
    out["by_criterion"] = {
        k: report(v, bootstrap)["overall"] for k, v in sorted(by_criterion.items())
    }
    return out


def _round(score: float) -> int:
    return max(1, min(5, int(float(score) + 0.5)))


def _pair(r: Row) -> Pair:
    return Pair(r["call_id"], r["dimension"], r["criterion"], int(r["ai"]), int(r["human"]))
