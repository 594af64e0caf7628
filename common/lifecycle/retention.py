"""Retention: nothing is kept longer than RETENTION_YEARS, in Postgres or object storage.

Whole quarterly session partitions are dropped (no row-by-row delete); what is not
partitioned goes row by row: calls that started before the cutoff with their transcripts in
object storage, managers' scores and scoring work, usage, errors, cache lookups, deliveries,
and weekly reports with their HTML. Runs daily as the `retention` deployment (and
`sales-coach retention`).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from common.config import Settings
from common.db import Row, transaction
from common.intake import outbox
from common.scoring import claims, ledger, sessions
from common.storage import ObjectStore

_ROWS = (  # (table, time column) of the tables without an owner module, row by row
    ("claude_errors", "at"),
    ("cache_lookups", "at"),
    ("manager_scores", "scored_at"),
    ("access_log", "at"),
)


def apply_retention(conn: psycopg.Connection[Row], years: int) -> dict[str, Any]:
    """Rows and partitions past the cutoff, in the caller's transaction; returns the counts
    and `objects`, the storage keys the deleted rows pointed at (for the caller to delete).
    Owned tables are expired by their owners."""
    removed: dict[str, Any] = {}
    removed["session_partitions"], removed["coaching_sessions_default"] = sessions.expire(
        conn, years
    )
    removed["claude_usage"] = ledger.expire(conn, years)
    removed["webhook_events"] = outbox.expire(conn, years)
    removed["scoring_work"] = claims.expire(conn, years)
    for table, column in _ROWS:
        query = sql.SQL("DELETE FROM {} WHERE {} < now() - make_interval(years => %s)").format(
            sql.Identifier(table), sql.Identifier(column)
        )
        removed[table] = conn.execute(query, (years,)).rowcount
    cutoff = "now() - make_interval(years => %s)"
    calls = conn.execute(
        f"DELETE FROM calls WHERE coalesce(started_at, created_at) < {cutoff}"
        " RETURNING transcript_key",
        (years,),
    ).fetchall()
    reports = conn.execute(
        f"DELETE FROM weekly_reports WHERE week_start < ({cutoff})::date RETURNING object_key",
        (years,),
    ).fetchall()
    removed["calls"], removed["weekly_reports"] = len(calls), len(reports)
    removed["objects"] = [r["transcript_key"] for r in calls if r["transcript_key"]] + [
        r["object_key"] for r in reports
    ]
    return removed


def enforce(s: Settings) -> dict[str, Any]:
    """Apply retention to Postgres, then delete the objects the removed rows pointed at."""
    with transaction(s.database_url) as conn:
        removed = apply_retention(conn, s.retention_years)
    keys: list[str] = removed.pop("objects")
    removed["objects"] = ObjectStore.from_settings(s).delete(keys) if keys else 0
    return removed
