"""Recording paid responses durably: a local journal first, then Postgres, exactly once.
This module is the only writer of `claude_usage`.

Every Claude response is money spent. `Ledger.record()` writes it to a journal file on local
disk (fsync, atomic rename) before anything else can fail, then writes the `claude_usage` row
and keeps the response's text on its `scoring_work` claim in one transaction, and only then
deletes the journal file. If Postgres is away the write is retried for `wait_s`; after that the
entry stays in the journal and `flush()` (run before every claim and at service start) writes
it once Postgres is back. The usage row is idempotent on the API's message id, so a flush that
is repeated after a crash never records a response twice.

Each journal entry has one owner at a time (an exclusive `flock` on its file): the `record()`
that wrote it until it is in Postgres, or one `flush()` after that record gave up. Flushes run
in every thread before every claim, so they skip what they cannot lock and take a vanished
entry as recorded; an unreadable entry is set aside and alerted, never in the way of claims.

The journal lives per database under `JOURNAL_DIR`; it survives a process restart on the same
machine. A container whose disk is thrown away with it loses entries written during an outage
longer than `wait_s`: mount `JOURNAL_DIR` on a volume where that matters.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from pydantic import BaseModel

from common.db import Db, Row, retrying, transaction
from common.scoring import claims, costs
from common.scoring.costs import Usage

log = logging.getLogger("sales_coach.ledger")


class PaidResponse(BaseModel):
    """One billed response, with what is needed to record it and to resume from it."""

    response_id: str  # the API's message id: unique per billed response
    request_id: str | None
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    usd: Decimal
    call_id: str
    dimension: str
    chunk_index: int
    purpose: str  # score | repair
    batch: bool = False
    work_key: str | None = None
    owner: str | None = None
    attempt: int = 1  # 1 = the chunk's score response, 2 = its repair
    text: str = ""
    at: datetime

    @property
    def usage(self) -> Usage:
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
        )


class Journal:
    """One JSON file per paid response not yet in Postgres, each with one owner at a time.

    Whoever holds an entry holds an exclusive `flock` on its file: the recorder from before the
    file appears under its name until after it is deleted, a flusher while it writes it to
    Postgres. Others skip an entry they cannot lock; an entry gone, or replaced, by the time it
    is locked was recorded by its owner. Entries are shared by every process on the host with
    the same database, and files are renamed into place from a private temporary name, then
    the directory is synced, so a crash leaves either a whole entry or none.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rejected_dir = directory / "rejected"
        self.rejected_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_database(cls, root: Path, database_url: str) -> Journal:
        return cls(root / hashlib.sha256(database_url.encode()).hexdigest()[:16])

    def path(self, response_id: str) -> Path:
        return self.directory / f"{response_id}.json"

    @contextmanager
    def written(self, entry: PaidResponse) -> Iterator[None]:
        """Write the entry durably and own it for the block; delete it when the block ends
        without an error (the response is in Postgres), else leave it for a flusher."""
        tmp = self.directory / f".{entry.response_id}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, entry.model_dump_json().encode())
            os.fsync(fd)
            os.replace(tmp, self.path(entry.response_id))
            self._sync_directory()
            yield
            self.path(entry.response_id).unlink(missing_ok=True)
        finally:
            tmp.unlink(missing_ok=True)
            os.close(fd)  # releases the lock

    def claim(self, path: Path) -> tuple[int, bytes] | None:
        """Lock an entry found on disk: (fd, content), or None when another holds it or it is
        gone (recorded). Closing the fd releases the lock."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(path)  # deleted (recorded) and maybe written anew
            content = b""
            while chunk := os.read(fd, 1 << 16):
                content += chunk
        except FileNotFoundError:
            os.close(fd)
            return None
        return fd, content

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob("*.json"))

    def entries(self) -> list[PaidResponse]:
        """Readable entries on disk now (for status and tests; owners may hold some)."""
        found = []
        for path in self.pending():
            try:
                found.append(PaidResponse.model_validate_json(path.read_bytes()))
            except (FileNotFoundError, ValueError):
                continue
        return found

    def rejected(self) -> list[Path]:
        return sorted(self.rejected_dir.glob("*.json"))

    def set_aside(self, path: Path) -> Path:
        """Move an unreadable entry out of the way (kept for an admin to inspect)."""
        target = self.rejected_dir / path.name
        os.replace(path, target)
        self._sync_directory()
        return target

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Ledger:
    """Records paid responses: journal first, then Postgres; `flush` writes what was left.

    `on_rejected` is told about a journal entry that cannot be read (a truncated or foreign
    file): it is set aside, never retried in the way of other entries' claims.
    """

    def __init__(
        self,
        db: Db,
        journal: Journal,
        wait_s: float = 60.0,
        on_rejected: Callable[[str], object] | None = None,
    ) -> None:
        self.database_url, self.journal, self.wait_s = db, journal, wait_s
        self.on_rejected = on_rejected or (lambda text: log.error("%s", text))

    def record(self, entry: PaidResponse) -> None:
        """Journal, then Postgres (retried for `wait_s`); raises if Postgres stays away, and
        the entry stays in the journal for a later `flush`."""
        with self.journal.written(entry):
            retrying(lambda: self._write(entry), self.wait_s, "ledger")

    def flush(self) -> int:
        """Write journalled responses nobody owns to Postgres; returns how many were flushed.

        Entries a live `record` (in any thread or process) still owns are skipped; one that
        vanished was recorded by its owner. A Postgres error stops the flush and is raised.
        """
        flushed = 0
        for path in self.journal.pending():
            claimed = self.journal.claim(path)
            if claimed is None:
                continue
            fd, content = claimed
            try:
                try:
                    entry = PaidResponse.model_validate_json(content)
                except ValueError:
                    self._reject(path)
                    continue
                self._write(entry)
                path.unlink(missing_ok=True)
                flushed += 1
            finally:
                os.close(fd)
        if flushed:
            log.info("flushed %d journalled responses into the ledger", flushed)
        return flushed

    def _reject(self, path: Path) -> None:
        target = self.journal.set_aside(path)
        self.on_rejected(
            f"Sales coach: an unreadable entry of the paid-response journal was set aside at"
            f" {target}. A paid Claude response may be missing from the ledger (claude_usage):"
            " inspect the file and delete it once accounted for."
        )

    def _write(self, entry: PaidResponse) -> None:
        with transaction(self.database_url) as conn:
            inserted = conn.execute(
                """
                INSERT INTO claude_usage (response_id, request_id, model, call_id, dimension,
                    chunk_index, purpose, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_5m_tokens, cache_write_1h_tokens, usd, is_batch, at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (response_id) DO NOTHING
                """,
                (
                    entry.response_id,
                    entry.request_id,
                    entry.model,
                    entry.call_id,
                    entry.dimension,
                    entry.chunk_index,
                    entry.purpose,
                    entry.input_tokens,
                    entry.output_tokens,
                    entry.cache_read_tokens,
                    entry.cache_write_5m_tokens,
                    entry.cache_write_1h_tokens,
                    entry.usd,
                    entry.batch,
                    entry.at,
                ),
            ).rowcount
            if entry.work_key and entry.owner:
                claims.keep_response(
                    conn, entry.work_key, entry.chunk_index, entry.owner, entry.attempt, entry.text
                )
        if not inserted:
            log.info("response %s was already in the ledger", entry.response_id)


def paid(
    prices: costs.PriceTable,
    *,
    response_id: str,
    request_id: str | None,
    model: str,
    usage: Usage,
    batch: bool,
    **fields: object,
) -> PaidResponse:
    """A PaidResponse priced now from the price table."""
    now = datetime.now(UTC)
    return PaidResponse(
        response_id=response_id,
        request_id=request_id,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        usd=prices.cost(model, usage, now.date(), batch=batch),
        batch=batch,
        at=now,
        **fields,  # type: ignore[arg-type]
    )


def unlink_calls(conn: psycopg.Connection[Row], call_ids: list[str]) -> int:
    """Erasure: the calls' usage rows lose their call id; the dollars stay in the ledger."""
    cur = conn.execute(
        "UPDATE claude_usage SET call_id = NULL WHERE call_id = ANY(%s)", (call_ids,)
    )
    return cur.rowcount


def expire(conn: psycopg.Connection[Row], years: int) -> int:
    """Retention: usage rows older than `years`."""
    cur = conn.execute(
        "DELETE FROM claude_usage WHERE at < now() - make_interval(years => %s)", (years,)
    )
    return cur.rowcount
