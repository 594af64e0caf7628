"""Managers' own scores: recorded from Claude Desktop, shown beside the AI's."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
from pydantic import BaseModel

from common.db import Row


class ManagerScoreOut(BaseModel):
    reviewer_id: str
    reviewer_name: str | None
    criterion: str  # a criterion id, or "overall"
    score: int | None  # None: not applicable
    note: str | None
    source: str  # gong | mcp | csv
    scored_at: datetime


def record(
    conn: psycopg.Connection[Row],
    *,
    call_id: str,
    rep_id: str | None,
    reviewer_id: str,
    dimension: str,
    criterion: str,
    score: int | None,
    note: str | None,
    rubric_version: str,
) -> int:
    row = conn.execute(
        """
        INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,
            not_applicable, note, source, source_ref, rubric_version, scored_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'mcp', %s, %s, now())
        RETURNING id
        """,
        (
            call_id,
            rep_id,
            reviewer_id,
            dimension,
            criterion,
            score,
            score is None,
            note,
            str(uuid.uuid4()),
            rubric_version,
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def for_call(conn: psycopg.Connection[Row], call_id: str) -> dict[str, list[ManagerScoreOut]]:
    """Each dimension's manager scores, newest first."""
    rows = conn.execute(
        """
        SELECT m.*, u.name AS reviewer_name FROM manager_scores m
        LEFT JOIN users u ON u.id = m.reviewer_id
        WHERE m.call_id = %s ORDER BY m.dimension, m.scored_at DESC, m.id DESC
        """,
        (call_id,),
    ).fetchall()
    out: dict[str, list[ManagerScoreOut]] = {}
    for r in rows:
        out.setdefault(r["dimension"], []).append(
            ManagerScoreOut(
                reviewer_id=r["reviewer_id"],
                reviewer_name=r["reviewer_name"],
                criterion=r["criterion"],
                score=r["score"],
                note=r["note"],
                source=r["source"],
                scored_at=r["scored_at"],
            )
        )
    return out
