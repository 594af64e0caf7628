"""The ledger: a paid response survives Postgres being away, and is recorded exactly once."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.scoring import costs
from common.scoring.ledger import Intent, Journal, Ledger, PaidResponse
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


# -- requests in flight -------------------------------------------------------------------


def flight(key: str = "k1", **fields: object) -> Intent:
    values: dict[str, object] = {
        "key": key,
        "model": "claude-sonnet-5-5",
        "call_id": "7001001",
        "dimension": "discovery",
        "chunk_index": 0,
        "purpose": "score",
        "prompt_tokens": 20_000,
        "max_tokens": 4096,
        "usd": Decimal("0.080960"),
        "at": datetime.now(UTC),
    }
    return Intent.model_validate(values | fields)


def usage_rows(db_url: str) -> list[tuple[str, bool, str | None, int]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT response_id, estimated, intent_id, output_tokens FROM claude_usage ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def left_in_flight(journal: Journal, intent: Intent) -> None:
    """An intent as a process killed mid-request leaves it: on disk, its lock released."""
    with journal.flying(intent):
        os.link(journal.intent_path(intent.key), journal.intents_dir / "kept")
    os.replace(journal.intents_dir / "kept", journal.intent_path(intent.key))


def test_an_intent_left_in_flight_is_recorded_once_as_an_estimate(
    db_url: str, tmp_path: Path
) -> None:
    journal = Journal.for_database(tmp_path, db_url)
    left_in_flight(journal, flight())
    ledger = Ledger(db_url, journal)
    assert ledger.flush() == 1
    assert usage_rows(db_url) == [("estimate_k1", True, "k1", 4096)]
    assert journal.intents() == []
    assert Ledger(db_url, Journal.for_database(tmp_path, db_url)).flush() == 0
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        spend = costs.month_to_date(conn)
    assert spend["requests"] == 1 and spend["estimated_requests"] == 1
    assert spend["estimated_usd"] == Decimal("0.080960") == spend["usd"]


def test_a_live_request_s_intent_is_never_estimated(db_url: str, tmp_path: Path) -> None:
    """Flushes (in every thread, before every claim) skip an intent its sender still holds;
    the response recorded in flight carries the intent's key, and the intent goes with it."""
    journal = Journal.for_database(tmp_path, db_url)
    ledger = Ledger(db_url, journal)
    with ledger.in_flight(flight("k2")):
        assert Ledger(db_url, Journal.for_database(tmp_path, db_url)).flush() == 0
        assert [i.key for i in journal.intents()] == ["k2"]
        ledger.record(entry("msg_k2"))
    assert journal.intents() == [] and ledger.flush() == 0
    assert usage_rows(db_url) == [("msg_k2", False, "k2", 700)]


def test_a_response_journalled_before_the_kill_is_recorded_instead_of_its_estimate(
    db_url: str, tmp_path: Path
) -> None:
    """Killed after its response reached the journal: the response is recorded, not an
    estimate; and a response flushed after its estimate replaces it (one row either way)."""
    journal = Journal.for_database(tmp_path, db_url)
    left_in_flight(journal, flight("k3"))
    with (
        pytest.raises(psycopg.OperationalError),
        journal.written(entry("msg_k3").model_copy(update={"intent_id": "k3"})),
    ):
        raise psycopg.OperationalError("killed before Postgres")
    ledger = Ledger(db_url, journal)
    assert ledger.flush() == 1
    assert usage_rows(db_url) == [("msg_k3", False, "k3", 700)]

    left_in_flight(journal, flight("k4"))
    assert ledger.flush() == 1  # the estimate first (its response still on its way)
    ledger.record(entry("msg_k4").model_copy(update={"intent_id": "k4"}))
    assert usage_rows(db_url)[1:] == [("msg_k4", False, "k4", 700)]
