"""Managers' own scores: recorded from Claude Desktop, shown beside the AI's."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import psycopg
from pydantic import BaseModel

from common.accuracy.agreement import PairsFileError, read_csv
from common.db import Row
from common.rubrics import RubricSet


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
    source: str = "mcp",
    source_ref: str | None = None,
) -> int:
    """Store one manager score; the same (source, source_ref) again replaces score and note."""
    row = conn.execute(
        """
        INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,
            not_applicable, note, source, source_ref, rubric_version, scored_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
        ON CONFLICT (source, source_ref) DO UPDATE SET score = EXCLUDED.score,
            not_applicable = EXCLUDED.not_applicable, note = EXCLUDED.note,
            scored_at = EXCLUDED.scored_at
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
            source,
            source_ref or str(uuid.uuid4()),
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


CSV_HEADER = ["call_id", "reviewer", "dimension", "criterion", "score", "note"]


def import_csv(conn: psycopg.Connection[Row], path: Path, rubrics: RubricSet) -> dict[str, int]:
    """Manager scores from a spreadsheet: call_id,reviewer,dimension,criterion,score,note.

    `reviewer` is a Gong user id or email, `criterion` a rubric criterion id or `overall`,
    `score` 1-5 or `na`. The same (call, reviewer, dimension, criterion) imported again
    replaces its score and note. Every row is checked first; a bad one is a PairsFileError
    naming its line, and nothing is stored.
    """
    rows = []
    for n, cells in enumerate(read_csv(path, CSV_HEADER), start=2):
        if cells:
            rows.append((n, *_checked(conn, path, n, cells, rubrics)))
    for _, call_id, rep_id, reviewer_id, dimension, criterion, score, note in rows:
        record(
            conn,
            call_id=call_id,
            rep_id=rep_id,
            reviewer_id=reviewer_id,
            dimension=dimension,
            criterion=criterion,
            score=score,
            note=note,
            rubric_version=rubrics.rubric_version(dimension),
            source="csv",
            source_ref=f"{call_id}:{reviewer_id}:{dimension}:{criterion}",
        )
    return {"rows": len(rows)}


def _checked(
    conn: psycopg.Connection[Row], path: Path, n: int, cells: list[str], rubrics: RubricSet
) -> tuple[str, str | None, str, str, str, int | None, str | None]:
    call_id, reviewer, dimension, criterion, score_text, note = cells
    call = conn.execute("SELECT primary_user_id FROM calls WHERE id = %s", (call_id,)).fetchone()
    if call is None:
        raise PairsFileError(f"{path}: line {n}: unknown call {call_id!r}")
    user = conn.execute(
        "SELECT id FROM users WHERE id = %s OR lower(email) = lower(%s)", (reviewer, reviewer)
    ).fetchone()
    if user is None:
        raise PairsFileError(f"{path}: line {n}: unknown reviewer {reviewer!r}")
    if user["id"] == call["primary_user_id"]:  # as the MCP tool refuses it
        raise PairsFileError(f"{path}: line {n}: a rep cannot score their own call")
    if dimension not in rubrics.rubrics:
        raise PairsFileError(f"{path}: line {n}: unknown dimension {dimension!r}")
    criteria = {c.id for c in rubrics.rubrics[dimension].criteria} | {"overall"}
    if criterion not in criteria:
        raise PairsFileError(f"{path}: line {n}: {dimension} has no criterion {criterion!r}")
    if score_text.lower() not in {"1", "2", "3", "4", "5", "na"}:
        raise PairsFileError(f"{path}: line {n}: score must be 1-5 or na, got {score_text!r}")
    score = None if score_text.lower() == "na" else int(score_text)
    return call_id, call["primary_user_id"], user["id"], dimension, criterion, score, note or None
