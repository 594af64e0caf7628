"""Calibration: anchored examples from disagreements, in a candidate rubric folder."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

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
