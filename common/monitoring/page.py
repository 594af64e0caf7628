"""The ops page: every monitor now against its threshold, open incidents, and 30 days of daily
values as small charts; self-contained HTML on object storage (`ops/index.html`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape

from common.config import Settings
from common.db import Row
from common.monitoring.incidents import _fmt
from common.monitoring.monitors import Monitor
from common.reports.charts import sparkline

OPS_KEY = "ops/index.html"


def render(
    s: Settings,
    monitors: list[Monitor],
    incidents: list[Row],
    series: dict[str, list[tuple[date, float | None]]],
) -> str:
    by_name = {m.name: m for m in monitors}
    rows = "".join(
        f"<tr class='{_state(m)}'><td>{escape(m.name)}</td><td>{escape(m.help)}</td>"
        f"<td>{_fmt(m.value, m.unit)}</td><td>{'&le;' if m.kind == 'max' else '&ge;'} "
        f"{_fmt(m.threshold, m.unit)}</td><td>{_state(m)}</td></tr>"
        for m in monitors
    )
    open_rows = (
        "".join(
            f"<li>{escape(r['monitor'])} since {r['opened_at']:%Y-%m-%d %H:%M} UTC</li>"
            for r in incidents
        )
        or "<li>None</li>"
    )
    charts = "".join(
        f"<figure><figcaption>{escape(name)} (last 30 days)</figcaption>"
        f"{sparkline([(d.isoformat(), v) for d, v in points], _threshold(by_name, name))}</figure>"
        for name, points in series.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sales coach: operations</title>"
        "<style>body{font:14px system-ui;margin:24px;max-width:1000px}td,th{padding:4px 8px;"
        "border-bottom:1px solid #e5e7eb;text-align:left}.failing{background:#fee2e2}"
        ".ok{background:#f0fdf4}figure{display:inline-block;margin:8px}</style></head><body>"
        f"<h1>Operations</h1><p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; rates and"
        f" percentiles over the last {s.monitor_window_h:g} h.</p>"
        "<table><tr><th>monitor</th><th>what</th><th>now</th><th>threshold</th><th>state</th></tr>"
        f"{rows}</table><h2>Open incidents</h2><ul>{open_rows}</ul><h2>Trend</h2>{charts}"
        "</body></html>"
    )


def _state(m: Monitor) -> str:
    return {True: "ok", False: "failing", None: "no-data"}[m.ok]


def _threshold(by_name: dict[str, Monitor], series: str) -> float | None:
    """A series named after its monitor is on the monitor's scale (monthly ones are not)."""
    return by_name[series].threshold if series in by_name else None
