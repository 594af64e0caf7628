"""Telling people when the system needs them: calls parked as `needs_attention`.

Each parked call is announced once (the outbox marks it `alerted_at`): in the log at ERROR,
and to Slack (`SLACK_WEBHOOK_URL`) when configured. A failure to post is logged, never raised:
the call stays visible in `sales-coach status` and the admins' MCP status view.
"""

from __future__ import annotations

import logging

import httpx

from common.config import Settings
from common.db import Row

log = logging.getLogger("sales_coach.alerts")


def parked_text(parked: list[Row]) -> str:
    lines = [f"{len(parked)} call(s) need attention (analysis gave up after repeated failures):"]
    lines += [f"- call {r['call_id']}: {str(r['last_error'] or '')[:200]}" for r in parked[:20]]
    lines.append("See `sales-coach status`; re-queue with `sales-coach requeue CALL_ID`.")
    return "\n".join(lines)


def alert_parked(s: Settings, parked: list[Row]) -> list[str]:
    """Announce newly parked calls; returns where the alert went."""
    text = parked_text(parked)
    log.error("%s", text)
    sent = ["log"]
    if s.slack_webhook_url:
        try:
            httpx.post(
                s.slack_webhook_url.get_secret_value(), json={"text": text}, timeout=10
            ).raise_for_status()
            sent.append("slack")
        except httpx.HTTPError as exc:
            log.warning("Slack alert failed: %s", type(exc).__name__)
    return sent
