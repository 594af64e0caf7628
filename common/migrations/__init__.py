"""Numbered, append-only schema migrations (`common/migrations/NNNN_name.sql`), recorded in
`schema_migrations`.

`migrate()` (run by `sales-coach init-db`, at deploy time and by the local stack) applies the
pending files in order, in one transaction, under an advisory lock, so concurrent starts apply
each once. A database made by the first release, before migrations were recorded, is
recognised by its tables and starts from 0001. A file that changed after it was applied is an
error: released migrations are never edited; a change is a new file.

Migrations only add (tables, columns with defaults, indexes, functions): the previous release
keeps working on an upgraded database, so rolling back a release loses nothing. `schema.sql`
is the migrations joined, for reading; a test keeps it current (`make schema`, i.e.
`python -m common.migrations`, rewrites it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from common.config import ROOT
from common.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent  # shipped inside the package
SCHEMA_FILE = ROOT / "schema.sql"
_LOCK = 7_311_001  # advisory lock id: one schema change at a time
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
HEADER = (
    "-- The whole data model, generated from common/migrations/ (`make schema`): read it here, change it\n"
    "-- by adding a migration. Fresh installs and upgrades both run `sales-coach init-db`.\n"
)


class MigrationError(ConfigError):
    """A released migration was edited, or the migrations folder is malformed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps; found {versions}")
    return found


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations; returns the names applied now."""
    pending = load(directory)
    applied_now: list[str] = []
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        done: dict[int, str] = {int(v): str(c) for v, c in rows}  # type: ignore[call-overload]
        if not done and _first_release(conn):
            first = pending[0]
            _record(conn, first)
            done[first.version] = first.checksum
        for m in pending:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration {m.version:04d}_{m.name} changed after it was applied;"
                        " released migrations are never edited: add a new one"
                    )
                continue
            conn.execute(m.sql)  # type: ignore[arg-type]
            _record(conn, m)
            applied_now.append(f"{m.version:04d}_{m.name}")
        conn.commit()
    return applied_now


def _first_release(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Tables of the first release without a migrations record: a pre-migrations database."""
    row = conn.execute("SELECT to_regclass('public.users') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _record(conn: psycopg.Connection[tuple[object, ...]], m: Migration) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
        (m.version, m.name, m.checksum),
    )


def joined(directory: Path = MIGRATIONS_DIR) -> str:
    """schema.sql's text: every migration in order."""
    return HEADER + "".join(
        f"\n-- == {m.version:04d}_{m.name} ==\n{m.sql}" for m in load(directory)
    )
