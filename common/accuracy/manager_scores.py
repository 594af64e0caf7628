"""Managers' own scores: recorded from Claude Desktop, shown beside the AI's."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from common.access import Caller, in_scope
from common.accuracy.agreement import PairsFileError
from common.db import Row
from common.rubrics import RubricSet


class ManagerScoreOut(BaseModel):
    reviewer_id: str
    reviewer_name: str | None
    criterion: str  # a criterion id, or "overall"
    score: int | None  # None: not applicable
    note: str | None
    source: str  # gong | mcp | csv
    scored_at: datetime


def record(
    conn: psycopg.Connection[Row],
    *,
    call_id: str,
    rep_id: str | None,
    reviewer_id: str,
    dimension: str,
    criterion: str,
    score: int | None,
    note: str | None,
    rubric_version: str,
    source: str = "mcp",
    source_ref: str | None = None,
    confirms_ai: bool = False,
) -> int:
    """Store one manager score; the same (source, source_ref) again replaces score and note.
    `confirms_ai`: the manager's word is that the AI's score stands (a confirmation, an
    upheld dispute), `score` being the AI's on the 1-5 scale (see `ai_on_scale`)."""
    row = conn.execute(
        """
        INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,
            not_applicable, note, source, source_ref, rubric_version, scored_at, confirms_ai)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), %s)
        ON CONFLICT (source, source_ref) DO UPDATE SET score = EXCLUDED.score,
            not_applicable = EXCLUDED.not_applicable, note = EXCLUDED.note,
            scored_at = EXCLUDED.scored_at, confirms_ai = EXCLUDED.confirms_ai
        RETURNING id
        """,
        (
            call_id,
            rep_id,
            reviewer_id,
            dimension,
            criterion,
            score,
            score is None,
            note,
            source,
            source_ref or str(uuid.uuid4()),
            rubric_version,
            confirms_ai,
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def ai_on_scale(score: float | None) -> int | None:
    """The AI's score as a manager would give it (1-5, rounded half up, as `calibrate`
    compares them); None stays N/A."""
    return None if score is None else min(5, max(1, int(score + 0.5)))


def for_call(conn: psycopg.Connection[Row], call_id: str) -> dict[str, list[ManagerScoreOut]]:
    """Each dimension's manager scores, newest first."""
    rows = conn.execute(
        """
        SELECT m.*, u.name AS reviewer_name FROM manager_scores m
        LEFT JOIN users u ON u.id = m.reviewer_id
        WHERE m.call_id = %s ORDER BY m.dimension, m.scored_at DESC, m.id DESC
        """,
        (call_id,),
    ).fetchall()
    out: dict[str, list[ManagerScoreOut]] = {}
    for r in rows:
        out.setdefault(r["dimension"], []).append(
            ManagerScoreOut(
                reviewer_id=r["reviewer_id"],
                reviewer_name=r["reviewer_name"],
                criterion=r["criterion"],
                score=r["score"],
                note=r["note"],
                source=r["source"],
                scored_at=r["scored_at"],
            )
        )
    return out


@dataclass(frozen=True)
class ScoreRow:
    """One manager score to store (an import's row)."""

    call_id: str
    rep_id: str | None
    reviewer_id: str
    dimension: str
    criterion: str
    score: int | None  # None: not applicable
    note: str | None
    source: str  # gong | csv
    source_ref: str
    rubric_version: str | None
    scored_at: datetime | None  # None: now


class Stored(NamedTuple):
    written: int
    not_applicable: int  # of those written


def store(conn: psycopg.Connection[Row], rows: list[ScoreRow], *, replace: bool) -> Stored:
    """A page of scores in one statement (its peers marked once, set-wise, by the table's
    statement triggers). The same (source, source_ref) again replaces score and note when
    `replace` (a corrected spreadsheet), else is left as it is (a Gong answer never changes).
    Returns how many rows were written (inserted, and replaced when `replace`), and how many
    of those are not applicable."""
    if replace:  # one statement may not update a row twice: the last of a page wins
        rows = list({(r.source, r.source_ref): r for r in rows}.values())
    if not rows:
        return Stored(0, 0)
    on_conflict = (
        "DO UPDATE SET score = EXCLUDED.score, not_applicable = EXCLUDED.not_applicable,"
        " note = EXCLUDED.note, scored_at = EXCLUDED.scored_at"
        if replace
        else "DO NOTHING"
    )
    columns = list(zip(*(dataclasses.astuple(r) for r in rows), strict=True))
    written = conn.execute(
        """
        INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,
            not_applicable, note, source, source_ref, rubric_version, scored_at)
        SELECT call_id, rep_id, reviewer_id, dimension, criterion, score, score IS NULL, note,
            source, source_ref, rubric_version, coalesce(scored_at, now())
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::smallint[],
                    %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
            AS r(call_id, rep_id, reviewer_id, dimension, criterion, score, note, source,
                 source_ref, rubric_version, scored_at)
        ON CONFLICT (source, source_ref) """
        + on_conflict
        + " RETURNING not_applicable",
        [list(c) for c in columns],
    ).fetchall()
    return Stored(len(written), sum(r["not_applicable"] for r in written))


# -- import progress -------------------------------------------------------------------------
# An import commits a page at a time; `import_progress` keeps, per Gong review window or CSV
# file (by content), the pages and records committed and the report's counts so far, so a run
# that stops part-way (a crash, a kill, Gong unreachable) is resumed by the next run.


@dataclass
class Progress:
    source: str  # gong | csv
    key: str  # gong: the review window; csv: the file's sha256
    pages: int = 0
    position: int = 0  # scorecards (gong) or records (csv) committed
    totals: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False  # an earlier run of this import stopped after `pages` pages


def begin_import(conn: psycopg.Connection[Row], source: str, key: str) -> Progress:
    """This import's progress: where an unfinished earlier run stopped, or a fresh start."""
    row = conn.execute(
        """
        INSERT INTO import_progress (source, import_key) VALUES (%s, %s)
        ON CONFLICT (source, import_key) DO UPDATE SET updated_at = now(),
            pages = CASE WHEN import_progress.finished_at IS NULL
                         THEN import_progress.pages ELSE 0 END,
            position = CASE WHEN import_progress.finished_at IS NULL
                            THEN import_progress.position ELSE 0 END,
            totals = CASE WHEN import_progress.finished_at IS NULL
                          THEN import_progress.totals ELSE '{}' END,
            started_at = CASE WHEN import_progress.finished_at IS NULL
                              THEN import_progress.started_at ELSE now() END,
            finished_at = NULL
        RETURNING pages, position, totals
        """,
        (source, key),
    ).fetchone()
    assert row is not None
    return Progress(source, key, row["pages"], row["position"], row["totals"], row["pages"] > 0)


def page_done(conn: psycopg.Connection[Row], progress: Progress) -> None:
    """Record a page as committed (in the page's own transaction)."""
    conn.execute(
        "UPDATE import_progress SET pages = %s, position = %s, totals = %s, updated_at = now()"
        " WHERE source = %s AND import_key = %s",
        (progress.pages, progress.position, Jsonb(progress.totals), progress.source, progress.key),
    )


def finish_import(conn: psycopg.Connection[Row], progress: Progress) -> None:
    conn.execute(
        "UPDATE import_progress SET finished_at = now(), updated_at = now()"
        " WHERE source = %s AND import_key = %s",
        (progress.source, progress.key),
    )


def unfinished_imports(conn: psycopg.Connection[Row], source: str) -> list[str]:
    """Keys of this source's imports an earlier run left part-way, oldest first."""
    rows = conn.execute(
        "SELECT import_key FROM import_progress WHERE source = %s AND finished_at IS NULL"
        " ORDER BY started_at",
        (source,),
    ).fetchall()
    return [r["import_key"] for r in rows]


def require_idle(conn: psycopg.Connection[Row]) -> None:
    """Imports commit page by page: their connection must not be inside a transaction."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError(
            "an import commits page by page: pass a connection outside a transaction"
        )


# -- spreadsheets ----------------------------------------------------------------------------
CSV_HEADER = ["call_id", "reviewer", "dimension", "criterion", "score", "note"]
PAGE_ROWS = 1000  # records per transaction
MAX_PROBLEMS = 100  # bad rows named in the report (all are counted in `skipped`)


def read_rows(path: Path, data: bytes) -> list[tuple[int, list[str]]]:
    """(line, cells) of each record after the header of `data` (the file `path`), cells
    stripped. The file is refused whole (a PairsFileError naming the line) when it cannot be
    read as a CSV: not UTF-8, a wrong header, a quote never closed (it would swallow every
    line after it), a field over the csv module's limit. A record with a wrong number of
    fields is kept for the import to report and skip."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PairsFileError(
            f"{path}: not UTF-8 (byte {exc.start}): save it as CSV UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    line = 1  # where the record being read starts
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise PairsFileError(
                    f"{path}: line {line}: a quoted field is never closed"
                ) from None
            raise PairsFileError(f"{path}: line {line}: not a readable CSV: {exc}") from None
        if line == 1:
            if [c.strip() for c in cells] != CSV_HEADER:
                raise PairsFileError(f"{path}: line 1: the header must be {','.join(CSV_HEADER)}")
        elif any(c.strip() for c in cells):
            records.append((line, [c.strip() for c in cells]))
        line = reader.line_num + 1
    if line == 1:
        raise PairsFileError(f"{path}: line 1: the header must be {','.join(CSV_HEADER)}")
    return records


def import_csv(
    conn: psycopg.Connection[Row], path: Path, rubrics: RubricSet, page_rows: int = PAGE_ROWS
) -> dict[str, Any]:
    """Manager scores from a spreadsheet: call_id,reviewer,dimension,criterion,score,note.

    `reviewer` is a Gong user id or email, and must be one of the rep's managers (up the
    chain) or an admin; `criterion` a rubric criterion id or `overall`; `score` 1-5 or `na`.
    The same (call, reviewer, dimension, criterion) imported again replaces its score and
    note. A file that is not a readable CSV is refused whole (PairsFileError naming the line);
    a bad row is reported by line and skipped, never stopping the rest. Rows are committed
    `page_rows` at a time on `conn` (outside any transaction); the same file again after a
    run stopped part-way resumes after the last committed page.
    """
    require_idle(conn)
    data = path.read_bytes()
    records = read_rows(path, data)
    digest = hashlib.sha256(data).hexdigest()
    with conn.transaction():
        progress = begin_import(conn, "csv", digest)
    totals: dict[str, int] = {"rows": 0, "skipped": 0, **progress.totals}
    problems: list[str] = []  # this run's; never kept (a bad row may quote an address)
    resumed_at = (
        records[progress.position][0] if progress.resumed and records[progress.position :] else None
    )
    scopes: dict[tuple[str, str | None], bool] = {}
    for start in range(progress.position, len(records), page_rows):
        page = records[start : start + page_rows]
        with conn.transaction():
            rows, bad = _checked_page(conn, page, rubrics, scopes)
            totals["rows"] += store(conn, rows, replace=True).written
            totals["skipped"] += len(bad)
            problems.extend(bad[: MAX_PROBLEMS - len(problems)])
            progress.pages, progress.position = progress.pages + 1, start + len(page)
            progress.totals = totals
            page_done(conn, progress)
    with conn.transaction():
        finish_import(conn, progress)
    return {**totals, "problems": problems, "pages": progress.pages, "resumed_at_line": resumed_at}


def _checked_page(
    conn: psycopg.Connection[Row],
    page: list[tuple[int, list[str]]],
    rubrics: RubricSet,
    scopes: dict[tuple[str, str | None], bool],
) -> tuple[list[ScoreRow], list[str]]:
    """The page's good rows, and a `line N: why` for each bad one. Calls and reviewers are
    looked up once per page; whether a reviewer manages a rep once per pair."""
    good = [  # the rows worth looking up (Postgres refuses a NUL in a text parameter)
        cells
        for _, cells in page
        if len(cells) == len(CSV_HEADER) and not any("\x00" in c for c in cells)
    ]
    calls = {
        r["id"]: r["primary_user_id"]
        for r in conn.execute(
            "SELECT id, primary_user_id FROM calls WHERE id = ANY(%s)",
            (sorted({c[0] for c in good}),),
        ).fetchall()
    }
    wanted = sorted({c[1] for c in good})
    users: dict[str, Caller] = {}
    for r in conn.execute(
        "SELECT id, lower(email) AS email, name, role FROM users"
        " WHERE id = ANY(%s) OR lower(email) = ANY(%s) ORDER BY id",
        (wanted, [w.lower() for w in wanted]),
    ).fetchall():
        caller = Caller(r["id"], r["name"], r["role"])
        if r["email"]:
            users.setdefault(r["email"], caller)
        users[r["id"]] = caller  # an id matches before an email
    rows, problems = [], []
    for line, cells in page:
        try:
            rows.append(_checked(conn, cells, rubrics, calls, users, scopes))
        except PairsFileError as exc:
            problems.append(f"line {line}: {exc}")
    return rows, problems


def _checked(
    conn: psycopg.Connection[Row],
    cells: list[str],
    rubrics: RubricSet,
    calls: dict[str, str | None],
    users: dict[str, Caller],
    scopes: dict[tuple[str, str | None], bool],
) -> ScoreRow:
    if len(cells) != len(CSV_HEADER):
        raise PairsFileError(f"expected {len(CSV_HEADER)} fields, got {len(cells)}")
    if any("\x00" in c for c in cells):
        raise PairsFileError("contains a NUL character")
    call_id, reviewer, dimension, criterion, score_text, note = cells
    if call_id not in calls:
        raise PairsFileError(f"unknown call {call_id!r}")
    rep_id = calls[call_id]
    user = users.get(reviewer) or users.get(reviewer.lower())
    if user is None:
        raise PairsFileError(f"unknown reviewer {reviewer!r}")
    if user.id == rep_id:  # as the MCP tool refuses it
        raise PairsFileError("a rep cannot score their own call")
    if (user.id, rep_id) not in scopes:
        scopes[user.id, rep_id] = user.is_admin or (
            user.role == "manager" and in_scope(conn, user, rep_id)
        )
    if not scopes[user.id, rep_id]:
        raise PairsFileError(
            f"reviewer {reviewer!r} is neither a manager of the call's rep nor an admin"
        )
    if dimension not in rubrics.rubrics:
        raise PairsFileError(f"unknown dimension {dimension!r}")
    criteria = {c.id for c in rubrics.rubrics[dimension].criteria} | {"overall"}
    if criterion not in criteria:
        raise PairsFileError(f"{dimension} has no criterion {criterion!r}")
    if score_text.lower() not in {"1", "2", "3", "4", "5", "na"}:
        raise PairsFileError(f"score must be 1-5 or na, got {score_text!r}")
    return ScoreRow(
        call_id=call_id,
        rep_id=rep_id,
        reviewer_id=user.id,
        dimension=dimension,
        criterion=criterion,
        score=None if score_text.lower() == "na" else int(score_text),
        note=note or None,
        source="csv",
        source_ref=f"{call_id}:{user.id}:{dimension}:{criterion}",
        rubric_version=rubrics.rubric_version(dimension),
        scored_at=None,
    )
