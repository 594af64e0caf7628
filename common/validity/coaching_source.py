"""The project's own coaching events and scores, read for the coaching effect.

A coaching event is a manager's word on one criterion of a rep's call, as the rep sees it:

- a manager score (`manager_scores`, from Gong scorecards, the MCP tools or a CSV): a
  confirmation when it says the AI's score stands (`confirms_ai`), else an override. The rep
  is the score's `rep_id`, else the call's rep; the day is `scored_at`; a manager scoring
  their own call is no coaching.
- a resolved dispute (upheld or overridden, on `resolved_at`), unless its manager score (the
  resolution recorded as one) is already an event above: then the dispute is that event, once.

- a weekly plan a manager approved and that was sent (acknowledged or not): one event per
  criterion its tighten items and exercise name, on the day of its approval; its "coached call"
  day is the plan's week's Monday, as the plan was drafted from that week's lowest scores. A
  draft sent unapproved (PLANS_SEND_UNAPPROVED) is no manager's word: no event.

- a note after a call that the rep acknowledged: one event on the note's focus criterion, on
  the day of the acknowledgement; its coached call is the note's call.

Days are UTC dates; the coached call's day is the call's `started_at`, so the effect's
`before` window ends where the coached call is.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import UTC

import psycopg

from common.db import Row
from common.validity.coaching import (
    MIN_EVENTS,
    CoachingEffect,
    CoachingEvent,
    ScorePoint,
    estimate,
)

_EVENTS = """
WITH managed AS (
    SELECT m.id, coalesce(m.rep_id, c.primary_user_id) AS rep_id, m.reviewer_id, m.dimension,
           m.criterion, m.scored_at, m.confirms_ai, c.started_at
    FROM manager_scores m LEFT JOIN calls c ON c.id = m.call_id
    WHERE m.source IN ('gong', 'mcp', 'csv')
),
counted AS (
    SELECT * FROM managed
    WHERE rep_id IS NOT NULL AND reviewer_id <> rep_id
)
SELECT rep_id, dimension, criterion, (scored_at AT TIME ZONE 'UTC')::date AS at,
       CASE WHEN confirms_ai THEN 'confirmation' ELSE 'override' END AS kind,
       (started_at AT TIME ZONE 'UTC')::date AS call_at
FROM counted
WHERE %(all)s OR rep_id = ANY(%(visible)s)
UNION ALL
SELECT d.rep_id, d.dimension, d.criterion, (d.resolved_at AT TIME ZONE 'UTC')::date,
       'dispute', (c.started_at AT TIME ZONE 'UTC')::date
FROM disputes d LEFT JOIN calls c ON c.id = d.call_id
WHERE d.status IN ('upheld', 'overridden') AND d.resolved_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM counted k WHERE k.id = d.manager_score_id)
  AND (%(all)s OR d.rep_id = ANY(%(visible)s))
UNION ALL
SELECT p.rep_id, split_part(k, '.', 1), split_part(k, '.', 2),
       (p.approved_at AT TIME ZONE 'UTC')::date, 'plan', p.week_start
FROM weekly_plans p CROSS JOIN LATERAL unnest(p.coached) k
WHERE p.status IN ('sent', 'acknowledged') AND p.approved_at IS NOT NULL
  AND p.approved_by IS DISTINCT FROM p.rep_id
  AND (%(all)s OR p.rep_id = ANY(%(visible)s))
UNION ALL
SELECT n.rep_id, split_part(n.focus, '.', 1), split_part(n.focus, '.', 2),
       (n.acknowledged_at AT TIME ZONE 'UTC')::date, 'note', (c.started_at AT TIME ZONE 'UTC')::date
FROM rep_notes n JOIN calls c ON c.id = n.call_id
WHERE n.acknowledged_at IS NOT NULL AND (%(all)s OR n.rep_id = ANY(%(visible)s))
ORDER BY at, rep_id, dimension, criterion, kind
"""


def events(conn: psycopg.Connection[Row], visible: AbstractSet[str] | None) -> list[CoachingEvent]:
    """Every coaching event of the reps in `visible` (None: all), oldest first."""
    rows = conn.execute(
        _EVENTS, {"all": visible is None, "visible": sorted(visible or ())}
    ).fetchall()
    return [CoachingEvent.model_validate(r) for r in rows]


def points(conn: psycopg.Connection[Row], visible: AbstractSet[str] | None) -> list[ScorePoint]:
    """Every score a person may see of the calls of the reps in `visible` (None: all)."""
    from common.validity.source import call_scores  # written beside this module

    return [
        ScorePoint(
            rep_id=s.rep_id,
            dimension=s.dimension,
            criterion=s.criterion,
            at=s.started_at.astimezone(UTC).date(),
            score=s.score,
        )
        for s in call_scores(conn, visible)
    ]


def coaching_effect(
    conn: psycopg.Connection[Row],
    visible: AbstractSet[str] | None,
    weeks: int = 4,
    min_events: int = MIN_EVENTS,
) -> CoachingEffect:
    """The coaching effect among the reps in `visible` (None: all): their events, and their
    scores and those of the reps they are compared with."""
    return estimate(points(conn, visible), events(conn, visible), weeks, min_events)
