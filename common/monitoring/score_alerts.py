"""Alerts on scores, to the rep's manager: a call that scores low, a rep whose average falls.

Off unless configured: `SCORE_ALERT_BELOW` (a call below it on any dimension; N/A never
alerts) and `SCORE_ALERT_DROP` (a rep's four-week average on a dimension down by at least
this against the four weeks before, checked when the weekly reports are built). Each alert is
recorded in `score_alerts` before it is sent, under a key that makes it once per call or once
per rep and week, so a re-analysis or a second weekly run never repeats it. It goes to the
manager's e-mail (SMTP) and to Slack (`SLACK_WEBHOOK_URL`), naming the manager; the text
carries scores and the call's title, never the transcript.

Only shown scores alert (`shown_scores`): a score held for review is a suggestion and never
alerts. A call alerts on the AI's published scores only: a manager's own score is the
manager's word, already known to them, and a low one is not news to send them. A fall of
the average that run-to-run noise explains for that many calls (`insights.noise`) is not a
fall and does not alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

from common.config import DIMENSIONS, Settings
from common.db import Database, Row, transaction
from common.insights import noise as noise_mod
from common.insights.noise import Noise
from common.insights.week import week_bounds
from common.monitoring import alerts as alerts_mod

log = logging.getLogger("sales_coach.score_alerts")


@dataclass(frozen=True)
class ScoreAlert:
    key: str
    kind: str  # call | trend
    rep_id: str
    manager_id: str | None
    manager_email: str | None
    call_id: str | None
    text: str


def for_call(conn: psycopg.Connection[Row], s: Settings, call_id: str) -> list[ScoreAlert]:
    """The call's alert (recorded now, once) when a published AI score is below the
    threshold (held scores and managers' own never alert)."""
    if s.score_alert_below is None:
        return []
    rows = conn.execute(
        """
        SELECT v.dimension, v.shown_score AS overall_score, c.title,
               c.primary_user_id AS rep_id, r.name AS rep_name, m.id AS manager_id,
               m.email AS manager_email
        FROM shown_scores v JOIN calls c ON c.id = v.call_id
        LEFT JOIN users r ON r.id = c.primary_user_id
        LEFT JOIN users m ON m.id = r.manager_id
        WHERE v.call_id = %s AND v.shown_source = 'ai'
          AND v.shown_score IS NOT NULL AND v.shown_score < %s
        ORDER BY v.dimension
        """,
        (call_id, s.score_alert_below),
    ).fetchall()
    if not rows or rows[0]["rep_id"] is None:
        return []
    first = rows[0]
    low = ", ".join(f"{r['dimension']} {float(r['overall_score']):.1f}" for r in rows)
    text = (
        f'{first["rep_name"] or first["rep_id"]}\'s call "{first["title"]}" ({call_id}) scored'
        f" below {s.score_alert_below:g}: {low}. Ask in Claude Desktop: get_call_coaching {call_id}"
    )
    alert = ScoreAlert(
        f"call:{call_id}",
        "call",
        first["rep_id"],
        first["manager_id"],
        first["manager_email"],
        call_id,
        text,
    )
    return [alert] if _record(conn, alert) else []


def for_week(
    conn: psycopg.Connection[Row], s: Settings, week: date, noise: Noise | None = None
) -> list[ScoreAlert]:
    """Reps whose average over the four weeks ending with `week` fell by `SCORE_ALERT_DROP` or
    more on a dimension against the four weeks before, beyond run-to-run noise for that many
    calls (recorded now, once per rep and week)."""
    if s.score_alert_drop is None:
        return []
    start, end = week_bounds(week, s.report_timezone)
    recent, earlier = start - timedelta(weeks=3), start - timedelta(weeks=7)
    if noise is None:  # the scorer's noise over the eight weeks compared
        noise = noise_mod.measure(conn, until=end, window=end - earlier)
    dims = ", ".join(
        f"avg({d}) FILTER (WHERE cs.started_at >= %(recent)s)::float AS {d},"
        f" avg({d}) FILTER (WHERE cs.started_at < %(recent)s)::float AS before_{d},"
        f" count({d}) FILTER (WHERE cs.started_at >= %(recent)s)::int AS n_{d},"
        f" count({d}) FILTER (WHERE cs.started_at < %(recent)s)::int AS n_before_{d}"
        for d in DIMENSIONS
    )
    rows = conn.execute(
        f"""
        SELECT cs.rep_id, r.name AS rep_name, m.id AS manager_id, m.email AS manager_email, {dims}
        FROM call_scores cs JOIN users r ON r.id = cs.rep_id
        LEFT JOIN users m ON m.id = r.manager_id
        WHERE cs.started_at >= %(earlier)s AND cs.started_at < %(end)s
        GROUP BY cs.rep_id, r.name, m.id, m.email
        """,
        {"recent": recent, "earlier": earlier, "end": end},
    ).fetchall()
    alerts = []
    for r in rows:
        falls = [
            f"{d} {r['before_' + d]:.1f} -> {r[d]:.1f}"
            for d in DIMENSIONS
            if r[d] is not None
            and r["before_" + d] is not None
            and r["before_" + d] - r[d] >= s.score_alert_drop
            and not noise_mod.within(
                r[d] - r["before_" + d], noise.sd(d), r["n_" + d], r["n_before_" + d]
            )
        ]
        if not falls:
            continue
        text = (
            f"{r['rep_name']}'s four-week average fell by {s.score_alert_drop:g} or more"
            f" (week of {week}): {', '.join(falls)}. Ask in Claude Desktop: get_rep_performance"
        )
        alert = ScoreAlert(
            f"trend:{r['rep_id']}:{week}",
            "trend",
            r["rep_id"],
            r["manager_id"],
            r["manager_email"],
            None,
            text,
        )
        if _record(conn, alert):
            alerts.append(alert)
    return alerts


def after_call(database: Database, s: Settings, call_id: str) -> dict[str, list[str]]:
    """A completed call's alert, if any, recorded and sent; a failure is logged, never raised
    (the analysis is done whatever happens to its alert)."""
    if s.score_alert_below is None:
        return {}
    try:
        with transaction(database) as conn:
            alerts = for_call(conn, s, call_id)
        return deliver(s, alerts)
    except Exception as exc:
        log.warning("score alert for call %s not sent: %s", call_id, type(exc).__name__)
        return {}


def _record(conn: psycopg.Connection[Row], a: ScoreAlert) -> bool:
    """True the first time this alert's key is seen."""
    row = conn.execute(
        "INSERT INTO score_alerts (key, kind, rep_id, manager_id, call_id, text)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING key",
        (a.key, a.kind, a.rep_id, a.manager_id, a.call_id, a.text),
    ).fetchone()
    return row is not None


def deliver(s: Settings, alerts: list[ScoreAlert]) -> dict[str, list[str]]:
    """Send each alert to its manager (e-mail) and Slack, naming the manager; never raises.
    Returns where each went, by key; an alert with nowhere to go is only logged."""
    sent: dict[str, list[str]] = {}
    for a in alerts:
        log.warning("score alert %s for manager %s", a.key, a.manager_id)
        slack_text = f"For {a.manager_id or 'the team'}: {a.text}"
        subject = "Sales coach: a score to look at"
        sent[a.key] = ["log", *alerts_mod.deliver(s, subject, a.text, slack_text, a.manager_email)]
    return sent
