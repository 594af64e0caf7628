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

from common.config import Settings
from common.db import Row, transaction
from common.storage import ObjectStore

_OLD_PARTITIONS = """
SELECT c.relname AS name
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'coaching_sessions'::regclass
  AND c.relname ~ '^coaching_sessions_[0-9]{4}q[1-4]$'
  AND make_date(substr(c.relname, 19, 4)::int, (substr(c.relname, 24, 1)::int - 1) * 3 + 1, 1)
      + interval '3 months' <= now() - make_interval(years => %s)
"""
_ROWS = (  # (table, time column) deleted row by row past the cutoff
    ("coaching_sessions_default", "created_at"),
    ("claude_usage", "at"),
    ("claude_errors", "at"),
    ("cache_lookups", "at"),
    ("webhook_events", "received_at"),
    ("scoring_work", "updated_at"),
    ("manager_scores", "scored_at"),
    ("access_log", "at"),
)


def apply_retention(conn: psycopg.Connection[Row], years: int) -> dict[str, Any]:
    """Rows and partitions past the cutoff, in the caller's transaction; returns the counts
    and `objects`, the storage keys the deleted rows pointed at (for the caller to delete)."""
    removed: dict[str, Any] = {}
    old = [r["name"] for r in conn.execute(_OLD_PARTITIONS, (years,)).fetchall()]
    for name in old:
        conn.execute(f'DROP TABLE "{name}"')  # type: ignore[arg-type]
    removed["session_partitions"] = len(old)
    cutoff = "now() - make_interval(years => %s)"
    for table, column in _ROWS:
        cur = conn.execute(f"DELETE FROM {table} WHERE {column} < {cutoff}", (years,))  # type: ignore[arg-type]
        removed[table] = cur.rowcount
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
