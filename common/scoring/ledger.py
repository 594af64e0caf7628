"""Recording paid responses durably: a local journal first, then Postgres, exactly once.

Every Claude response is money spent. `Ledger.record()` writes it to a journal file on local
disk (fsync, atomic rename) before anything else can fail, then writes the `claude_usage` row
and keeps the response's text on its `scoring_work` claim in one transaction, and only then
deletes the journal file. If Postgres is away the write is retried for `wait_s`; after that the
entry stays in the journal and `flush()` (run before every claim and at service start) writes
it once Postgres is back. The usage row is idempotent on the API's message id, so a flush that
is repeated after a crash never records a response twice.

The journal lives per database under `JOURNAL_DIR`; it survives a process restart on the same
machine. A container whose disk is thrown away with it loses entries written during an outage
longer than `wait_s`: mount `JOURNAL_DIR` on a volume where that matters.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from common import costs
from common.costs import Usage
from common.db import retrying, transaction
from common.scoring import claims

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
    """One JSON file per paid response not yet in Postgres."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_database(cls, root: Path, database_url: str) -> Journal:
        return cls(root / hashlib.sha256(database_url.encode()).hexdigest()[:16])

    def write(self, entry: PaidResponse) -> Path:
        path = self.directory / f"{entry.response_id}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(entry.model_dump_json())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        return path

    def entries(self) -> list[PaidResponse]:
        return [
            PaidResponse.model_validate_json(p.read_text())
            for p in sorted(self.directory.glob("*.json"))
        ]

    def remove(self, entry: PaidResponse) -> None:
        (self.directory / f"{entry.response_id}.json").unlink(missing_ok=True)


class Ledger:
    def __init__(self, database_url: str, journal: Journal, wait_s: float = 60.0) -> None:
        self.database_url, self.journal, self.wait_s = database_url, journal, wait_s

    def record(self, entry: PaidResponse) -> None:
        """Journal, then Postgres (retried for `wait_s`); raises if Postgres stays away."""
        self.journal.write(entry)
        retrying(lambda: self._write(entry), self.wait_s, "ledger")
        self.journal.remove(entry)

    def flush(self) -> int:
        """Write journalled responses to Postgres; returns how many were flushed."""
        flushed = 0
        for entry in self.journal.entries():
            self._write(entry)
            self.journal.remove(entry)
            flushed += 1
        if flushed:
            log.info("flushed %d journalled responses into the ledger", flushed)
        return flushed

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
