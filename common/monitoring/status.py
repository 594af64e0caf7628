"""The pipeline at a glance, for `sales-coach status` and the admins' MCP status view."""

from __future__ import annotations

from typing import Any

import psycopg

from common.config import Settings
from common.db import Row
from common.gong import gong_limiter
from common.intake.outbox import event_counts, needs_attention
from common.limits import ClaudeSlots
from common.scoring.costs import month_to_date


def pipeline_status(conn: psycopg.Connection[Row], s: Settings) -> dict[str, Any]:
    waiting = conn.execute(
        "SELECT call_id, failures, attempts, next_attempt_at, last_error FROM webhook_events"
        " WHERE status = 'pending' AND last_error IS NOT NULL ORDER BY next_attempt_at LIMIT 5"
    ).fetchall()
    failed_sessions = conn.execute(
        "SELECT call_id, dimension, error FROM coaching_sessions WHERE status = 'failed'"
        " ORDER BY created_at DESC LIMIT 5"
    ).fetchall()
    slots = ClaudeSlots(s.database_url, s.claude_concurrency)
    gong = gong_limiter(s)
    spend = month_to_date(conn)
    return {
        "webhook_events": event_counts(conn),
        "needs_attention": needs_attention(conn),
        "retrying": waiting,
        "recent_failed_sessions": failed_sessions,
        "claude_slots": {"in_use": slots.in_use(), "limit": s.claude_concurrency},
        "gong_requests_today": {"used": gong.used_today(), "budget": s.gong_daily_budget},
        "month_to_date_usd": spend["usd"],
        "tier1_hit_rate": spend["tier1_hit_rate"],
        "prompt_cache_hit_rate": spend["prompt_cache_hit_rate"],
    }
