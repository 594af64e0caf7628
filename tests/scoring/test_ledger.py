"""The ledger: a paid response survives Postgres being away, and is recorded exactly once."""

from __future__ import annotations

import threading
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


def slow_usage_writes(db_url: str, seconds: float) -> None:
    """Every claude_usage insert takes `seconds` (a busy or distant database)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow BEFORE INSERT ON claude_usage"
            " FOR EACH ROW EXECUTE FUNCTION slow_insert()"
        )


def test_flushers_never_touch_a_live_record(db_url: str, tmp_path: Path) -> None:
    """Recorders with a slow database write while other threads flush the same journal (as
    every chunk claim does): no error anywhere, and every response recorded exactly once."""
    slow_usage_writes(db_url, 0.02)
    journal = Journal.for_database(tmp_path, db_url)
    ledger = Ledger(db_url, journal)
    stop, errors = threading.Event(), []

    def flusher() -> None:
        while not stop.is_set():
            try:
                Ledger(db_url, Journal.for_database(tmp_path, db_url)).flush()
            except Exception as exc:
                errors.append(exc)

    def recorder(worker: int) -> None:
        for n in range(15):
            try:
                ledger.record(entry(f"msg_{worker}_{n}"))
            except Exception as exc:
                errors.append(exc)

    flushers = [threading.Thread(target=flusher) for _ in range(3)]
    recorders = [threading.Thread(target=recorder, args=(w,)) for w in range(4)]
    for t in flushers + recorders:
        t.start()
    for t in recorders:
        t.join()
    stop.set()
    for t in flushers:
        t.join()
    assert errors == []
    ids = usage_ids(db_url)
    assert sorted(ids) == sorted(f"msg_{w}_{n}" for w in range(4) for n in range(15))
    assert journal.entries() == []


def test_an_unreadable_entry_is_set_aside_and_alerted_not_blocking(
    db_url: str, tmp_path: Path
) -> None:
    alerts: list[str] = []
    journal = Journal.for_database(tmp_path, db_url)
    journal.path("msg_bad").write_text('{"response_id": "msg_bad", "trunc')
    ledger = Ledger(db_url, journal, on_rejected=alerts.append)
    # an entry left by a record whose database write failed
    with pytest.raises(psycopg.OperationalError), journal.written(entry("msg_ok")):
        raise psycopg.OperationalError("database away")
    assert ledger.flush() == 1  # the good entry is flushed despite the bad one
    assert usage_ids(db_url) == ["msg_ok"]
    assert journal.pending() == [] and [p.name for p in journal.rejected()] == ["msg_bad.json"]
    assert len(alerts) == 1 and "msg_bad.json" in alerts[0]
    assert ledger.flush() == 0 and len(alerts) == 1  # alerted once, not on every claim
