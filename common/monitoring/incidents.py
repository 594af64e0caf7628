"""Incidents: one per monitor crossing, alerted once when it opens and once when it closes.

A unique partial index (one open incident per monitor) makes two health checks running at
once agree: only the one whose INSERT lands alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from common.config import Settings
from common.db import Row
from common.monitoring.alerts import notify
from common.monitoring.monitors import Monitor


@dataclass
class Changes:
    opened: list[Monitor] = field(default_factory=list)
    closed: list[Monitor] = field(default_factory=list)


def update(conn: psycopg.Connection[Row], monitors: list[Monitor]) -> Changes:
    """Open incidents for failing monitors without one, close those that recovered."""
    changes = Changes()
    for m in monitors:
        if m.ok is False:
            row = conn.execute(
                "INSERT INTO monitor_incidents (monitor, opened_value, threshold)"
                " VALUES (%s, %s, %s) ON CONFLICT (monitor) WHERE closed_at IS NULL DO NOTHING"
                " RETURNING id",
                (m.name, m.value, m.threshold),
            ).fetchone()
            if row:
                changes.opened.append(m)
        elif m.ok is True:
            row = conn.execute(
                "UPDATE monitor_incidents SET closed_at = now(), closed_value = %s"
                " WHERE monitor = %s AND closed_at IS NULL RETURNING id",
                (m.value, m.name),
            ).fetchone()
            if row:
                changes.closed.append(m)
    return changes


def describe(m: Monitor) -> str:
    side = "above" if m.kind == "max" else "below"
    return f"{m.name} = {_fmt(m.value, m.unit)} ({side} {_fmt(m.threshold, m.unit)} is the alarm): {m.help}"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value:.1%}"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:g} {unit}"


def announce(s: Settings, changes: Changes) -> list[str]:
    """One message for what opened and recovered in this check; where it went."""
    if not changes.opened and not changes.closed:
        return []
    lines = [f"FIRING {describe(m)}" for m in changes.opened]
    lines += [f"RECOVERED {describe(m)}" for m in changes.closed]
    lines.append("See `sales-coach status` or the ops page.")
    subject = (
        f"Sales coach: {len(changes.opened)} monitor(s) firing"
        if changes.opened
        else f"Sales coach: {len(changes.closed)} monitor(s) recovered"
    )
    return notify(s, subject, "\n".join(lines))


def open_incidents(conn: psycopg.Connection[Row]) -> list[Row]:
    return conn.execute(
        "SELECT monitor, opened_at, opened_value, threshold FROM monitor_incidents"
        " WHERE closed_at IS NULL ORDER BY opened_at"
    ).fetchall()
