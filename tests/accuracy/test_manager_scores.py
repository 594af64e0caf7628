"""Manager scores from a spreadsheet: checked row by row (a bad row reported and skipped),
reviewers only the rep's managers or admins, replaced on re-import, committed a page at a
time and resumed after a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.manager_scores import for_call, record
from common.config import ROOT
from functions.cli import main

HEADER = "call_id,reviewer,dimension,criterion,score,note\n"


@pytest.fixture
def database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Ana (admin); Vic manages Maya, who manages Dana (r1); Omar manages Lee (r2)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, role) VALUES ('a1', 'ana@x.com', 'Ana', 'admin'),"
            " ('v1', 'vic@x.com', 'Vic', 'manager'), ('m1', 'maya@x.com', 'Maya', 'manager'),"
            " ('m2', 'omar@x.com', 'Omar', 'manager'), ('r1', NULL, 'Dana', 'rep'),"
            " ('r2', 'lee@x.com', 'Lee', 'rep')"
        )
        conn.execute(
            "UPDATE users SET manager_id = CASE id WHEN 'm1' THEN 'v1' WHEN 'r1' THEN 'm1'"
            " WHEN 'r2' THEN 'm2' END WHERE id IN ('m1', 'r1', 'r2')"
        )
        conn.execute("INSERT INTO calls (id, primary_user_id) VALUES ('c1', 'r1')")
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield db_url


def count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM manager_scores").fetchone()
    assert row is not None
    return int(row[0])


def test_a_spreadsheet_is_imported_and_a_corrected_one_replaces_it(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        HEADER + "c1,maya@x.com,discovery,overall,2,Too much pitching\n"
        "c1,m1,discovery,listening,na,\n"
    )
    assert main(["import-manager-scores", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rows"], out["skipped"], out["problems"]) == (2, 0, [])
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
        ("c1\x00,m1,discovery,overall,2,x\n", "line 3: contains a NUL character"),
        ("c1,m1,discovery,overall\n", "line 3: expected 6 fields, got 4"),
        # reviewers: only the rep's managers (up the chain) or admins
        ("c1,omar@x.com,discovery,overall,2,x\n", "line 3: reviewer 'omar@x.com' is neither"),
        ("c1,r2,discovery,overall,2,x\n", "line 3: reviewer 'r2' is neither"),
    ],
)
def test_a_bad_row_is_reported_by_line_and_skipped(
    database: str, tmp_path: Path, row: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: any user was accepted as reviewer, and one bad row stored nothing at all."""
    path = tmp_path / "scores.csv"
    path.write_text(
        HEADER + "c1,m1,discovery,overall,2,fine\n" + row + "c1,v1,objections,overall,4,ok\n"
    )
    assert main(["import-manager-scores", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 2 and out["skipped"] == 1
    assert len(out["problems"]) == 1 and out["problems"][0].startswith(message)
    assert count(database) == 2


def test_a_grand_manager_and_an_admin_may_score(database: str, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        HEADER + "c1,vic@x.com,discovery,overall,2,\nc1,ANA@x.com,discovery,overall,3,\n"
    )
    assert main(["import-manager-scores", str(path)]) == 0
    with psycopg.connect(database, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT reviewer_id, has_peer FROM manager_scores ORDER BY reviewer_id"
        ).fetchall()
    assert rows == [
        {"reviewer_id": "a1", "has_peer": True},
        {"reviewer_id": "v1", "has_peer": True},
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # before: the quote swallowed every line after it into one note, and was stored
        (
            'c1,m1,discovery,overall,2,"never closed\nc1,m1,discovery,listening,3,x\n',
            "line 4: a quoted field is never closed",
        ),
        ('c1,m1,discovery,overall,2,"a"b\n', "line 4: not a readable CSV"),
        ("c1,m1,discovery,overall,2," + "x" * 140_000 + "\n", "line 4: not a readable CSV"),
    ],
)
def test_a_file_that_is_not_a_readable_csv_is_refused_whole(
    database: str, tmp_path: Path, body: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    # a quoted note over two lines (2-3): the record after it starts on line 4
    path.write_text(HEADER + 'c1,m1,discovery,open_questions,2,"two\nlines"\n' + body)
    assert main(["import-manager-scores", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert count(database) == 0


def test_a_file_that_is_not_utf8_is_one_line(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes((HEADER + "c1,m1,discovery,overall,2,Müller\n").encode("latin-1"))
    assert main(["import-manager-scores", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and err.count("\n") == 1


def big_team(db_url: str, tmp_path: Path) -> Path:
    """10,000 calls of 50 reps (Maya's and Omar's, under Vic), five scores each: 50,000 rows,
    20,000 with a peer (Vic and the rep's manager on the same discovery overall)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, name, role, manager_id) SELECT 'rep' || i, 'Rep ' || i,"
            " 'rep', CASE WHEN i % 2 = 0 THEN 'm1' ELSE 'm2' END FROM generate_series(0, 49) i"
        )
        conn.execute("UPDATE users SET manager_id = 'v1' WHERE id = 'm2'")
        conn.execute(
            "INSERT INTO calls (id, primary_user_id) SELECT 'call' || i, 'rep' || (i % 50)"
            " FROM generate_series(0, 9999) i"
        )
    lines = [HEADER]
    for i in range(10_000):
        manager = ("m1", "m2")[i % 50 % 2]
        for reviewer, dimension, criterion in [
            (manager, "discovery", "overall"),
            ("v1", "discovery", "overall"),
            (manager, "discovery", "open_questions"),
            (manager, "objections", "overall"),
            ("vic@x.com", "engagement", "overall"),
        ]:
            lines.append(f"call{i},{reviewer},{dimension},{criterion},{1 + i % 5},n{i}\n")
    path = tmp_path / "big.csv"
    path.write_text("".join(lines))
    return path


def test_a_killed_import_of_fifty_thousand_rows_resumes_after_its_last_committed_page(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the whole file was one transaction (nothing visible until its end, and on the
    default lock table it failed "out of shared memory" after about 14,700 rows)."""
    with psycopg.connect(database) as conn:
        assert conn.execute("SHOW max_locks_per_transaction").fetchone() == ("64",)
    path = big_team(database, tmp_path)
    log = tmp_path / "import.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "import-manager-scores", str(path)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    committed = 0
    try:
        while proc.poll() is None and committed < 2_000:
            committed = count(database)
            time.sleep(0.02)
        assert proc.poll() is None, f"the import ended first: {log.read_text()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with psycopg.connect(database) as conn:
        before = conn.execute("SELECT id, xmin::text FROM manager_scores ORDER BY id").fetchall()
    assert 2_000 <= len(before) < 50_000 and len(before) % 1_000 == 0  # whole pages
    assert main(["import-manager-scores", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resumed_at_line"] == len(before) + 2  # the header is line 1
    assert out["rows"] == 50_000 and out["skipped"] == 0 and out["pages"] == 50
    with psycopg.connect(database) as conn:
        after = conn.execute("SELECT id, xmin::text FROM manager_scores ORDER BY id").fetchall()
        peers = conn.execute(
            "SELECT count(*) FILTER (WHERE has_peer), count(DISTINCT source_ref)"
            " FROM manager_scores"
        ).fetchone()
    assert len(after) == 50_000 and peers == (20_000, 50_000)
    assert after[: len(before)] == before  # the committed pages were not written again


def test_two_reviewers_scoring_one_criterion_at_once_both_see_a_peer(database: str) -> None:
    """Peer marks take one lock per writing transaction, not one per row: the second writer
    waits for the first to commit, then its marking sees both scores."""

    def score(conn: psycopg.Connection[Any], reviewer: str) -> None:
        record(
            conn,
            call_id="c1",
            rep_id="r1",
            reviewer_id=reviewer,
            dimension="discovery",
            criterion="overall",
            score=3,
            note=None,
            rubric_version="v",
        )

    with (
        psycopg.connect(database, row_factory=dict_row) as first,
        psycopg.connect(database, row_factory=dict_row) as second,
    ):
        score(first, "m1")  # not committed yet
        pid = second.info.backend_pid

        def second_writer() -> None:
            score(second, "v1")
            second.commit()

        waiter = threading.Thread(target=second_writer)
        waiter.start()
        with psycopg.connect(database) as watch:  # the second writer waits on the first's lock
            while not watch.execute(
                "SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)
            ).fetchone():
                assert waiter.is_alive(), "the second writer did not wait"
                time.sleep(0.01)
        first.commit()
        waiter.join(30)
    with psycopg.connect(database) as conn:
        marks = conn.execute(
            "SELECT reviewer_id, has_peer FROM manager_scores ORDER BY reviewer_id"
        ).fetchall()
    assert marks == [("m1", True), ("v1", True)]
