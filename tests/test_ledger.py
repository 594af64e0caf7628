"""The ledger: a paid response survives Postgres being away, and is recorded exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from common.scoring.ledger import Journal, Ledger, PaidResponse
from local.stack import PostgresControl


def entry(response_id: str = "msg_1") -> PaidResponse:
    return PaidResponse(
        response_id=response_id,
        request_id="req_1",
        model="claude-sonnet-5-5",
        input_tokens=40,
        output_tokens=700,
        cache_read_tokens=20_000,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        usd=Decimal("0.009080"),
        call_id="7001001",
        dimension="discovery",
        chunk_index=0,
        purpose="score",
        text="{}",
        at=datetime.now(UTC),
    )


def usage_ids(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT response_id FROM claude_usage").fetchall()]


def test_recorded_once_even_when_written_twice(db_url: str, tmp_path: Path) -> None:
    ledger = Ledger(db_url, Journal(tmp_path))
    ledger.record(entry())
    ledger.record(entry())  # a retry after a lost acknowledgement
    assert usage_ids(db_url) == ["msg_1"] and Journal(tmp_path).entries() == []


def test_postgres_away_keeps_the_response_in_the_journal_until_it_returns(
    db_url: str, tmp_path: Path, pg_control: PostgresControl
) -> None:
    ledger = Ledger(db_url, Journal.for_database(tmp_path, db_url), wait_s=1)
    pg_control.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            ledger.record(entry("msg_2"))
    finally:
        pg_control.start()
    assert [e.response_id for e in ledger.journal.entries()] == ["msg_2"]
    assert usage_ids(db_url) == []
    # a later process finds the journal (same directory, same database) and flushes it once
    again = Ledger(db_url, Journal.for_database(tmp_path, db_url))
    assert again.flush() == 1 and again.flush() == 0
    assert usage_ids(db_url) == ["msg_2"]
    other_db = Journal.for_database(tmp_path, db_url + "&x=1")
    assert other_db.entries() == []  # journals are kept per database
