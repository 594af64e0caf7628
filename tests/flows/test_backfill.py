"""Backfill queues a date range of Gong calls into the outbox, once."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from common.config import Settings
from flows.backfill import queue_calls


def test_backfill_queues_calls_in_range_once(settings: Settings) -> None:
    start, end = datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    assert queue_calls(settings, start, end) == {"queued": 3, "already_known": 0}
    assert queue_calls(settings, start, end) == {"queued": 0, "already_known": 3}
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT call_id, status FROM webhook_events ORDER BY call_id"
        ).fetchall()
    assert rows == [("7001002", "pending"), ("7001003", "pending"), ("7001004", "pending")]
