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

Requests in flight are accounted for too. Before a request is sent its intent (call,
dimension, chunk, attempt, model, the request's key, the prompt's counted tokens) is journalled
beside the responses (`Ledger.in_flight`), owned by the sending thread (a held `flock`) until
its response is journalled or the request failed; it is then removed. An intent nobody owns
whose response never arrived was left by a process killed mid-request (SIGKILL, OOM, a
`docker kill`): the API has probably billed it, so `flush()` records it as paid with estimated
usage (`Intent.estimate`), marked `estimated`. Its usage row carries the request's key
(`intent_id`, unique), as does the row of its response, so a request is in the ledger once:
an estimate is never written over its response, and a response that arrives late (its journal
entry flushed after the estimate) replaces its estimate.

The journal lives per database under `JOURNAL_DIR`; it survives a process restart on the same
machine. A container whose disk is thrown away with it loses entries written during an outage
longer than `wait_s`, and its intents: mount `JOURNAL_DIR` on a volume where that matters.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import psycopg
from pydantic import BaseModel

from common.db import Db, Row, retrying, transaction
from common.scoring import claims, costs
from common.scoring.costs import Usage

log = logging.getLogger("sales_coach.ledger")
_M = TypeVar("_M", bound=BaseModel)


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
    intent_id: str | None = None  # the request's key (`Intent.key`), when it had an intent
    estimated: bool = False  # usage estimated for a request in flight when its process died

    @property
    def usage(self) -> Usage:
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
        )


class Intent(BaseModel):
    """A request about to be sent: what it is for and what it can cost at most.

    The estimate (`estimate()`) is what the ledger records when the request's process died
    before its response was recorded. Its input is the prompt's counted tokens priced as the
    model's plain input (a cache read would cost a tenth of that, a cache write 1.25 times: the
    price of an uncached prompt is the one a lost request is sure to be near), and its output is
    the request's `max_tokens`. `max_tokens` rather than a typical answer because it is the one
    bound the API guarantees: the estimate never under-reports what a killed request cost (the
    issue this fixes), whatever the rubric or language makes a typical answer, and the budget
    guard sees the worst case. It over-reports by up to the difference (about $0.03 a request
    on claude-sonnet-5-5 with the default 4,096); `status` and `costs` say how many estimates
    there are and their total, so an admin sees the margin.
    """

    key: str  # the request's key: unique per request sent (the usage row's `intent_id`)
    model: str
    call_id: str
    dimension: str
    chunk_index: int
    purpose: str
    attempt: int = 1
    batch: bool = False
    prompt_tokens: int  # counted before sending (`common.scoring.token_counts`)
    max_tokens: int
    usd: Decimal  # the estimate, priced when the request was sent
    host: str = ""  # where the sending process ran (a container's id in Docker)
    pid: int = 0
    at: datetime

    def estimate(self) -> PaidResponse:
        """The paid response this intent stands for when its own never arrived."""
        return PaidResponse(
            response_id=f"estimate_{self.key}",
            request_id=None,
            model=self.model,
            input_tokens=self.prompt_tokens,
            output_tokens=self.max_tokens,
            cache_read_tokens=0,
            cache_write_5m_tokens=0,
            cache_write_1h_tokens=0,
            usd=self.usd,
            call_id=self.call_id,
            dimension=self.dimension,
            chunk_index=self.chunk_index,
            purpose=self.purpose,
            batch=self.batch,
            attempt=self.attempt,
            at=self.at,
            intent_id=self.key,
            estimated=True,
        )


def intent(
    prices: costs.PriceTable,
    *,
    model: str,
    prompt_tokens: int,
    max_tokens: int,
    **fields: object,
) -> Intent:
    """An Intent with a fresh key, priced now (see `Intent` for the estimate's rule)."""
    now = datetime.now(UTC)
    usage = Usage(input_tokens=prompt_tokens, output_tokens=max_tokens)
    return Intent(
        key=uuid.uuid4().hex,
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        usd=prices.cost(model, usage, now.date()),
        host=socket.gethostname(),
        pid=os.getpid(),
        at=now,
        **fields,  # type: ignore[arg-type]
    )


