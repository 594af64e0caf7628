"""One health check: compute the monitors, open and close incidents (alerting once each),
and write the ops page. Run every five minutes by the `health` deployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from common.config import Settings
from common.db import Row, connect, transaction
from common.monitoring import incidents, monitors, page, prometheus
from common.storage import ObjectStore


def check(s: Settings, write_page: bool = True) -> dict[str, Any]:
    with transaction(s.database_url) as conn:
        now = monitors.compute(conn, s)
        changes = incidents.update(conn, now)
        open_now = incidents.open_incidents(conn)
        series = monitors.daily(conn, datetime.now(UTC).date()) if write_page else {}
    sent = incidents.announce(s, changes)
    url = None
    if write_page:
        store = ObjectStore.from_settings(s)
        store.ensure_bucket()
        html = page.render(s, now, open_now, series)
        store.put_bytes(page.OPS_KEY, html.encode(), "text/html; charset=utf-8")
        url = store.presigned_url(page.OPS_KEY)
    return {
        "monitors": [m.model_dump() | {"ok": m.ok} for m in now],
        "opened": [m.name for m in changes.opened],
        "recovered": [m.name for m in changes.closed],
        "alerted": sent,
        "ops_page": url,
    }


def snapshot(conn: psycopg.Connection[Row], s: Settings) -> dict[str, Any]:
    """The monitors and open incidents, read only (status, MCP)."""
    return {
        "monitors": [m.model_dump() | {"ok": m.ok} for m in monitors.compute(conn, s)],
        "open_incidents": incidents.open_incidents(conn),
    }


def metrics_text(s: Settings) -> str:
    with connect(s.database_url) as conn:
        now = monitors.compute(conn, s)
        return prometheus.exposition(now, len(incidents.open_incidents(conn)))
