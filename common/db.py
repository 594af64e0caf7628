"""Postgres access: pools, schema application, retention. Queries live beside their domain."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from common.migrations import MIGRATIONS_DIR, migrate

Row = dict[str, Any]
T = TypeVar("T")
log = logging.getLogger("sales_coach.db")


def apply_schema(database_url: str, directory: Path | None = None) -> list[str]:
    """Bring the database to the current schema: the pending numbered migrations
    (`common.migrations`); returns the ones applied now."""
    return migrate(database_url, directory or MIGRATIONS_DIR)


def ensure_history(database_url: str, years: int) -> int:
    """Quarterly session partitions from `years` back to a year ahead (schema.sql makes five
    years; a longer RETENTION_YEARS needs more), so backfilled history never lands in the
    default partition. Returns how many were created."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT ensure_session_partitions((current_date - make_interval(years => %s))::date,"
            " %s)",
            (years, 4 * years + 5),
        ).fetchone()
    return int(row[0]) if row else 0


def connect(database_url: str) -> psycopg.Connection[Row]:
    """One connection with dict rows; the caller closes it (use as a context manager).
    Gives up connecting after 10 s unless the URL sets its own connect_timeout."""
    if "connect_timeout" in database_url:
        return psycopg.connect(database_url, row_factory=dict_row)
    return psycopg.connect(database_url, row_factory=dict_row, connect_timeout=10)


async def make_async_pool(
    database_url: str, min_size: int = 2, max_size: int = 10
) -> AsyncConnectionPool[psycopg.AsyncConnection[Row]]:
    """A pool that checks each connection before lending it, so a Postgres restart costs
    no failed requests once the server is back (stale connections are replaced)."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "connect_timeout": 3},
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    await pool.open(wait=True)
    return pool


class Database:
    """One process's Postgres: a pool built once by the process's composition root (a flow
    run, a server) and handed down, so a scoring run borrows a few connections instead of
    opening one per step. Connections are checked before they are lent, so a Postgres restart
    costs stale connections, not failed steps; while Postgres is away a borrower waits up to
    `timeout_s` and then gets `PoolTimeout` (an `OperationalError`, retried like one)."""

    def __init__(self, url: str, max_size: int = 8, timeout_s: float = 10.0) -> None:
        self.url = url
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "connect_timeout": 10},
            check=ConnectionPool.check_connection,
            timeout=timeout_s,
            open=False,
        )
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Db = str | Database  # a URL (a connection of its own each time) or the process's pool


@contextmanager
def transaction(db: Db) -> Iterator[psycopg.Connection[Row]]:
    """A connection in one transaction: committed on success, rolled back on error; borrowed
    from the pool when given the process's `Database`."""
    if isinstance(db, Database):
        with db.pool.connection() as conn, conn.transaction():
            yield conn
    else:
        with connect(db) as conn, conn.transaction():
            yield conn


def retrying(fn: Callable[[], T], wait_s: float, what: str = "database") -> T:
    """Call `fn`, retrying while Postgres is unreachable (restart, failover) for up to `wait_s`.

    Only connection-level failures (`OperationalError`) are retried; the last one is raised.
    """
    deadline, pause = time.monotonic() + wait_s, 0.25
    while True:
        try:
            return fn()
        except psycopg.OperationalError as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s unavailable (%s); retrying in %.1f s", what, type(exc).__name__, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