class Journal:
    """One JSON file per paid response not yet in Postgres, each with one owner at a time, and
    one per request in flight (`intents/`).

    Whoever holds an entry holds an exclusive `flock` on its file: the recorder from before the
    file appears under its name until after it is deleted, a flusher while it writes it to
    Postgres. Others skip an entry they cannot lock; an entry gone, or replaced, by the time it
    is locked was recorded by its owner. Entries are shared by every process on the host with
    the same database, and files are renamed into place from a private temporary name, then
    the directory is synced, so a crash leaves either a whole entry or none. Intents follow the
    same rules: the sending thread holds its request's intent until the request is over.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rejected_dir = directory / "rejected"
        self.intents_dir = directory / "intents"
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self.intents_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_database(cls, root: Path, database_url: str) -> Journal:
        return cls(root / hashlib.sha256(database_url.encode()).hexdigest()[:16])

    def path(self, response_id: str) -> Path:
        return self.directory / f"{response_id}.json"

    def intent_path(self, key: str) -> Path:
        return self.intents_dir / f"{key}.intent"

    @contextmanager
    def written(self, entry: PaidResponse) -> Iterator[None]:
        """Write the entry durably and own it for the block; delete it when the block ends
        without an error (the response is in Postgres), else leave it for a flusher."""
        fd = self._put(self.path(entry.response_id), entry.model_dump_json().encode())
        try:
            yield
            self.path(entry.response_id).unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def flying(self, intent: Intent) -> Iterator[None]:
        """Write the intent durably and own it for the block; delete it when the block ends,
        however it ends: the request failed (nothing billed) or its response is journalled."""
        path = self.intent_path(intent.key)
        fd = self._put(path, intent.model_dump_json().encode())
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def _put(self, target: Path, content: bytes) -> int:
        """`content` at `target`, durably, renamed from a private name; returns the open fd
        that holds the file's lock (closing it releases the lock)."""
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, content)
            os.fsync(fd)
            os.replace(tmp, target)
            self._sync_directory(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            os.close(fd)
            raise
        return fd

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

    def pending_intents(self) -> list[Path]:
        return sorted(self.intents_dir.glob("*.intent"))

    def entries(self) -> list[PaidResponse]:
        """Readable entries on disk now (for status and tests; owners may hold some)."""
        return _readable(self.pending(), PaidResponse)

    def intents(self) -> list[Intent]:
        """Readable intents on disk now: requests in flight, or left by a dead process."""
        return _readable(self.pending_intents(), Intent)

    def rejected(self) -> list[Path]:
        return sorted(p for p in self.rejected_dir.iterdir() if not p.name.startswith("."))

    def set_aside(self, path: Path) -> Path:
        """Move an unreadable entry out of the way (kept for an admin to inspect)."""
        target = self.rejected_dir / path.name
        os.replace(path, target)
        self._sync_directory(self.directory)
        return target

    def _sync_directory(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _readable(paths: list[Path], model: type[_M]) -> list[_M]:
    found: list[_M] = []
    for path in paths:
        try:
            found.append(model.model_validate_json(path.read_bytes()))
        except (FileNotFoundError, ValueError):
            continue
    return found


# The intent of the request the current thread has in flight (`Ledger.in_flight`): the
# response recorded meanwhile is that request's.
_FLIGHT: ContextVar[str | None] = ContextVar("claude_request_in_flight", default=None)


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

    @contextmanager
    def in_flight(self, intent: Intent) -> Iterator[None]:
        """Journal the intent before its request is sent and hold it until the block ends; a
        response recorded in the block (same thread) is stamped with the intent's key."""
        with self.journal.flying(intent):
            token = _FLIGHT.set(intent.key)
            try:
                yield
            finally:
                _FLIGHT.reset(token)

    def record(self, entry: PaidResponse) -> None:
        """Journal, then Postgres (retried for `wait_s`); raises if Postgres stays away, and
        the entry stays in the journal for a later `flush`."""
        if entry.intent_id is None and (key := _FLIGHT.get()) is not None:
            entry = entry.model_copy(update={"intent_id": key})
        with self.journal.written(entry):
            retrying(lambda: self._write(entry), self.wait_s, "ledger")

    def flush(self) -> int:
        """Write what the journal holds and nobody owns to Postgres: responses, then the
        estimates of intents left by a dead process. Returns how many rows were added.

        Entries a live `record` or `in_flight` (in any thread or process) still owns are
        skipped; one that vanished was recorded by its owner. Responses go first, so that an
        intent whose response was journalled just before its process died finds it recorded
        and adds nothing. A Postgres error stops the flush and is raised.
        """
        flushed = self._flush(self.journal.pending(), PaidResponse.model_validate_json)
        estimated = self._flush(
            self.journal.pending_intents(), lambda raw: Intent.model_validate_json(raw).estimate()
        )
        if flushed:
            log.info("flushed %d journalled responses into the ledger", flushed)
        if estimated:
            log.warning(
                "recorded %d Claude requests left in flight by a stopped process, at estimated"
                " usage (claude_usage.estimated)",
                estimated,
            )
        return flushed + estimated

    def _flush(self, paths: list[Path], read: Callable[[bytes], PaidResponse]) -> int:
        added = 0
        for path in paths:
            claimed = self.journal.claim(path)
            if claimed is None:
                continue
            fd, content = claimed
            try:
                try:
                    entry = read(content)
                except ValueError:
                    self._reject(path)
                    continue
                added += self._write(entry)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return added

    def _reject(self, path: Path) -> None:
        target = self.journal.set_aside(path)
        self.on_rejected(
            f"Sales coach: an unreadable entry of the paid-response journal was set aside at"
            f" {target}. A paid Claude response may be missing from the ledger (claude_usage):"
            " inspect the file and delete it once accounted for."
        )

    def _write(self, entry: PaidResponse) -> int:
        """The usage row (1 when added, 0 when the response, or the request's other row, was
        there already); a response replaces its request's estimate."""
        with transaction(self.database_url) as conn:
            if entry.intent_id is not None and not entry.estimated:
                conn.execute(
                    "DELETE FROM claude_usage WHERE intent_id = %s AND estimated",
                    (entry.intent_id,),
                )
            inserted = conn.execute(
                """
                INSERT INTO claude_usage (response_id, request_id, model, call_id, dimension,
                    chunk_index, purpose, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_5m_tokens, cache_write_1h_tokens, usd, is_batch, at,
                    intent_id, estimated)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT DO NOTHING
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
                    entry.intent_id,
                    entry.estimated,
                ),
            ).rowcount
            if entry.work_key and entry.owner:
                claims.keep_response(
                    conn, entry.work_key, entry.chunk_index, entry.owner, entry.attempt, entry.text
                )
        if not inserted:
            log.info("response %s was already in the ledger", entry.response_id)
        return inserted


def paid(
    prices: costs.PriceTable,
    *,
    response_id: str,
    request_id: str | None,
    model: str,
    usage: Usage,
    batch: bool,
    asked: str | None = None,
    **fields: object,
) -> PaidResponse:
    """A PaidResponse priced now from the price table. `model` is the model that answered,
    as the response names it; when the table does not know it (a model the server swapped
    in), it is priced as the model `asked` for, and recorded as the one that answered: a paid
    response is never left out of the ledger for want of a price."""
    now = datetime.now(UTC)
    priced = model if asked is None or prices.known(model) else asked
    return PaidResponse(
        response_id=response_id,
        request_id=request_id,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        usd=prices.cost(priced, usage, now.date(), batch=batch),
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
