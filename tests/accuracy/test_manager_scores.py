"""Manager scores from a spreadsheet: checked row by row, replaced on re-import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.manager_scores import for_call
from functions.cli import main

HEADER = "call_id,reviewer,dimension,criterion,score,note\n"


@pytest.fixture
def database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:

    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, role) VALUES"
            " ('m1', 'maya@x.com', 'Maya', 'manager'), ('r1', NULL, 'Dana', 'rep')"
        )
        conn.execute("INSERT INTO calls (id, primary_user_id) VALUES ('c1', 'r1')")
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield db_url


def test_a_spreadsheet_is_imported_and_a_corrected_one_replaces_it(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        HEADER + "c1,maya@x.com,discovery,overall,2,Too much pitching\n"
        "c1,m1,discovery,listening,na,\n"
    )
    assert main(["import-manager-scores", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"rows": 2}
    path.write_text(HEADER + "c1,m1,discovery,overall,3,Better on a second listen\n")
    assert main(["import-manager-scores", str(path)]) == 0
    with psycopg.connect(database, row_factory=dict_row) as conn:
        scores = for_call(conn, "c1")["discovery"]
    assert [(s.criterion, s.score, s.note, s.source, s.reviewer_name) for s in scores] == [
        ("overall", 3, "Better on a second listen", "csv", "Maya"),
        ("listening", None, None, "csv", "Maya"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("c9,m1,discovery,overall,2,x\n", "line 3: unknown call 'c9'"),
        ("c1,nobody,discovery,overall,2,x\n", "line 3: unknown reviewer 'nobody'"),
        ("c1,m1,discovery,charisma,2,x\n", "line 3: discovery has no criterion 'charisma'"),
        ("c1,m1,discovery,overall,6,x\n", "line 3: score must be 1-5 or na"),
        ("c1,r1,discovery,overall,5,me\n", "line 3: a rep cannot score their own call"),
        ("c1,m1,discovery,overall,2,a\x00b\n", "line 3: contains a NUL character"),
        ("c1,m1,discovery,overall,2," + "x" * 140_000 + "\n", "not a readable CSV"),
    ],
)
def test_a_bad_row_names_its_line_and_nothing_is_stored(
    database: str, tmp_path: Path, row: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(HEADER + "c1,m1,discovery,overall,2,fine\n" + row)
    assert main(["import-manager-scores", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM manager_scores").fetchone() == (0,)


def test_a_file_that_is_not_utf8_is_one_line(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes((HEADER + "c1,m1,discovery,overall,2,Müller\n").encode("latin-1"))
    assert main(["import-manager-scores", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and err.count("\n") == 1
