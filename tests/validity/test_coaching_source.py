"""Coaching events and scores from the project's own tables (real Postgres): a manager's
score is an override or a confirmation, a resolved dispute counts once, a manager scoring
their own call is no coaching, days are UTC dates, and scope is by rep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.validity.coaching import ScorePoint
from common.validity.coaching_source import coaching_effect, events, points

Conn = psycopg.Connection[dict[str, Any]]

CALLS = [  # id, rep, started (a New York evening: the next day in UTC)
    ("c1", "r1", "2024-03-04 23:30-05"),
    ("c2", "r2", "2024-03-05 10:00+00"),
    ("c3", "r3", "2024-03-06 10:00+00"),
    ("c4", "r1", "2024-03-07 10:00+00"),
]


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        c.execute("SET TIME ZONE 'America/New_York'")  # days must still be UTC days
        for call, rep, started in CALLS:
            c.execute(
                "INSERT INTO calls (id, primary_user_id, started_at) VALUES (%s, %s, %s)",
                (call, rep, started),
            )
        yield c


def _score(
    conn: Conn,
    call: str,
    rep: str | None,
    key: tuple[str, str],
    at: str,
    source: str = "mcp",
    confirms: bool = False,
    reviewer: str = "m1",
) -> int:
    row = conn.execute(
        "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,"
        " source, source_ref, scored_at, confirms_ai)"
        " VALUES (%s, %s, %s, %s, %s, 3, %s, %s, %s, %s) RETURNING id",
        (call, rep, reviewer, *key, source, f"{call}:{key}:{reviewer}", at, confirms),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _dispute(
    conn: Conn, call: str, key: tuple[str, str], status: str, at: str | None, score: int | None
) -> None:
    conn.execute(
        "INSERT INTO disputes (call_id, rep_id, dimension, criterion, reason, status,"
        " resolved_at, manager_score_id) VALUES (%s, 'r1', %s, %s, 'no', %s, %s, %s)",
        (call, *key, status, at, score),
    )


def test_events_are_manager_scores_and_disputes_once_each_by_rep(conn: Conn) -> None:
    _score(conn, "c1", "r1", ("discovery", "overall"), "2024-03-08 23:30-05")
    _score(conn, "c2", "r2", ("objections", "objections_0"), "2024-03-12 09:00+00", "gong", True)
    _score(conn, "c3", None, ("engagement", "overall"), "2024-03-13 09:00+00", "csv")
    _score(conn, "c1", "r1", ("engagement", "overall"), "2024-03-13 09:00+00", reviewer="r1")
    upheld = _score(conn, "c4", "r1", ("objections", "overall"), "2024-03-14 09:00+00", "mcp", True)
    _dispute(conn, "c4", ("objections", "overall"), "upheld", "2024-03-14 09:00+00", upheld)
    _dispute(conn, "c4", ("discovery", "discovery_0"), "overridden", "2024-03-15 09:00+00", None)
    _dispute(conn, "c4", ("engagement", "overall"), "open", None, None)
    found = {
        (e.rep_id, e.dimension, e.criterion, e.at, e.kind, e.call_at) for e in events(conn, None)
    }
    assert found == {
        ("r1", "discovery", "overall", date(2024, 3, 9), "override", date(2024, 3, 5)),
        ("r2", "objections", "objections_0", date(2024, 3, 12), "confirmation", date(2024, 3, 5)),
        ("r3", "engagement", "overall", date(2024, 3, 13), "override", date(2024, 3, 6)),
        ("r1", "objections", "overall", date(2024, 3, 14), "confirmation", date(2024, 3, 7)),
        ("r1", "discovery", "discovery_0", date(2024, 3, 15), "dispute", date(2024, 3, 7)),
    }
    assert len(events(conn, None)) == 5  # the upheld dispute is its manager score, once
    assert {e.rep_id for e in events(conn, {"r1", "r9"})} == {"r1"}
    assert len(events(conn, {"r1"})) == 3
    assert {e.rep_id for e in events(conn, {"r3"})} == {"r3"}  # the call's rep
    assert events(conn, set()) == []


def test_points_are_the_scores_a_person_sees_and_the_effect_says_too_few(conn: Conn) -> None:
    _score(conn, "c1", "r1", ("discovery", "discovery_1"), "2024-03-10 09:00+00")
    _score(conn, "c2", "r2", ("discovery", "discovery_1"), "2024-03-10 09:00+00")
    assert sorted(points(conn, None), key=lambda p: p.rep_id) == [
        ScorePoint(
            rep_id="r1",
            dimension="discovery",
            criterion="discovery_1",
            at=date(2024, 3, 5),
            score=3.0,
        ),
        ScorePoint(
            rep_id="r2",
            dimension="discovery",
            criterion="discovery_1",
            at=date(2024, 3, 5),
            score=3.0,
        ),
    ]
    assert [p.rep_id for p in points(conn, {"r2"})] == ["r2"]
    result = coaching_effect(conn, None, weeks=4, min_events=30)
    assert (result.enough_events, result.events, result.usable_events) == (False, 2, 0)
    assert result.more_needed == 30 and result.effect is None


def _plan(
    conn: Conn,
    rep: str,
    week: str,
    status: str,
    approved: str | None,
    coached: list[str],
) -> None:
    conn.execute(
        "INSERT INTO users (id, name) VALUES (%s, %s), ('m1', 'M') ON CONFLICT DO NOTHING",
        (rep, rep),
    )
    conn.execute(
        "INSERT INTO weekly_plans (rep_id, week_start, status, coached, approved_by, approved_at)"
        " VALUES (%s, %s, %s, %s, CASE WHEN %s::timestamptz IS NULL THEN NULL ELSE 'm1' END, %s)",
        (rep, week, status, coached, approved, approved),
    )


def test_an_approved_sent_plan_is_an_event_per_criterion_it_coaches(conn: Conn) -> None:
    listening, steps = "discovery.listening", "objections.next_steps"
    _plan(conn, "r1", "2024-03-04", "sent", "2024-03-11 23:30-05", [listening, steps])
    _plan(conn, "r2", "2024-03-04", "acknowledged", "2024-03-13 09:00+00", ["engagement.patience"])
    _plan(conn, "r1", "2024-03-11", "approved", "2024-03-18 09:00+00", [listening])  # not sent
    _plan(conn, "r2", "2024-03-11", "sent", None, [steps])  # sent unapproved: no manager's word
    _plan(conn, "r3", "2024-03-11", "draft", None, [steps])
    found = {
        (e.rep_id, e.dimension, e.criterion, e.at, e.kind, e.call_at) for e in events(conn, None)
    }
    assert found == {
        ("r1", "discovery", "listening", date(2024, 3, 12), "plan", date(2024, 3, 4)),
        ("r1", "objections", "next_steps", date(2024, 3, 12), "plan", date(2024, 3, 4)),
        ("r2", "engagement", "patience", date(2024, 3, 13), "plan", date(2024, 3, 4)),
    }
    assert {e.rep_id for e in events(conn, {"r2"})} == {"r2"}


def test_a_note_the_rep_acknowledged_is_an_event_on_its_focus(conn: Conn) -> None:
    for rep in ("r1", "r2"):
        conn.execute(
            "INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, 'rep')",
            (rep, f"{rep}@example.com", rep),
        )
    for call, rep, acknowledged in [
        ("c1", "r1", "2024-03-08 09:00+00"),
        ("c2", "r2", None),  # sent, never acknowledged: no event
    ]:
        conn.execute(
            "INSERT INTO rep_notes (call_id, rep_id, body, action, focus, status, next_attempt_at,"
            " sent_at, acknowledged_at) VALUES (%s, %s, 'b', 'a', 'discovery.listening', 'sent',"
            " now(), now(), %s)",
            (call, rep, acknowledged),
        )
    found = [
        (e.rep_id, e.dimension, e.criterion, e.at, e.kind, e.call_at) for e in events(conn, None)
    ]
    assert found == [("r1", "discovery", "listening", date(2024, 3, 8), "note", date(2024, 3, 5))]
    assert events(conn, {"r2"}) == []
