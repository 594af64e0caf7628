"""Importing managers' Gong scorecards from the Gong stand-in into manager_scores: once per
answer, a page at a time on Postgres's default lock table, resumed after a stopped run."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.scales import linear
from common.accuracy.scorecards import (
    ScorecardMapping,
    describe,
    import_answers,
    incremental_window,
)
from common.config import ROOT, Settings
from common.errors import GongError, RubricError
from common.gong import GongClient, RateLimiter
from common.rubrics import load
from functions.cli import main
from local.gong_server import GongState
from local.scorecards import (
    NO,
    ONE_TO_TEN,
    SCORECARD_ID,
    UNMAPPED,
    YES,
    YES_NO,
    answered_scorecards,
    question_id,
)
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
    mapped = [a for a in answers if str(a["questionId"]) != UNMAPPED[0]]
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
    assert questions[str(question_id(1, 0))] == "discovery.overall"
    assert sum(v == "UNMAPPED" for v in questions.values()) == 1


def test_a_mapping_to_a_missing_criterion_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gong_scorecards.yaml"
    path.write_text("questions:\n  1: {dimension: discovery, criterion: rapport}\n")
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


def many_cards(n: int) -> list[dict[str, Any]]:
    """`n` answered scorecards of five mapped answers each, reviewed in WEEK; the first half
    in pairs on the same call by two managers (each answer has a peer), the rest alone."""
    # questions the stand-in's settings score 1-5 (ids as strings: Gong's ids may come so too)
    questions = [str(question_id(d, c)) for d, c in ((1, 0), (1, 1), (2, 0), (3, 0), (4, 0))]
    cards = []
    for i in range(n):
        call = f"9{i // 2:06d}" if i < n // 2 else f"8{i:06d}"
        cards.append(
            {
                "answeredScorecardId": f"big-{i}",
                "scorecardId": SCORECARD_ID,
                "scorecardName": "Sales call review",
                "callId": call,
                "callStartTime": "2026-11-02T10:00:00+00:00",
                "reviewTime": f"2026-11-{3 + i % 20:02d}T12:00:00+00:00",
                "reviewedUserId": "1001",
                "reviewerUserId": ("2002", "2001")[i % 2],
                "visibilityType": "PUBLIC",
                "answers": [
                    {
                        "questionId": q,
                        "questionRevisionId": f"{q}-r1",
                        "isOverall": q.endswith("00"),
                        "notApplicable": False,
                        "score": 1 + (i + k) % 5,
                        "answerText": None,
                    }
                    for k, q in enumerate(questions)
                ],
            }
        )
    return cards


def peers_marked_right(db_url: str) -> tuple[int, int]:
    """(scores with a peer, scores whose mark differs from a recount from scratch)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE has_peer), count(*) FILTER (WHERE has_peer <> EXISTS (
                SELECT 1 FROM manager_scores o WHERE o.call_id = m.call_id
                  AND o.dimension = m.dimension AND o.criterion = m.criterion
                  AND o.reviewer_id <> m.reviewer_id))
            FROM manager_scores m
            """
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_fifty_thousand_answers_import_on_the_default_lock_table(
    db_url: str, gong: tuple[GongState, str]
) -> None:
    """Before: one transaction for the window and an advisory lock per row failed "out of
    shared memory" after about 14,700 rows and stored nothing."""
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SHOW max_locks_per_transaction").fetchone() == ("64",)
    state, url = gong
    state.answered = many_cards(10_000)
    report = run_import(db_url, url)
    assert report.answered_scorecards == 10_000
    assert report.imported == 50_000 and report.already_imported == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM manager_scores").fetchone() == (50_000,)
    assert peers_marked_right(db_url) == (25_000, 0)


class FailingAt:
    """A limiter that lets Gong's stand-in answer the `n`th page of answered scorecards with
    429s (beyond the client's retries): Gong unreachable part-way through a window."""

    def __init__(self, state: GongState, n: int) -> None:
        self.state, self.n = state, n

    def acquire(self) -> None:
        if self.state.requests.count("/v2/stats/activity/scorecards") == self.n - 1:
            self.state.force_429 = 1


def test_a_window_stopped_part_way_resumes_after_its_last_committed_page(
    db_url: str, gong: tuple[GongState, str]
) -> None:
    state, url = gong
    state.answered = many_cards(1_000)  # ten Gong pages of 100
    with (  # the error leaves the connection's block: what was not committed rolls back
        pytest.raises(GongError),
        # counted by path: the scorecard settings read first (the questions' scales) is not
        GongClient(url, GONG_KEY, GONG_SECRET, limiter=FailingAt(state, 7), max_retries=0) as g,
        psycopg.connect(db_url, row_factory=dict_row) as conn,
    ):
        import_answers(conn, g, MAPPING, RUBRICS, *WEEK)
    stored = scores(db_url)  # six pages committed before Gong failed on the seventh
    assert len(stored) == 6 * 100 * 5
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        assert incremental_window(conn, date(2027, 1, 5)) == WEEK  # the next run resumes it
    report = run_import(db_url, url)
    assert report.resumed_after_page == 6 and report.pages == 10
    assert report.answered_scorecards == 1_000 and report.imported == 5_000
    after = scores(db_url)
    assert len(after) == len({r["source_ref"] for r in after}) == 5_000
    assert [(r["id"], r["source_ref"]) for r in after[: len(stored)]] == [
        (r["id"], r["source_ref"]) for r in stored
    ]
    assert peers_marked_right(db_url) == (2_500, 0)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        assert incremental_window(conn, date(2027, 1, 5)) != WEEK  # finished


