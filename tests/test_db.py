"""The schema on real Postgres: idempotent, quarterly partitions, retention."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from common.db import apply_schema
from common.lifecycle.retention import apply_retention

INSERT = """INSERT INTO coaching_sessions (created_at, call_id, dimension, model, cache_key,
    transcript_hash, rubric_version, status) VALUES (%s, 'c', 'discovery', 'm', 'k', 'h', 'v', 'completed')"""


def partitions(conn: psycopg.Connection) -> list[str]:  # type: ignore[type-arg]
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'coaching_sessions'::regclass ORDER BY 1"
    ).fetchall()
    return [next(iter(r.values())) if isinstance(r, dict) else r[0] for r in rows]


def test_schema_applies_twice(db_url: str) -> None:
    apply_schema(db_url)
    apply_schema(db_url)
    with psycopg.connect(db_url) as conn:
        names = partitions(conn)
    assert "coaching_sessions_default" in names and len(names) >= 6


def test_new_quarter_partition_takes_rows_from_default(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(INSERT, ("2031-02-03T10:00:00Z",))
        assert conn.execute("SELECT count(*) FROM coaching_sessions_default").fetchone()[0] == 1  # type: ignore[index]
        created = conn.execute("SELECT ensure_session_partitions('2031-01-15', 2)").fetchone()[0]  # type: ignore[index]
        assert created == 2
        assert conn.execute("SELECT count(*) FROM coaching_sessions_2031q1").fetchone()[0] == 1  # type: ignore[index]
        assert conn.execute("SELECT count(*) FROM coaching_sessions_default").fetchone()[0] == 0  # type: ignore[index]
        assert conn.execute("SELECT ensure_session_partitions('2031-01-15', 2)").fetchone()[0] == 0  # type: ignore[index]


def test_retention_drops_old_quarters_and_rows(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("SELECT ensure_session_partitions('2019-01-01', 1)")
        conn.execute(INSERT, ("2019-02-01T00:00:00Z",))
        conn.execute(INSERT, ("2012-02-01T00:00:00Z",))  # default partition
        conn.execute(INSERT, ("2026-11-20T00:00:00Z",))
        conn.execute(
            "INSERT INTO claude_usage (at, model, input_tokens, output_tokens, usd)"
            " VALUES ('2018-01-01', 'm', 1, 1, 0), (now(), 'm', 1, 1, 0)"
        )
        removed = apply_retention(conn, years=5)
        assert removed["session_partitions"] == 1 and removed["coaching_sessions_default"] == 1
        assert removed["claude_usage"] == 1
        assert "coaching_sessions_2019q1" not in partitions(conn)
        assert conn.execute("SELECT count(*) AS n FROM coaching_sessions").fetchone()["n"] == 1  # type: ignore[index]


def test_partitions_cover_history_so_a_backfill_never_lands_in_default(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for ago in ("1 year", "4 years 6 months", "3 months"):
            conn.execute(
                "INSERT INTO coaching_sessions (created_at, call_id, dimension, model, cache_key,"
                " transcript_hash, rubric_version, status) VALUES (now() - %s::interval, 'c', 'd',"
                " 'm', 'k', 'h', 'v', 'completed')",
                (ago,),
            )
        assert conn.execute("SELECT count(*) FROM coaching_sessions_default").fetchone()[0] == 0  # type: ignore[index]


def test_init_db_extends_partitions_to_the_retention_period(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("RETENTION_YEARS", "8")
    assert main(["init-db"]) == 0
    with psycopg.connect(db_url) as conn:
        oldest = conn.execute(
            "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'coaching_sessions'::regclass AND c.relname ~ 'q[1-4]$'"
        ).fetchone()[0]  # type: ignore[index]
    assert int(oldest[len("coaching_sessions_") :][:4]) <= datetime.now(UTC).year - 8
