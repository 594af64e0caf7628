"""Rendering weekly reviews to self-contained HTML, publishing them, and delivering links."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import jinja2

from common.calls import roles
from common.config import DIMENSIONS, Settings
from common.insights.links import safe_link
from common.monitoring.alerts import send_email
from common.reports.charts import COLORS, bar_pairs, line_chart
from common.reports.numbers import RepReport, TeamReport

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["j2", "html"]),
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["http_link"] = safe_link  # Gong data may carry javascript: URLs: shown as text
_ENV.filters["job_role"] = roles.label  # "se" -> "sales engineer"


def _common() -> dict[str, object]:
    return {
        "dimensions": DIMENSIONS,
        "colors": COLORS,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_rep(r: RepReport) -> str:
    bars = bar_pairs([(d, r.scores.get(d), r.previous.get(d)) for d in DIMENSIONS])
    return _ENV.get_template("rep.html.j2").render(
        r=r, bars=bars, trend=line_chart(r.trend), **_common()
    )


def render_team(t: TeamReport, links: dict[str, str]) -> str:
    return _ENV.get_template("team.html.j2").render(
        t=t, links=links, trend=line_chart(t.trend), **_common()
    )


def render_index(week: date, teams: list[tuple[str, str]], reps: list[tuple[str, str]]) -> str:
    return _ENV.get_template("index.html.j2").render(week=week, teams=teams, reps=reps, **_common())


def report_key(week: date, scope: str, subject: str = "") -> str:
    """Stable object keys: re-running a week replaces its reports."""
    name = {"rep": f"rep-{subject}", "team": f"team-{subject}", "index": "index"}[scope]
    return f"reports/weekly/{week.isoformat()}/{name}.html"


def deliver(
    s: Settings, week: date, index_url: str, team_links: list[tuple[str, str]]
) -> list[str]:
    """Send the links to Slack and/or by email when configured; returns where they went."""
    lines = [f"Weekly coaching reviews, week of {week:%d %b %Y}: {index_url}"]
    lines += [f"- {name}: {url}" for name, url in team_links]
    text = "\n".join(lines)
    sent = []
    if s.slack_webhook_url:
        httpx.post(
            s.slack_webhook_url.get_secret_value(), json={"text": text}, timeout=10
        ).raise_for_status()
        sent.append("slack")
    if s.smtp_host and s.report_recipients:
        send_email(
            s, f"Weekly coaching reviews - week of {week:%d %b %Y}", text, s.report_recipients
        )
        sent.append("email")
    return sent
