"""Calibration: anchored examples from disagreements (criteria, overall scores, one-sided N/A)
and from scores a person confirmed (upheld disputes, review and audit confirmations), in a
candidate rubric folder."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.accuracy import disputes
from common.accuracy.manager_scores import record
from common.config import ROOT
from common.rubrics import load
from functions.cli import main


def seed(db_url: str) -> None:
    result = {
        "overall_score": 4.0,
        "criteria": [
            {
                "criterion_id": "open_questions",
                "score": 4.6,
                "evidence": [{"quote": "So what happens today when a dashboard is slow?"}],
            },
            {"criterion_id": "listening", "score": 3.0, "evidence": []},
            {
                "criterion_id": "pain_and_impact",
                "score": 3.0,
                "evidence": [{"quote": "How much does that cost you each month?"}],
            },
        ],
    }
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO coaching_sessions (call_id, rep_id, dimension, model, cache_key,"
            " transcript_hash, rubric_version, status, overall_score, result)"
            " VALUES ('c1', 'r1', 'discovery', 'm', 'k', 'h', '1.0.0', 'completed', 4, %s)",
            (Jsonb(result),),
        )
        for criterion, score, note in (
            ("open_questions", 2, "One open question, then a checklist."),  # 5 vs 2: a gap of 3
            ("listening", 1, None),  # a gap of 2 but no evidence quote: skipped
            ("pain_and_impact", 4, None),  # a gap of 1: not proposed
        ):
            conn.execute(
                "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,"
                " score, note, source, source_ref, scored_at)"
                " VALUES ('c1', 'r1', 'm1', 'discovery', %s, %s, %s, 'csv', %s, now())",
                (criterion, score, note, criterion),
            )


def test_calibrate_writes_a_bumped_candidate_with_examples(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    seed(db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "candidate"
    assert main(["calibrate", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["criterion"] for p in result["proposals"]] == ["open_questions"]
    assert result["skipped_without_excerpt"] == 1 and result["bumped"] == {"discovery": "1.2.0"}
    candidate, live = load(out), load(ROOT / "rubrics")
    discovery = candidate.rubrics["discovery"]
    example = next(c for c in discovery.criteria if c.id == "open_questions").examples[0]
    assert example.excerpt == "So what happens today when a dashboard is slow?"
    assert example.score == 2 and example.reason == "One open question, then a checklist."
    assert "Example a manager scored 2" in discovery.render()
    assert discovery.version == "1.2.0" and live.rubrics["discovery"].version == "1.1.0"
    for dimension in ("objections", "engagement", "product_knowledge"):
        assert candidate.rubrics[dimension] == live.rubrics[dimension]
    # criteria without examples hash as released: the live rubrics are not "changed"
    assert (
        candidate.rubrics["objections"].content_hash() == live.rubrics["objections"].content_hash()
    )


def seed_person_words(db_url: str) -> None:
    """A discovery session (overall 4.0) that a manager scored overall 2, whose `listening`
    the AI called N/A and the manager scored 3, whose `decision_process` the manager called
    N/A where the AI scored 2, and whose `open_questions` a rep disputed and the manager upheld."""
    result = {
        "overall_score": 4.0,
        "criteria": [
            {
                "criterion_id": "open_questions",
                "score": 4.0,
                "evidence": [{"quote": "What made you look at this now?"}],
            },
            {"criterion_id": "listening", "score": None, "evidence": []},
            {
                "criterion_id": "pain_and_impact",
                "score": 4.4,
                "evidence": [{"quote": "So the cost is mostly the weekend rework?"}],
            },
            {
                "criterion_id": "decision_process",
                "score": 2.0,
                "evidence": [{"quote": "Who else would sign this off?"}],
            },
        ],
    }
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO users (id, name, role) VALUES ('m1', 'M', 'manager')")
        conn.execute(
            "INSERT INTO users (id, name, role, manager_id) VALUES ('r1', 'R', 'rep', 'm1')"
        )
        conn.execute("INSERT INTO calls (id, title, primary_user_id) VALUES ('c2', 'Acme', 'r1')")
        conn.execute(
            "INSERT INTO coaching_sessions (call_id, rep_id, dimension, model, cache_key,"
            " transcript_hash, rubric_version, status, overall_score, result)"
            " VALUES ('c2', 'r1', 'discovery', 'm', 'k', 'h', '1.0.0', 'completed', 4, %s)",
            (Jsonb(result),),
        )
        for criterion, score, note in (
            ("overall", 2, "Generous: no budget, no timeline."),
            ("listening", 3, None),
            ("decision_process", None, "Nobody could sign anything on this call."),
        ):
            record(
                conn,
                call_id="c2",
                rep_id="r1",
                reviewer_id="m1",
                dimension="discovery",
                criterion=criterion,
                score=score,
                note=note,
                rubric_version="1.0.0",
            )
        dispute = disputes.open_dispute(
            conn,
            call_id="c2",
            rep_id="r1",
            dimension="discovery",
            criterion="open_questions",
            reason="I asked plenty.",
        )
        disputes.resolve(
            conn,
            dispute.id,
            manager_id="m1",
            decision="uphold",
            score=None,
            reason="A 4 is right: layered, but no follow-up on the second answer.",
            rubric_version="1.0.0",
        )


def test_calibrate_learns_from_overall_scores_na_and_upheld_disputes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_person_words(db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "candidate"
    assert main(["calibrate", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(p["criterion"], p["kind"], p["manager_score"]) for p in result["proposals"]] == [
        ("pain_and_impact", "overall", 2),  # the overall gap, on the criterion the AI rated highest
        ("open_questions", "upheld", 4),  # an anchor a rep contested and a manager confirmed
    ]
    assert result["counts"] == {
        "pairs": 4,
        "agreements": 1,
        "disagreements": 3,  # the overall gap of 2 and both one-sided N/As
        "overall_disagreements": 1,
        "one_sided_na": 2,
        "both_na": 0,
        "upheld": 1,
        "confirmed": 0,
    }
    assert result["skipped_without_excerpt"] == 1  # listening: the AI said N/A, quoted nothing
    assert sorted(
        (n["criterion"], n["ai_score"], n["manager_score"]) for n in result["not_applicable"]
    ) == [("decision_process", 2.0, None), ("listening", None, 3)]
    discovery = load(out).rubrics["discovery"]
    examples = {c.id: [(e.score, e.excerpt) for e in c.examples] for c in discovery.criteria}
    assert examples["pain_and_impact"] == [(2, "So the cost is mostly the weekend rework?")]
    assert examples["open_questions"] == [(4, "What made you look at this now?")]