# -- Gong's numeric ids and each question's own scale ---------------------------------------


def test_the_mapping_reads_ids_written_as_numbers_or_strings(tmp_path: Path) -> None:
    path = tmp_path / "gong_scorecards.yaml"
    path.write_text(
        "questions:\n"
        "  9223372036854775807: {dimension: discovery, criterion: listening}\n"
        "  '8172645300000000101': {dimension: discovery, criterion: overall}\n"
        "  42: {dimension: objections, criterion: overall, options: {Yes: 5, No: 1, '3': 2}}\n"
    )
    mapping = ScorecardMapping.load(path, RUBRICS)
    assert set(mapping.questions) == {"9223372036854775807", "8172645300000000101", "42"}
    assert mapping.questions["42"].options == {"yes": 5, "no": 1, "3": 2}
    for wrong, message in [
        ("  6.843152929075440e+18: {dimension: discovery, criterion: overall}\n", "digits"),
        ("  q-101: {dimension: discovery, criterion: overall}\n", "digits"),
        (
            "  7: {dimension: discovery, criterion: overall}\n  '7': {dimension: discovery,"
            " criterion: listening}\n",
            "mapped twice",
        ),
        ("  7: {dimension: discovery, criterion: overall, options: {Yes: 9}}\n", "1-5"),
        ("  7: {dimension: discovery, criterion: overall, option: {Yes: 5}}\n", "option"),
    ]:
        path.write_text("questions:\n" + wrong)
        with pytest.raises(RubricError, match=message):
            ScorecardMapping.load(path, RUBRICS)


def test_answers_on_other_scales_land_on_one_to_five_with_ids_exact(
    db_url: str, gong: tuple[GongState, str]
) -> None:
    _, url = gong
    report = run_import(db_url, url)
    assert report.skipped_scorecards == {} and report.unmapped == {UNMAPPED[0]: 12}
    rows = {r["source_ref"]: r for r in scores(db_url)}
    seen = {"1-10": 0, "yes/no": 0}
    for card in answered_scorecards():
        for a in card["answers"]:
            ref = f"{card['answeredScorecardId']}:{a['questionId']}"  # int64s, exact
            if str(a["questionId"]) == UNMAPPED[0]:
                assert ref not in rows
                continue
            row = rows[ref]
            assert row["call_id"] == str(card["callId"]) and row["rep_id"] == str(
                card["reviewedUserId"]
            )
            if a["notApplicable"]:
                assert row["score"] is None
            elif a["questionId"] == ONE_TO_TEN:
                assert row["score"] == linear(a["score"], 1, 10)
                seen["1-10"] += 1
            elif a["questionId"] == YES_NO:
                assert row["score"] == {str(YES): 5, str(NO): 1}[a["selectedOptions"][0]]
                seen["yes/no"] += 1
            else:
                assert row["score"] == a["score"]
    assert seen["1-10"] > 0 and seen["yes/no"] > 0
    assert {r["score"] for r in rows.values()} <= {None, 1, 2, 3, 4, 5}


def test_a_bad_scorecard_or_answer_is_reported_and_skipped_never_aborting_the_rest(
    db_url: str, gong: tuple[GongState, str]
) -> None:
    """Before: the first unreadable record raised out of the import, and a score off 1-5 hit
    the table's check and rolled the import back."""
    state, url = gong
    cards = copy.deepcopy(answered_scorecards())
    del cards[0]["callId"]  # unreadable: skipped whole
    by_id = {a["questionId"]: a for a in cards[1]["answers"]}
    by_id[question_id(1, 1)].update(score=12, notApplicable=False)  # off its 1-5 scale
    by_id[YES_NO].update(selectedOptions=[str(YES), str(NO)], notApplicable=False)
    by_id[YES_NO].pop("score", None)
    state.answered = cards
    report = run_import(db_url, url)
    assert report.skipped_scorecards == {"AnsweredScorecard: callId: Field required": 1}
    assert report.answered_scorecards == len(cards) - 1
    assert report.unmapped == {
        UNMAPPED[0]: 11,
        f"{question_id(1, 1)}: score 12 is outside 1-5": 1,
        f"{YES_NO}: 2 options selected, one value is needed": 1,
    }
    stored = {r["source_ref"] for r in scores(db_url)}
    per_card = 20
    assert len(stored) == per_card * (len(cards) - 1) - 2 == report.imported
    assert not any(ref.startswith(f"{cards[0]['answeredScorecardId']}:") for ref in stored)


def test_describe_shows_each_questions_scale_or_why_it_has_none(
    gong: tuple[GongState, str],
) -> None:
    state, url = gong
    state.scorecards[0]["questions"].append(
        {"questionId": 77, "questionText": "Notes", "questionType": "TEXT"}
    )
    with GongClient(url, GONG_KEY, GONG_SECRET, limiter=RateLimiter(100)) as client:
        cards = describe(client.scorecards(), MAPPING)
    questions = {q["question_id"]: q for q in cards[0]["questions"]}
    assert questions[str(ONE_TO_TEN)]["scale"] == "1-10, linear onto 1-5"
    assert questions[str(YES_NO)]["scale"] == "'Yes' -> 5, 'No' -> 1"
    assert questions[str(question_id(1, 1))]["scale"] == "1-5"
    assert questions["77"]["maps_to"] == "UNMAPPED"
    assert "neither a range nor answer options" in questions["77"]["problem"]
