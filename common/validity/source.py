"""The project's own scores and deals, read for the validity analysis and the coaching effect.

Only scores a person may see count: a dimension's shown score (published by the gate, or a
person's word), the AI's criterion scores of a dimension that was published or that a person
confirmed, and a manager's own criterion scores (which take the AI's place). Held suggestions
never count. Conversation metrics are measured, not scored: they come as the dimension
`conversation` with criteria in the units `METRICS` names, so an odds ratio is "per unit".

A closed deal's calls are those before it closed (on or before its CRM close date, else the
day we first saw it close); the deal is its owner's (the rep with most of its calls, the
earliest call breaking a tie), so an engineer joining one call does not split the deal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from common.db import Row
from common.validity.analysis import Report, analyse
from common.validity.deals import ScoreRow
from common.validity.units import CONVERSATION, METRICS

UNKNOWN_STAGE = "unknown"


@dataclass(frozen=True)
class CallScore:
    call_id: str
    rep_id: str
    started_at: datetime
    dimension: str
    criterion: str  # "overall": the dimension's score
    score: float


_SCORES = """
WITH shown AS (
    SELECT s.call_id, s.dimension, s.shown_score, s.state, s.result,
           coalesce(m.confirms_ai, false) AS confirmed
    FROM shown_scores s LEFT JOIN manager_scores m ON m.id = s.manager_score_id
),
scoped AS (
    SELECT id, primary_user_id AS rep_id, started_at FROM calls
    WHERE started_at IS NOT NULL AND primary_user_id IS NOT NULL
      AND (%(all)s OR primary_user_id = ANY(%(visible)s))
      AND (%(every_call)s OR id = ANY(%(calls)s))
),
manager AS (
    SELECT DISTINCT ON (x.call_id, x.dimension, x.criterion)
           x.call_id, x.dimension, x.criterion, x.score
    FROM manager_scores x JOIN scoped c ON c.id = x.call_id
    WHERE x.criterion <> 'overall'
    ORDER BY x.call_id, x.dimension, x.criterion, x.scored_at DESC, x.id DESC
)
SELECT c.id AS call_id, c.rep_id, c.started_at, s.dimension, 'overall' AS criterion,
       s.shown_score::float8 AS score
FROM shown s JOIN scoped c ON c.id = s.call_id
WHERE s.shown_score IS NOT NULL
UNION ALL
SELECT c.id, c.rep_id, c.started_at, s.dimension, x ->> 'criterion_id', (x ->> 'score')::float8
FROM shown s JOIN scoped c ON c.id = s.call_id
CROSS JOIN LATERAL jsonb_array_elements(coalesce(s.result -> 'criteria', '[]')) x
WHERE (s.state = 'published' OR s.confirmed) AND jsonb_typeof(x -> 'score') = 'number'
  AND NOT EXISTS (SELECT 1 FROM manager m WHERE m.call_id = s.call_id
                  AND m.dimension = s.dimension AND m.criterion = x ->> 'criterion_id')
UNION ALL
SELECT c.id, c.rep_id, c.started_at, m.dimension, m.criterion, m.score::float8
FROM manager m JOIN scoped c ON c.id = m.call_id
WHERE m.score IS NOT NULL
"""

_CLOSED_CALLS = """
SELECT d.id AS deal_id, d.outcome, c.id AS call_id, c.primary_user_id AS rep_id, c.started_at,
       cd.stage_at_call, c.metrics, c.title
FROM deals d
JOIN call_deals cd ON cd.deal_id = d.id
JOIN calls c ON c.id = cd.call_id
WHERE d.outcome IN ('won', 'lost') AND c.started_at IS NOT NULL AND c.primary_user_id IS NOT NULL
  AND (c.started_at AT TIME ZONE 'UTC')::date
      <= coalesce(d.close_date, (d.closed_at AT TIME ZONE 'UTC')::date, 'infinity'::date)
ORDER BY d.id, c.started_at, c.id
"""


def call_scores(
    conn: psycopg.Connection[Row],
    visible: AbstractSet[str] | None,
    calls: Sequence[str] | None = None,
) -> list[CallScore]:
    """Every score a person may see, of the calls of the reps in `visible` (None: all),
    among `calls` (None: every call)."""
    params = {
        "all": visible is None,
        "visible": sorted(visible or ()),
        "every_call": calls is None,
        "calls": list(calls or ()),
    }
    rows = conn.execute(_SCORES, params).fetchall()
    return [
        CallScore(
            call_id=r["call_id"],
            rep_id=r["rep_id"],
            started_at=r["started_at"],
            dimension=r["dimension"],
            criterion=r["criterion"],
            score=float(r["score"]),
        )
        for r in rows
    ]


def closed_deal_rows(
    conn: psycopg.Connection[Row], visible: AbstractSet[str] | None
) -> list[ScoreRow]:
    """The rows of `sales-coach validity --from-csv`, from the closed deals of the reps in
    `visible` (None: all): each shown score and each conversation metric of each call before
    its deal closed."""
    calls = closed_calls(conn)
    owner = owners(calls)
    calls = [c for c in calls if visible is None or owner[c["deal_id"]] in visible]
    scores: dict[str, list[CallScore]] = {}
    for s in call_scores(conn, None, [c["call_id"] for c in calls]) if calls else []:
        scores.setdefault(s.call_id, []).append(s)
    rows: list[ScoreRow] = []
    for c in calls:
        base = {
            "call_id": c["call_id"],
            "rep_id": owner[c["deal_id"]],
            "deal_id": str(c["deal_id"]),
            "stage": c["stage_at_call"] or UNKNOWN_STAGE,
            "outcome": c["outcome"],
        }
        for s in scores.get(c["call_id"], []):
            rows.append(_row(base, s.dimension, s.criterion, s.score))
        for criterion, value in _metrics(c["metrics"]).items():
            rows.append(_row(base, CONVERSATION, criterion, value))
    return rows


def closed_calls(conn: psycopg.Connection[Row]) -> list[Row]:
    """The calls of closed deals before each closed, oldest first within a deal."""
    return conn.execute(_CLOSED_CALLS).fetchall()


def owners(calls: list[Row]) -> dict[int, str]:
    """deal -> the rep with most of its calls (calls come oldest first: ties go to the first)."""
    counts: dict[int, Counter[str]] = {}
    for c in calls:
        counts.setdefault(c["deal_id"], Counter())[c["rep_id"]] += 1
    return {deal: reps.most_common(1)[0][0] for deal, reps in counts.items()}


def _row(base: dict[str, str], dimension: str, criterion: str, score: float) -> ScoreRow:
    """Built without validation: the values come typed from our own tables, and a large
    company's closed deals are a million rows."""
    values: dict[str, Any] = base | {"dimension": dimension, "criterion": criterion, "score": score}
    return ScoreRow.model_construct(**values)


def _metrics(metrics: dict[str, object] | None) -> dict[str, float]:
    """The conversation metrics in their units; none for a call without speech."""
    out: dict[str, float] = {}
    if not metrics or metrics.get("duration_s") == 0:
        return out
    for criterion, (key, factor, _) in METRICS.items():
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[criterion] = round(float(value) * factor, 4)
    return out


def from_db(
    conn: psycopg.Connection[Row], visible: AbstractSet[str] | None, min_deals: int
) -> Report:
    """The validity report over the closed deals of the reps in `visible` (None: all)."""
    return analyse(closed_deal_rows(conn, visible), min_deals)
