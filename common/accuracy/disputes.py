"""Disputes: a rep contests an AI score of their own call; the manager resolves it.

The `disputes` table is written only here. A dispute names a dimension (its `overall`) or one
criterion, keeps the AI score it contests, and the rep's reason. The rep's manager upholds
the AI's score or overrides it with their own. Either way the manager's word is recorded as a
manager score (`manager_scores`, source 'mcp', ref `dispute:<id>`): an override as their score,
an upheld dispute as the AI's score (on the 1-5 scale, `confirms_ai`), so both become the
score the rep sees, enter agreement and feed `calibrate`. A dispute names a criterion of the
session it contests, under that session's rubric version: a rubric variant's criteria too.
Who may resolve which dispute is the caller's business (`common.insights.commands`);
`open_by_rep` checks the rep's side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from pydantic import BaseModel

from common.access import Caller, find_call
from common.accuracy import manager_scores
from common.db import Row
from common.errors import AccessDenied, InvalidRequest

Decision = Literal["uphold", "override"]


class DisputeOut(BaseModel):
    id: int
    call_id: str
    call_title: str | None
    rep_id: str
    rep_name: str | None
    dimension: str
    criterion: str
    ai_score: float | None  # None: the AI said N/A
    reason: str
    status: str  # open | upheld | overridden
    opened_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    manager_score: int | None  # the manager's word: their score, or the AI's when upheld


class DisputeList(BaseModel):
    disputes: list[DisputeOut]


_SELECT = """
SELECT d.*, c.title AS call_title, u.name AS rep_name, m.score AS manager_score
FROM disputes d
LEFT JOIN calls c ON c.id = d.call_id
LEFT JOIN users u ON u.id = d.rep_id
LEFT JOIN manager_scores m ON m.id = d.manager_score_id
"""


def ai_score(
    conn: psycopg.Connection[Row], call_id: str, dimension: str, criterion: str
) -> tuple[float | None, str] | None:
    """(the AI's current score, its rubric version) for a dimension or criterion of a call;
    None when the call has no current AI score there to dispute."""
    row = conn.execute(
        """
        SELECT s.rubric_version, a.score, a.known
        FROM current_sessions s, ai_criterion(s.overall_score, s.result, %(c)s) a
        WHERE s.call_id = %(call)s AND s.dimension = %(d)s
        ORDER BY s.created_at DESC LIMIT 1
        """,
        {"call": call_id, "d": dimension, "c": criterion},
    ).fetchone()
    if row is None or not row["known"]:
        return None
    score = float(row["score"]) if row["score"] is not None else None
    return score, str(row["rubric_version"])


def criteria_of(conn: psycopg.Connection[Row], call_id: str, dimension: str) -> list[str]:
    """The criterion ids of the call's current session of the dimension (its rubric's, or its
    variant's), in the rubric's order; empty when there is no session."""
    rows = conn.execute(
        """
        SELECT c ->> 'criterion_id' AS id
        FROM current_sessions s, jsonb_array_elements(coalesce(s.result -> 'criteria', '[]')) c
        WHERE s.id = (SELECT id FROM current_sessions WHERE call_id = %s AND dimension = %s
                      ORDER BY created_at DESC LIMIT 1)
        """,
        (call_id, dimension),
    ).fetchall()
    return [r["id"] for r in rows if r["id"]]


def open_by_rep(
    conn: psycopg.Connection[Row],
    caller: Caller,
    *,
    call_id: str,
    dimension: str,
    criterion: str,
    reason: str,
) -> DisputeOut:
    """A rep contests a score of their own call (a criterion of the session's own rubric,
    which may be a variant's); their manager resolves it."""
    rep_id = find_call(conn, caller, call_id)
    if rep_id != caller.id:
        raise AccessDenied("you can dispute scores of your own calls only")
    return open_dispute(
        conn,
        call_id=call_id,
        rep_id=caller.id,
        dimension=dimension,
        criterion=criterion,
        reason=reason,
    )


def open_dispute(
    conn: psycopg.Connection[Row],
    *,
    call_id: str,
    rep_id: str,
    dimension: str,
    criterion: str,
    reason: str,
) -> DisputeOut:
    """A new open dispute of the call's current AI score; one open dispute per score."""
    current = ai_score(conn, call_id, dimension, criterion)
    if current is None:
        criteria = criteria_of(conn, call_id, dimension)
        if not criteria:
            raise InvalidRequest(f"call {call_id} has no AI score for {dimension}")
        raise InvalidRequest(f"criterion must be 'overall' or one of {criteria}")
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO disputes (call_id, rep_id, dimension, criterion, ai_score,"
                " rubric_version, reason) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (call_id, rep_id, dimension, criterion, current[0], current[1], reason),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise InvalidRequest(
            "this score is already disputed; your manager will resolve it"
        ) from None
    assert row is not None
    return get(conn, int(row["id"]))


def get(conn: psycopg.Connection[Row], dispute_id: int) -> DisputeOut:
    row = conn.execute(f"{_SELECT} WHERE d.id = %s", (dispute_id,)).fetchone()
    if row is None:
        raise InvalidRequest(f"no dispute {dispute_id}")
    return DisputeOut.model_validate(dict(row))


def listed(
    conn: psycopg.Connection[Row],
    rep_ids: list[str] | None,
    status: str | None = "open",
    limit: int = 50,
) -> list[DisputeOut]:
    """Disputes of these reps (None: everyone), oldest open first, newest resolved first."""
    rows = conn.execute(
        f"""{_SELECT}
        WHERE (%(reps)s::text[] IS NULL OR d.rep_id = ANY(%(reps)s::text[]))
          AND (%(status)s::text IS NULL OR d.status = %(status)s)
        ORDER BY d.status <> 'open', CASE WHEN d.status = 'open' THEN d.opened_at END,
                 d.resolved_at DESC NULLS LAST
        LIMIT %(limit)s""",
        {"reps": rep_ids, "status": status, "limit": limit},
    ).fetchall()
    return [DisputeOut.model_validate(dict(r)) for r in rows]


def resolve(
    conn: psycopg.Connection[Row],
    dispute_id: int,
    *,
    manager_id: str,
    decision: Decision,
    score: int | None,
    reason: str,
    rubric_version: str,
) -> DisputeOut:
    """Uphold the AI's score, or override it with the manager's own (`score`, None for N/A);
    either is recorded as a manager score with the reason (upheld: the AI's score, marked as
    confirming it), under the rubric version of the score disputed (`rubric_version` only when
    the dispute has none). An open dispute is resolved once."""
    row = conn.execute("SELECT * FROM disputes WHERE id = %s FOR UPDATE", (dispute_id,)).fetchone()
    if row is None:
        raise InvalidRequest(f"no dispute {dispute_id}")
    if row["status"] != "open":
        raise InvalidRequest(f"dispute {dispute_id} is already {row['status']}")
    upheld = decision == "uphold"
    ai = float(row["ai_score"]) if row["ai_score"] is not None else None
    score_id = manager_scores.record(
        conn,
        call_id=row["call_id"],
        rep_id=row["rep_id"],
        reviewer_id=manager_id,
        dimension=row["dimension"],
        criterion=row["criterion"],
        score=manager_scores.ai_on_scale(ai) if upheld else score,
        note=f"dispute {dispute_id} {'upheld' if upheld else 'overridden'}: {reason}",
        rubric_version=row["rubric_version"] or rubric_version,
        source_ref=f"dispute:{dispute_id}",
        confirms_ai=upheld,
    )
    conn.execute(
        "UPDATE disputes SET status = %s, resolved_by = %s, resolved_at = now(),"
        " resolution = %s, manager_score_id = %s WHERE id = %s",
        (
            "overridden" if decision == "override" else "upheld",
            manager_id,
            reason,
            score_id,
            dispute_id,
        ),
    )
    return get(conn, dispute_id)


def summary(
    conn: psycopg.Connection[Row],
    start: Any | None,
    end: Any | None,
    rep_ids: list[str] | None,
) -> dict[str, Any]:
    """Disputes opened in the window, by outcome and by dimension: how often reps contest
    scores and how often managers side with them (for `agreement_report`)."""
    rows = conn.execute(
        """
        SELECT dimension, status, count(*) AS n FROM disputes
        WHERE (%(reps)b::text[] IS NULL OR rep_id = ANY(%(reps)b::text[]))  -- binary: 1,000 ids
          AND (%(start)s::timestamptz IS NULL OR opened_at >= %(start)s)
          AND (%(end)s::timestamptz IS NULL OR opened_at < %(end)s)
        GROUP BY 1, 2
        """,
        {"reps": rep_ids, "start": start, "end": end},
    ).fetchall()
    zero = {"open": 0, "upheld": 0, "overridden": 0}
    total, by_dimension = dict(zero), dict[str, dict[str, int]]()
    for r in rows:
        total[r["status"]] += r["n"]
        by_dimension.setdefault(r["dimension"], dict(zero))[r["status"]] += r["n"]
    resolved = total["upheld"] + total["overridden"]
    return {
        **total,
        "opened": sum(total.values()),
        "overridden_share": round(total["overridden"] / resolved, 4) if resolved else None,
        "by_dimension": dict(sorted(by_dimension.items())),
    }
