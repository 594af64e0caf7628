"""Score pairs from Postgres: AI vs manager, the human ceiling and AI consistency."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from common.accuracy.pairs import Filters, agreement, ai_vs_ai, ai_vs_manager, manager_vs_manager


def session(
    conn: Any,
    call: str,
    overall: float | None,
    criteria: dict[str, float | None],
    when: str,
    superseded: bool = False,
    rep: str = "r1",
) -> None:
    result = {
        "overall_score": overall,
        "criteria": [{"criterion_id": k, "score": v} for k, v in criteria.items()],
    }
    conn.execute(
        "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model, cache_key,"
        " transcript_hash, rubric_version, status, overall_score, result, superseded_at)"
        " VALUES (%s, %s, %s, 'discovery', 'm', 'k', 'h', '1.0.0', 'completed', %s, %s, %s)",
        (when, call, rep, overall, Jsonb(result), when if superseded else None),
    )


def manager(
    conn: Any, call: str, reviewer: str, criterion: str, score: int | None, rep: str = "r1"
) -> None:
    conn.execute(
        "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,"
        " not_applicable, source, source_ref, scored_at)"
        " VALUES (%s, %s, %s, 'discovery', %s, %s, %s, 'csv', %s, '2026-11-18')",
        (call, rep, reviewer, criterion, score, score is None, f"{call}:{reviewer}:{criterion}"),
    )


@pytest.fixture
def seeded(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        # the current session (3.4 -> 3; 4.0 -> 4; 2.5 -> 3) and an older one of the same rubric
        session(
            conn, "c1", 3.4, {"open_questions": 4.0, "pain_and_impact": 2.5}, "2026-11-17 10:00+00"
        )
        session(
            conn,
            "c1",
            1.6,
            {"open_questions": 4.4, "pain_and_impact": 1.0},
            "2026-11-16 10:00+00",
            superseded=True,
        )
        manager(conn, "c1", "m1", "overall", 3)
        manager(conn, "c1", "m1", "open_questions", 4)
        manager(conn, "c1", "m1", "pain_and_impact", 3)
        manager(conn, "c1", "m1", "listening", None)  # not applicable: no pair
        manager(conn, "c1", "m2", "overall", 4)
        session(conn, "c2", 5.0, {"open_questions": 5.0}, "2026-11-17 11:00+00", rep="r2")
        manager(conn, "c2", "m1", "overall", 1, rep="r2")
    return db_url


def pairs_of(items: list[Any]) -> list[tuple[str, str, int, int]]:
    return sorted((p.call_id, p.criterion, p.ai, p.human) for p in items)


def test_ai_vs_manager_uses_the_current_session_rounded(seeded: str) -> None:
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        pairs = ai_vs_manager(conn, Filters())
        team = ai_vs_manager(conn, Filters(rep_ids=["r2"]))
        later = ai_vs_manager(conn, Filters(start=date(2026, 11, 19)))
    assert pairs_of(pairs) == [
        ("c1", "open_questions", 4, 4),
        ("c1", "overall", 3, 3),
        ("c1", "overall", 3, 4),
        ("c1", "pain_and_impact", 3, 3),
        ("c2", "overall", 5, 1),
    ]
    assert pairs_of(team) == [("c2", "overall", 5, 1)] and later == []


def test_human_ceiling_and_ai_consistency(seeded: str) -> None:
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        humans = manager_vs_manager(conn, Filters())
        itself = ai_vs_ai(conn, Filters())
        # both sessions (16 and 17 November) inside the window, bounded by days or not
        window = ai_vs_ai(conn, Filters(start=date(2026, 11, 16), end=date(2026, 11, 18)))
        outside = ai_vs_ai(conn, Filters(start=date(2026, 11, 17)))
        result = agreement(conn, Filters(), bootstrap=50)
    assert pairs_of(humans) == [("c1", "overall", 3, 4)]
    assert pairs_of(itself) == [
        ("c1", "open_questions", 4, 4),
        ("c1", "overall", 3, 2),
        ("c1", "pain_and_impact", 3, 1),
    ]
    assert pairs_of(window) == pairs_of(itself) and outside == []
    ai = result["ai_vs_manager"]
    assert ai["overall"]["n"] == 5 and ai["overall"]["exact"] == 0.6
    assert ai["by_criterion"]["discovery.overall"]["n"] == 3
    assert result["human_ceiling"]["overall"]["exact"] == 0.0
    assert result["ai_consistency"]["overall"]["within_one"] == pytest.approx(2 / 3, abs=1e-4)


def test_the_pair_follows_re_analysis_and_erasure(seeded: str) -> None:
    """The AI score kept beside each manager score (0008_read_speed) is the current one:
    a score given before the call was analysed pairs once it is, a re-analysis replaces it,
    and erasing the sessions removes the pair."""
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        manager(conn, "c3", "m1", "overall", 2)
        before = ai_vs_manager(conn, Filters(rep_ids=["r1"]))
        session(conn, "c3", 1.9, {"open_questions": 2.0}, "2026-11-18 09:00+00")
        analysed = ai_vs_manager(conn, Filters(rep_ids=["r1"]))
        conn.execute("UPDATE coaching_sessions SET superseded_at = now() WHERE call_id = 'c3'")
        session(conn, "c3", 4.6, {"open_questions": 5.0}, "2026-11-19 09:00+00")
        again = ai_vs_manager(conn, Filters(rep_ids=["r1"]))
        conn.execute("DELETE FROM coaching_sessions WHERE call_id = 'c1'")
        erased = ai_vs_manager(conn, Filters(rep_ids=["r1"]))
    assert ("c3", "overall", 2, 2) not in pairs_of(before)
    assert ("c3", "overall", 2, 2) in pairs_of(analysed)
    assert ("c3", "overall", 5, 2) in pairs_of(again)
    assert ("c3", "overall", 2, 2) not in pairs_of(again)
    assert pairs_of(erased) == [("c3", "overall", 5, 2)]


def test_the_human_ceiling_follows_a_second_reviewer_and_its_erasure(seeded: str) -> None:
    """`has_peer` (0010_team_reads) narrows the human ceiling to scores another reviewer
    also gave: a third reviewer's score pairs at once, and deleting one side of a pair
    removes it."""
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row, autocommit=True) as conn:
        manager(conn, "c2", "m3", "overall", 2, rep="r2")
        added = manager_vs_manager(conn, Filters())
        conn.execute("DELETE FROM manager_scores WHERE call_id = 'c1' AND reviewer_id = 'm2'")
        erased = manager_vs_manager(conn, Filters())
        flagged = conn.execute(
            "SELECT call_id, reviewer_id FROM manager_scores WHERE has_peer ORDER BY 1, 2"
        ).fetchall()
    assert pairs_of(added) == [("c1", "overall", 3, 4), ("c2", "overall", 1, 2)]
    assert pairs_of(erased) == [("c2", "overall", 1, 2)]
    assert [(r["call_id"], r["reviewer_id"]) for r in flagged] == [("c2", "m1"), ("c2", "m3")]


def test_two_reviewers_scoring_at_once_still_pair(seeded: str) -> None:
    """Each insert alone sees no peer (neither has committed): the trigger's lock makes the
    second wait for the first, and its marking then sees both."""
    first = psycopg.connect(seeded)
    second = psycopg.connect(seeded)
    try:
        manager(first, "c9", "m1", "overall", 3)  # uncommitted, holds the criterion's lock
        done = threading.Event()

        def other() -> None:
            manager(second, "c9", "m2", "overall", 5)
            second.commit()
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(1.0)  # waits on the first reviewer's transaction
        first.commit()
        thread.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        humans = manager_vs_manager(conn, Filters())
    assert ("c9", "overall", 3, 5) in pairs_of(humans)


def test_na_pairs_with_na_and_one_sided_na_is_counted_apart(seeded: str) -> None:
    """Both sides N/A agree; AI N/A against a manager's score (or the reverse) is counted
    and shown, and neither enters the 1-5 metrics."""
    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        session(conn, "c4", None, {"open_questions": None, "decision_process": None}, "2026-11-18")
        manager(conn, "c4", "m1", "overall", None)  # Gong's notApplicable
        manager(conn, "c4", "m1", "open_questions", 2)  # the manager scored what the AI did not
        session(conn, "c5", 3.0, {"decision_process": None, "listening": 4.0}, "2026-11-18")
        manager(conn, "c5", "m1", "decision_process", None)
        manager(conn, "c5", "m1", "listening", None)  # the AI scored what the manager did not
        pairs = [p for p in ai_vs_manager(conn, Filters()) if p.call_id in ("c4", "c5")]
        result = agreement(conn, Filters(), bootstrap=50)["ai_vs_manager"]
    assert pairs_of(pairs) == [
        ("c4", "open_questions", 0, 2),
        ("c4", "overall", 0, 0),
        ("c5", "decision_process", 0, 0),
        ("c5", "listening", 4, 0),
    ]
    na = result["overall"]["not_applicable"]
    assert (na["both"], na["ai_only"], na["manager_only"]) == (2, 1, 1)
    assert result["overall"]["n"] == 5  # the seeded 1-5 pairs only
    assert na["exact_with_na"] == round((3 + 2) / 9, 4)
    assert result["by_criterion"]["discovery.listening"]["not_applicable"]["manager_only"] == 1


def test_counted_report_equals_the_report_of_the_pairs(seeded: str) -> None:
    """Agreement counted in Postgres gives what the pairs one by one give."""
    from common.accuracy.pairs import with_criteria

    with psycopg.connect(seeded, row_factory=psycopg.rows.dict_row) as conn:
        counted = agreement(conn, Filters(), bootstrap=200)
        listed = with_criteria(ai_vs_manager(conn, Filters()), 200)
    assert counted["ai_vs_manager"] == listed


def test_the_cli_prints_the_table_and_json(
    seeded: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.cli import main

    monkeypatch.setenv("DATABASE_URL", seeded)
    assert main(["agreement", "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "overall" in text and "discovery" in text and "managers:" in text
    assert main(["agreement", "--json", "--dimension", "discovery", "--bootstrap", "50"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ai_vs_manager"]["by_dimension"]["discovery"]["n"] == 5


@pytest.mark.parametrize(
    ("overall", "criterion", "expected"),
    [
        (3.4, "overall", (3.4, False, True)),
        (None, "overall", (None, True, True)),  # the dimension judged N/A
        (3.4, "open_questions", (4.0, False, True)),
        (3.4, "pain_and_impact", (None, True, True)),  # the criterion judged N/A
        (3.4, "charisma", (None, False, False)),  # not a criterion of this rubric
    ],
)
def test_one_definition_of_the_ais_score_of_a_criterion(
    db_url: str, overall: float | None, criterion: str, expected: tuple[Any, ...]
) -> None:
    """`ai_criterion` (0012), which the manager-score trigger, eval pairs and disputes read."""
    result = {
        "criteria": [
            {"criterion_id": "open_questions", "score": 4.0},
            {"criterion_id": "pain_and_impact", "score": None},
        ]
    }
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT score::float, not_applicable, known FROM ai_criterion(%s::numeric, %s, %s)",
            (overall, Jsonb(result), criterion),
        ).fetchone()
    assert row == expected
