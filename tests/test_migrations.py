"""Numbered migrations: a database made by the first release upgrades in place to exactly what
a fresh install is, keeping its data; released migrations are never edited."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import ROOT
from common.migrations import SCHEMA_FILE, MigrationError, joined, load, migrate
from local.stack import create_database

FIRST_RELEASE = "94c6859"  # the last commit of the first release (stop 7)


def first_release_schema() -> str:
    done = subprocess.run(
        ["git", "show", f"{FIRST_RELEASE}:schema.sql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"the first release's schema.sql is not in git history: {done.stderr}"
    )
    return done.stdout


def catalog(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default,"
        " is_identity FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY 1, ordinal_position",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "partitions": "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1",
        "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        " ORDER BY 1, 2",
        "functions": "SELECT proname, md5(prosrc) FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
    }
    with psycopg.connect(db_url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}  # type: ignore[arg-type]


def test_the_first_release_upgrades_to_a_fresh_install(pg_admin_uri: str) -> None:
    old = create_database(pg_admin_uri, f"r1_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(old) as conn:
        conn.execute(first_release_schema())  # type: ignore[arg-type]
        conn.execute("INSERT INTO users (id, name, email) VALUES ('u1', 'Dana', 'dana@x.example')")
        conn.execute(
            "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES ('c1', 'Acme', 'u1', now())"
        )
        conn.execute(
            "INSERT INTO coaching_sessions (call_id, rep_id, dimension, model, cache_key,"
            " transcript_hash, rubric_version, status, overall_score, result) VALUES ('c1', 'u1',"
            " 'discovery', 'm', 'k', 'h', 'v', 'completed', 3.5, '{\"coaching_note\": \"ok\"}')"
        )
        conn.execute("INSERT INTO api_tokens (token_hash, user_id) VALUES ('abc', 'u1')")
    applied = migrate(old)
    assert applied == [f"{m.version:04d}_{m.name}" for m in load()[1:]]  # 0001 is the release
    fresh = create_database(pg_admin_uri, f"fresh_{uuid.uuid4().hex[:8]}")
    migrate(fresh)
    upgraded, new = catalog(old), catalog(fresh)
    for part in new:
        assert upgraded[part] == new[part], part
    with psycopg.connect(old, row_factory=dict_row) as conn:
        assert conn.execute("SELECT name FROM users").fetchone() == {"name": "Dana"}
        score = conn.execute(
            "SELECT discovery, average FROM call_scores WHERE call_id = 'c1'"
        ).fetchone()
        assert score and float(score["discovery"]) == 3.5  # the read model is filled on upgrade
        token = conn.execute("SELECT id, expires_at FROM api_tokens").fetchone()
        assert token and token["id"] == 1 and token["expires_at"] is None  # old tokens keep working
    assert migrate(old) == []  # nothing left to apply


def test_a_released_migration_is_never_edited(pg_admin_uri: str, tmp_path: Path) -> None:
    released = load()
    for m in released:
        (tmp_path / f"{m.version:04d}_{m.name}.sql").write_text(m.sql)
    db = create_database(pg_admin_uri, f"m_{uuid.uuid4().hex[:8]}")
    migrate(db, tmp_path)
    nxt = f"{len(released) + 1:04d}_next"
    (tmp_path / f"{nxt}.sql").write_text("ALTER TABLE users ADD COLUMN IF NOT EXISTS team text;\n")
    assert migrate(db, tmp_path) == [nxt]
    (tmp_path / f"{nxt}.sql").write_text("ALTER TABLE users ADD COLUMN IF NOT EXISTS squad text;\n")
    with pytest.raises(MigrationError, match=f"{nxt} changed after it was applied"):
        migrate(db, tmp_path)
    (tmp_path / f"{len(released) + 3:04d}_gap.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="without gaps"):
        load(tmp_path)


def test_migrations_only_add_so_a_rollback_loses_nothing() -> None:
    """The previous release must run on an upgraded database: no dropped or renamed columns or
    tables, no changed types (a removal waits for a later release, after nothing reads it)."""
    forbidden = ("DROP COLUMN", "RENAME ", "DROP TABLE IF EXISTS users")
    for m in load():
        upper = m.sql.upper()
        assert not [f for f in forbidden if f in upper], m.name
        # a TRUNCATE statement empties a table; a trigger's AFTER TRUNCATE clause does not
        assert not re.search(r"^\s*TRUNCATE\b", upper, re.MULTILINE), m.name
        # a column's statistics target changes plans, never what a release reads or writes
        assert not re.search(r"ALTER COLUMN \w+ (?!SET STATISTICS \d+;)", upper), m.name


def test_schema_sql_is_the_migrations_joined() -> None:
    assert SCHEMA_FILE.read_text() == joined(), "run `make schema`"
