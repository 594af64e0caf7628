"""The pipeline at a glance, for `sales-coach status` and the admins' MCP status view."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.config import DIMENSIONS, Settings
from common.db import Row
from common.gong import gong_limiter
from common.intake.outbox import event_counts, needs_attention
from common.limits import ClaudeSlots
from common.scoring import scoring_version_for
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
        "month_to_date_estimates": {  # requests in flight when a process was killed
            "requests": spend["estimated_requests"],
            "usd": spend["estimated_usd"],
        },
        "tier1_hit_rate": spend["tier1_hit_rate"],
        "prompt_cache_hit_rate": spend["prompt_cache_hit_rate"],
        "skipped_calls": skipped_calls(conn),
    }


def skipped_calls(conn: psycopg.Connection[Row], days: int = 7) -> dict[str, Any]:
    """Calls the applicability rules skipped in the last `days` days, by reason, and the
    latest few (an admin forces one with `sales-coach analyze --force CALL_ID`)."""
    by_reason = conn.execute(
        "SELECT skipped_reason AS reason, count(*) AS n FROM calls"
        " WHERE skipped_reason IS NOT NULL AND updated_at >= now() - make_interval(days => %s)"
        " GROUP BY 1 ORDER BY 2 DESC",
        (days,),
    ).fetchall()
    latest = conn.execute(
        "SELECT id AS call_id, title, skipped_reason AS reason FROM calls"
        " WHERE skipped_reason IS NOT NULL ORDER BY updated_at DESC LIMIT 5"
    ).fetchall()
    return {
        "days": days,
        "by_reason": {r["reason"]: r["n"] for r in by_reason},
        "latest": latest,
    }


def older_scoring_versions(conn: psycopg.Connection[Row], s: Settings) -> dict[str, int]:
    """Per dimension, current sessions made by another scorer than today's (another prompt,
    output schema or model: `prompts.scoring_version`); they are re-scored when their call is
    analysed again, never served from the tier-1 cache."""
    current = {d: scoring_version_for(s, d) for d in DIMENSIONS}
    rows = conn.execute(
        "SELECT dimension, count(*) AS n FROM current_sessions"
        " WHERE (result ->> 'scoring_version') IS DISTINCT FROM (%s::jsonb ->> dimension)"
        " GROUP BY dimension",
        (Jsonb(current),),
    ).fetchall()
    return {d: 0 for d in DIMENSIONS} | {r["dimension"]: r["n"] for r in rows}
