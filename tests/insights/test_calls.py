"""The score a person sees (the publish gate's read side, `shown_scores` and `call_scores`):
a manager's word first, else a published AI score, else "held for review" with the AI's
suggestion labelled as one; on real Postgres, through the triggers every writer fires."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.insights import calls

SESSION = """INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,
    cache_key, transcript_hash, rubric_version, status, overall_score, result, state)
    VALUES (now(), %s, 'r1', %s, 'm', 'k', 'h', 'v', 'completed', %s, %s, %s)"""
MANAGER = """INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,
    score, not_applicable, source, source_ref, scored_at)
    VALUES (%s, 'r1', 'm1', %s, %s, %s, %s, 'mcp', %s, %s)"""


def result(score: float | None, reasons: list[str] | None = None) -> str:
    criterion = {
        "criterion_id": "pain",
        "name": "Finds the pain",
        "weight": 1.0,
        "score": score,
        "rationale": "asked why twice",
        "evidence": [],
    }
    return json.dumps(
        {
            "overall_score": score,
            "weighted_score": score,
            "criteria": [criterion],
            "strengths": ["Clear agenda"],
            "improvements": ["Ask why"],
            "coaching_note": "",
            "review_reasons": reasons or [],
        }
    )


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        c.execute("INSERT INTO users (id, name, role) VALUES ('m1', 'Mia', 'manager')")
        c.execute(
            "INSERT INTO users (id, name, role, manager_id) VALUES ('r1', 'Rae', 'rep', 'm1')"
        )
        c.execute(
            "INSERT INTO calls (id, title, primary_user_id, started_at)"
            " VALUES ('c1', 'Acme demo', 'r1', now())"
        )
        yield c


def read_model(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row: dict[str, Any] | None = conn.execute(
        "SELECT * FROM call_scores WHERE call_id = 'c1'"
    ).fetchone()
    assert row
    return row


def manager(
    conn: psycopg.Connection[Any],
    dimension: str,
    score: int | None,
    ref: str,
    criterion: str = "overall",
    at: datetime | None = None,
) -> None:
    conn.execute(
        MANAGER,
        ("c1", dimension, criterion, score, score is None, ref, at or datetime.now(UTC)),
    )


def test_a_managers_override_is_the_score_the_rep_sees(conn: psycopg.Connection[Any]) -> None:
    """Issue 28: a manager's override to 4 left the AI's 1.0 in call_scores."""
    conn.execute(SESSION, ("c1", "discovery", 1.0, result(1.0), "published"))
    conn.execute(SESSION, ("c1", "engagement", 3.0, result(3.0), "published"))
    manager(conn, "discovery", 4, "override-1")
    row = read_model(conn)
    assert float(row["discovery"]) == 4.0 and float(row["average"]) == 3.5
    full = calls.call_coaching(conn, "c1")
    d = next(x for x in full.dimensions if x.dimension == "discovery")
    assert (d.overall_score, d.source, d.ai_score, d.held) == (4.0, "manager", 1.0, False)
    assert "manager" in d.shown and "1.0" in d.shown  # the AI's kept beside it
    assert calls.view(full).scores == {"discovery": 4.0, "engagement": 3.0}
    assert calls.view(full).sources == {"discovery": "manager", "engagement": "ai"}
    manager(conn, "discovery", None, "override-2")  # a later word: N/A, out of the average
    row = read_model(conn)
    assert row["discovery"] is None and float(row["average"]) == 3.0
    assert calls.view(calls.call_coaching(conn, "c1")).not_applicable == ["discovery"]
    conn.execute("DELETE FROM manager_scores WHERE source_ref = 'override-2'")
    assert float(read_model(conn)["discovery"]) == 4.0  # the earlier word stands again
    conn.execute("UPDATE manager_scores SET score = 2 WHERE source_ref = 'override-1'")
    assert float(read_model(conn)["discovery"]) == 2.0


def test_a_held_dimension_is_shown_as_held_with_the_ais_suggestion(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        SESSION,
        ("c1", "discovery", 1.0, result(1.0, ["samples disagree on pain"]), "needs_review"),
    )
    conn.execute(SESSION, ("c1", "engagement", 3.0, result(3.0), "published"))
    row = read_model(conn)
    assert row["discovery"] is None and float(row["average"]) == 3.0 and row["held"] == 1
    full = calls.call_coaching(conn, "c1")
    d = next(x for x in full.dimensions if x.dimension == "discovery")
    assert d.held and d.overall_score is None and d.source is None
    assert d.ai_suggestion == 1.0 and d.review_reasons == ["samples disagree on pain"]
    assert d.shown.startswith(calls.HELD) and "suggestion" in d.shown
    assert d.criteria[0].score is None and d.criteria[0].held and d.criteria[0].ai_score == 1.0
    v = calls.view(full)
    assert v.scores == {"engagement": 3.0} and v.average == 3.0
    assert v.held == ["discovery"] and v.ai_suggestions == {"discovery": 1.0}
    assert v.not_applicable == []  # held is not N/A
    assert v.top_improvement and v.top_improvement.dimension == "engagement"
    # the rep reads none of the suggestion: no number, criteria scores or coaching text
    rep = calls.view(calls.without_suggestions(full), "full")
    held = next(x for x in rep.dimensions or [] if x.dimension == "discovery")
    assert rep.held == ["discovery"] and rep.ai_suggestions == {}
    assert (held.ai_score, held.weighted_score, held.strengths, held.shown) == (
        None,
        None,
        [],
        calls.HELD,
    )
    assert held.criteria[0].ai_score is None and held.criteria[0].rationale == ""

    manager(conn, "discovery", 2, "review-1")  # the manager changes it: the rep sees 2
    manager(conn, "discovery", 3, "review-1-pain", criterion="pain")
    row = read_model(conn)
    assert float(row["discovery"]) == 2.0 and row["held"] == 0
    d = next(x for x in calls.call_coaching(conn, "c1").dimensions if x.dimension == "discovery")
    assert (d.overall_score, d.source, d.held, d.ai_score) == (2.0, "manager", False, 1.0)
    pain = d.criteria[0]
    assert (pain.score, pain.manager_score, pain.source, pain.ai_score) == (3.0, 3, "manager", 1.0)


def test_search_reads_shown_scores_only(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SESSION, ("c1", "discovery", 1.0, result(1.0), "needs_review"))
    page = calls.search_calls(conn, calls.SearchQuery(max_score=1.5), scope=None)
    assert page.items == []  # the held 1.0 is no score: the call is not a low one
    page = calls.search_calls(conn, calls.SearchQuery(), scope=None)
    assert [(i.scores, i.average, i.held) for i in page.items] == [({}, None, 1)]
