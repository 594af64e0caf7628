"""Telling people when the system needs them: calls parked as `needs_attention`, and
monitors that cross their thresholds (`common.monitoring.incidents`).

Every alert goes to the log at ERROR, to Slack (`SLACK_WEBHOOK_URL`) and by e-mail
(`SMTP_HOST`, `ALERT_RECIPIENTS`) when configured. A failure to deliver is logged, never
raised: what the alert is about stays visible in `sales-coach status` and the admins' MCP tools.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

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
    return notify(s, "Sales coach: calls need attention", parked_text(parked))


def notify(s: Settings, subject: str, text: str) -> list[str]:
    """Log, Slack and e-mail to ALERT_RECIPIENTS (as configured); returns where it went."""
    log.error("%s", text)
    return ["log", *deliver(s, subject, text, text, s.alert_recipients)]


def deliver(
    s: Settings, subject: str, text: str, slack_text: str, recipients: str | None
) -> list[str]:
    """Slack (`slack_text`) and e-mail to `recipients` (as configured); a failure is logged,
    never raised. Returns where it went."""
    sent = []
    if s.slack_webhook_url:
        try:
            httpx.post(
                s.slack_webhook_url.get_secret_value(), json={"text": slack_text}, timeout=10
            ).raise_for_status()
            sent.append("slack")
        except httpx.HTTPError as exc:
            log.warning("Slack alert failed: %s", type(exc).__name__)
    if s.smtp_host and recipients:
        try:
            send_email(s, subject, text, recipients)
            sent.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("e-mail alert failed: %s", type(exc).__name__)
    return sent


def send_email(s: Settings, subject: str, text: str, recipients: str) -> None:
    """One plain-text message through SMTP_HOST (STARTTLS login when SMTP_USER is set)."""
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, s.smtp_from, recipients
    msg.set_content(text)
    assert s.smtp_host is not None
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
        if s.smtp_user and s.smtp_password:
            smtp.starttls()
            smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
        smtp.send_message(msg)
