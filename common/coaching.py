"""Reading coaching back: one call's coaching, and paged call search. Pydantic results.

Only current sessions are read (completed, not superseded by a newer analysis).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from pydantic import BaseModel

from common.accuracy import manager_scores
from common.accuracy.manager_scores import ManagerScoreOut
from common.config import DIMENSIONS
from common.db import Row
from common.errors import AccessDenied

CURRENT = "s.status = 'completed' AND s.superseded_at IS NULL"
MAX_PAGE_SIZE = 100


class EvidenceOut(BaseModel):
    quote: str
    speaker: str
    timestamp: str
    link: str | None


class CriterionOut(BaseModel):
    criterion_id: str
    name: str
    score: float
    rationale: str
    evidence: list[EvidenceOut]


class DimensionCoaching(BaseModel):
    dimension: str
    overall_score: float
    weighted_score: float
    criteria: list[CriterionOut]
    strengths: list[str]
    improvements: list[str]
    coaching_note: str
    rubric_version: str
    model: str
    analysed_at: datetime
    quotes_dropped: int
    manager_scores: list[ManagerScoreOut] = []  # managers' own scores, beside the AI's


class CallCoaching(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    gong_url: str | None
    metrics: dict[str, Any] | None
    dimensions: list[DimensionCoaching]
    missing_dimensions: list[str]


class CallSummary(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    scores: dict[str, float]


class CallPage(BaseModel):
    items: list[CallSummary]
    total: int
    page: int
    page_size: int
    next_page: int | None


def resolve_rep(conn: psycopg.Connection[Row], rep: str) -> str:
    """A rep's id from their id, email or full name."""
    row = conn.execute(
        "SELECT id FROM users WHERE id = %s OR lower(email) = lower(%s) OR lower(name) = lower(%s)"
        " ORDER BY (id = %s) DESC LIMIT 1",
        (rep, rep, rep, rep),
    ).fetchone()
    if row is None:
        raise AccessDenied(f"no rep called {rep!r}")
    rep_id: str = row["id"]
    return rep_id


def call_coaching(conn: psycopg.Connection[Row], call_id: str) -> CallCoaching:
    call = conn.execute(
        "SELECT c.*, u.name AS rep_name FROM calls c LEFT JOIN users u ON u.id = c.primary_user_id"
        " WHERE c.id = %s",
        (call_id,),
    ).fetchone()
    if call is None:
        raise AccessDenied(f"call {call_id} is not known")
    rows = conn.execute(
        f"SELECT * FROM coaching_sessions s WHERE s.call_id = %s AND {CURRENT} ORDER BY s.dimension",
        (call_id,),
    ).fetchall()
    human = manager_scores.for_call(conn, call_id)
    dims = [
        _dimension(r).model_copy(update={"manager_scores": human.get(r["dimension"], [])})
        for r in rows
    ]
    return CallCoaching(
        call_id=call["id"],
        title=call["title"],
        started_at=call["started_at"],
        rep_id=call["primary_user_id"],
        rep_name=call["rep_name"],
        gong_url=call["url"],
        metrics=call["metrics"],
        dimensions=dims,
        missing_dimensions=[d for d in DIMENSIONS if d not in {x.dimension for x in dims}],
    )


def _dimension(row: Row) -> DimensionCoaching:
    """The stored result (a DimensionResult) as the tool's view; extra stored fields are ignored."""
    r = row["result"]
    return DimensionCoaching(
        dimension=row["dimension"],
        overall_score=r["overall_score"],
        weighted_score=r["weighted_score"],
        criteria=[CriterionOut.model_validate(c) for c in r["criteria"]],
        strengths=r["strengths"],
        improvements=r["improvements"],
        coaching_note=r["coaching_note"],
        rubric_version=row["rubric_version"],
        model=row["model"],
        analysed_at=row["created_at"],
        quotes_dropped=row["quotes_dropped"],
    )


def search_calls(
    conn: psycopg.Connection[Row],
    *,
    scope: set[str] | None,
    include_deleted: bool,
    rep_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    dimension: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    text: str | None = None,
    page: int = 1,
    page_size: int = 25,
) -> CallPage:
    """Analysed calls in scope matching the filters, newest first, one page at a time."""
    page, page_size = max(1, page), max(1, min(page_size, MAX_PAGE_SIZE))
    params: dict[str, Any] = {
        "scope": sorted(scope) if scope is not None else None,
        "rep": rep_id,
        "start": start,
        "end": end,
        "dim": dimension,
        "lo": min_score if min_score is not None else 0,
        "hi": max_score if max_score is not None else 5,
        "text": f"%{text.lower()}%" if text else None,
        "deleted": include_deleted,
        "limit": page_size,
        "offset": (page - 1) * page_size,
    }
    rows = conn.execute(
        f"""
        SELECT c.id, c.title, c.started_at, c.primary_user_id, u.name AS rep_name,
               jsonb_object_agg(s.dimension, s.overall_score) AS scores, count(*) OVER () AS total
        FROM calls c
        JOIN coaching_sessions s ON s.call_id = c.id AND {CURRENT}
        LEFT JOIN users u ON u.id = c.primary_user_id
        WHERE (%(scope)s::text[] IS NULL OR c.primary_user_id = ANY(%(scope)s::text[]))
          AND (%(deleted)s OR u.deleted_at IS NULL)
          AND (%(rep)s::text IS NULL OR c.primary_user_id = %(rep)s)
          AND (%(start)s::timestamptz IS NULL OR c.started_at >= %(start)s)
          AND (%(end)s::timestamptz IS NULL OR c.started_at < %(end)s)
          AND (%(text)s::text IS NULL OR lower(c.title) LIKE %(text)s OR EXISTS (
               SELECT 1 FROM coaching_sessions s2 WHERE s2.call_id = c.id AND s2.status = 'completed'
                 AND s2.superseded_at IS NULL AND lower(s2.result->>'coaching_note') LIKE %(text)s))
        GROUP BY c.id, u.name
        HAVING %(dim)s::text IS NULL OR bool_or(s.dimension = %(dim)s
               AND s.overall_score BETWEEN %(lo)s AND %(hi)s)
        ORDER BY c.started_at DESC NULLS LAST, c.id
        LIMIT %(limit)s OFFSET %(offset)s
        """,
        params,
    ).fetchall()
    total = rows[0]["total"] if rows else 0
    items = [
        CallSummary(
            call_id=r["id"],
            title=r["title"],
            started_at=r["started_at"],
            rep_id=r["primary_user_id"],
            rep_name=r["rep_name"],
            scores={k: float(v) for k, v in r["scores"].items()},
        )
        for r in rows
    ]
    more = page * page_size < total
    return CallPage(
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        next_page=page + 1 if more else None,
    )
