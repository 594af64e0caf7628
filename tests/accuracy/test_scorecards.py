"""Importing managers' Gong scorecards from the Gong stand-in into manager_scores."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.scorecards import ScorecardMapping, describe, import_answers
from common.config import ROOT, Settings
from common.errors import RubricError
from common.gong import GongClient, RateLimiter
from common.rubrics import load
from functions.cli import main
from local.gong_server import GongState
from local.scorecards import UNMAPPED, answered_scorecards
from local.stack import GONG_KEY, GONG_SECRET

RUBRICS = load(ROOT / "rubrics")
MAPPING = ScorecardMapping.load(ROOT / "rubrics" / "gong_scorecards.yaml", RUBRICS)
WEEK = (date(2026, 11, 1), date(2026, 12, 1))


def scores(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM manager_scores ORDER BY id").fetchall()


def run_import(db_url: str, url: str) -> Any:
    with (
        GongClient(url, GONG_KEY, GONG_SECRET, limiter=RateLimiter(100)) as gong,
        psycopg.connect(db_url, row_factory=dict_row) as conn,
    ):
        return import_answers(conn, gong, MAPPING, RUBRICS, *WEEK)


def test_mapped_answers_land_once_with_na_kept_and_unmapped_counted(
    db_url: str, gong: tuple[GongState, str]
) -> None:
    state, url = gong
    state.page_size = 3  # 12 answered scorecards over 4 pages
    report = run_import(db_url, url)
    expected = answered_scorecards()
    answers = [a for card in expected for a in card["answers"]]
    mapped = [a for a in answers if a["questionId"] != UNMAPPED[0]]
    assert report.answered_scorecards == len(expected) == 12  # every page followed
    assert report.imported == len(mapped) and report.unmapped == {UNMAPPED[0]: 12}
    rows = scores(db_url)
    assert len(rows) == len(mapped)
    na = [r for r in rows if r["not_applicable"]]
    assert len(na) == sum(a["notApplicable"] for a in mapped) > 0
    assert all(r["score"] is None for r in na)
    assert {r["source"] for r in rows} == {"gong"}
    first = rows[0]
    assert (first["dimension"], first["criterion"]) == ("discovery", "open_questions")
    assert first["rubric_version"] == RUBRICS.rubric_version("discovery")
    assert {r["reviewer_id"] for r in rows if r["call_id"] == "7001001"} == {"2001", "2002"}
    again = run_import(db_url, url)  # a re-import adds nothing twice
    assert again.imported == 0 and again.already_imported == len(mapped)
    assert len(scores(db_url)) == len(mapped)


def test_only_the_review_window_is_read(db_url: str, gong: tuple[GongState, str]) -> None:
    _, url = gong
    with (
        GongClient(url, GONG_KEY, GONG_SECRET, limiter=RateLimiter(100)) as gong_client,
        psycopg.connect(db_url, row_factory=dict_row) as conn,
    ):
        report = import_answers(
            conn, gong_client, MAPPING, RUBRICS, date(2030, 1, 1), date(2030, 2, 1)
        )
    assert report.answered_scorecards == 0 and scores(db_url) == []


def test_unmapped_questions_are_marked(gong: tuple[GongState, str]) -> None:
    _, url = gong
    with GongClient(url, GONG_KEY, GONG_SECRET, limiter=RateLimiter(100)) as client:
        cards = describe(client.scorecards(), MAPPING)
    questions = {q["question_id"]: q["maps_to"] for q in cards[0]["questions"]}
    assert questions[UNMAPPED[0]] == "UNMAPPED"
    assert questions["q-100"] == "discovery.overall"
    assert sum(v == "UNMAPPED" for v in questions.values()) == 1


def test_a_mapping_to_a_missing_criterion_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gong_scorecards.yaml"
    path.write_text("questions:\n  q-1: {dimension: discovery, criterion: rapport}\n")
    with pytest.raises(RubricError, match="discovery has no criterion 'rapport'"):
        ScorecardMapping.load(path, RUBRICS)


def test_cli_lists_scorecards_and_imports(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {
        "DATABASE_URL": settings.database_url,
        "GONG_BASE_URL": settings.gong_base_url,
        "GONG_ACCESS_KEY": GONG_KEY,
        "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["scorecards"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["unmapped_questions"] == 1
    assert main(["import-scorecards", "--from", "2026-11-01", "--to", "2026-12-01"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["imported"] > 0 and imported["unmapped"] == {UNMAPPED[0]: 12}
    assert main(["import-scorecards"]) == 0  # incremental: from the newest review on
    assert json.loads(capsys.readouterr().out)["imported"] == 0
