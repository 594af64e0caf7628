"""The monitors: what each measures, from which rows, and its threshold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import psycopg
from pydantic import BaseModel

from common.config import Settings
from common.db import Row

WINDOW = "now() - make_interval(secs => %(window_s)s)"


class Monitor(BaseModel):
    name: str
    help: str
    unit: str
    value: float | None  # None: no data in the window (neither ok nor failing)
    threshold: float
    kind: Literal["max", "min"]  # max: alert above; min: alert below

    @property
    def ok(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.threshold if self.kind == "max" else self.value >= self.threshold


@dataclass(frozen=True)
class Spec:
    name: str
    help: str
    unit: str
    kind: Literal["max", "min"]
    sql: str  # one row, column `v`
    threshold: Callable[[Settings], float]
    scale: Callable[[Settings, float], float] = lambda s, v: v


SPECS: tuple[Spec, ...] = (
    Spec(
        "webhook_p99_ms",
        "Webhook response time P99 (stored deliveries)",
        "ms",
        "max",
        f"SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY response_ms) AS v"
        f" FROM webhook_events WHERE received_at >= {WINDOW} AND response_ms IS NOT NULL",
        lambda s: s.monitor_webhook_p99_ms,
    ),
    Spec(
        "prompt_cache_hit_rate",
        "Share of prompt tokens read from Claude's prompt cache",
        "ratio",
        "min",
        f"SELECT sum(cache_read_tokens)::float / nullif(sum(input_tokens + cache_read_tokens"
        f" + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS v FROM claude_usage"
        f" WHERE at >= {WINDOW}",
        lambda s: s.monitor_prompt_cache_min,
    ),
    Spec(
        "analysis_cache_hit_rate",
        "Share of analysis-cache (tier-1) lookups that hit",
        "ratio",
        "min",
        f"SELECT avg(hit::int)::float AS v FROM cache_lookups WHERE at >= {WINDOW}",
        lambda s: s.monitor_analysis_cache_min,
    ),
    Spec(
        "tokens_this_month",
        "Claude tokens this month (input, output, cache reads and writes)",
        "tokens",
        "max",
        "SELECT coalesce(sum(input_tokens + output_tokens + cache_read_tokens"
        " + cache_write_5m_tokens + cache_write_1h_tokens), 0)::float AS v FROM claude_usage"
        " WHERE at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        lambda s: s.monitor_tokens_month_max,
    ),
    Spec(
        "budget_used",
        "Month-to-date Claude spend as a share of MONTHLY_BUDGET_USD",
        "ratio",
        "max",
        "SELECT coalesce(sum(usd), 0)::float AS v FROM claude_usage"
        " WHERE at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        lambda s: s.monitor_budget_fraction,
        lambda s, v: v / s.monthly_budget_usd if s.monthly_budget_usd else 0.0,
    ),
    Spec(
        "analysis_p95_s",
        "P95 time from webhook to four dimensions analysed",
        "s",
        "max",
        f"SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at"
        f" - received_at)) AS v FROM webhook_events WHERE status = 'completed'"
        f" AND completed_at >= {WINDOW}",
        lambda s: s.monitor_analysis_p95_s,
    ),
    Spec(
        "error_rate",
        "Share of Claude requests that failed",
        "ratio",
        "max",
        f"SELECT e.n::float / nullif(e.n + u.n, 0) AS v FROM"
        f" (SELECT count(*) AS n FROM claude_errors WHERE at >= {WINDOW}) e,"
        f" (SELECT count(*) AS n FROM claude_usage WHERE at >= {WINDOW}) u",
        lambda s: s.monitor_error_rate_max,
    ),
    Spec(
        "calls_waiting",
        "Calls waiting over 15 minutes in the outbox",
        "calls",
        "max",
        "SELECT count(*)::float AS v FROM webhook_events WHERE status = 'pending'"
        " AND received_at < now() - interval '15 minutes'",
        lambda s: s.monitor_waiting_max,
    ),
    Spec(
        "calls_parked",
        "Calls parked as needs_attention",
        "calls",
        "max",
        "SELECT count(*)::float AS v FROM webhook_events WHERE status = 'needs_attention'",
        lambda s: s.monitor_parked_max,
    ),
    Spec(
        "gong_budget_used",
        "Share of today's Gong request budget used",
        "ratio",
        "max",
        "SELECT coalesce(max(used_today) FILTER (WHERE day = (now() AT TIME ZONE 'UTC')::date),"
        " 0)::float AS v FROM rate_limits WHERE name = 'gong'",
        lambda s: s.monitor_gong_budget_fraction,
        lambda s, v: v / s.gong_daily_budget,
    ),
)


def compute(conn: psycopg.Connection[Row], s: Settings) -> list[Monitor]:
    params = {"window_s": s.monitor_window_h * 3600}
    out = []
    for spec in SPECS:
        row = conn.execute(spec.sql, params).fetchone()  # type: ignore[arg-type]
        raw = row["v"] if row else None
        value = None if raw is None else round(spec.scale(s, float(raw)), 4)
        out.append(
            Monitor(
                name=spec.name,
                help=spec.help,
                unit=spec.unit,
                value=value,
                threshold=spec.threshold(s),
                kind=spec.kind,
            )
        )
    return out


DAILY = {  # name -> SQL of (day, value) over the last 30 days
    "webhook_p99_ms": "SELECT received_at::date AS day, percentile_cont(0.99) WITHIN GROUP"
    " (ORDER BY response_ms) AS v FROM webhook_events WHERE received_at >= current_date - 29"
    " AND response_ms IS NOT NULL GROUP BY 1",
    "prompt_cache_hit_rate": "SELECT at::date AS day, sum(cache_read_tokens)::float /"
    " nullif(sum(input_tokens + cache_read_tokens + cache_write_5m_tokens"
    " + cache_write_1h_tokens), 0) AS v FROM claude_usage WHERE at >= current_date - 29 GROUP BY 1",
    "analysis_cache_hit_rate": "SELECT at::date AS day, avg(hit::int)::float AS v FROM"
    " cache_lookups WHERE at >= current_date - 29 GROUP BY 1",
    "tokens_per_day": "SELECT at::date AS day, sum(input_tokens + output_tokens"
    " + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens)::float AS v"
    " FROM claude_usage WHERE at >= current_date - 29 GROUP BY 1",
    "spend_usd_per_day": "SELECT at::date AS day, sum(usd)::float AS v FROM claude_usage"
    " WHERE at >= current_date - 29 GROUP BY 1",
    "analysis_p95_s": "SELECT completed_at::date AS day, percentile_cont(0.95) WITHIN GROUP"
    " (ORDER BY extract(epoch FROM completed_at - received_at)) AS v FROM webhook_events"
    " WHERE status = 'completed' AND completed_at >= current_date - 29 GROUP BY 1",
    "error_rate": "SELECT d AS day, e.n::float / nullif(e.n + coalesce(u.n, 0), 0) AS v FROM"
    " (SELECT at::date AS d, count(*) AS n FROM claude_errors WHERE at >= current_date - 29"
    " GROUP BY 1) e LEFT JOIN (SELECT at::date AS d, count(*) AS n FROM claude_usage"
    " WHERE at >= current_date - 29 GROUP BY 1) u USING (d)",
}


def daily(conn: psycopg.Connection[Row], today: date) -> dict[str, list[tuple[date, float | None]]]:
    """30 days of daily values per monitor, oldest first (None: no data that day)."""
    from datetime import timedelta

    days = [today - timedelta(days=29 - i) for i in range(30)]
    out: dict[str, list[tuple[date, float | None]]] = {}
    for name, sql in DAILY.items():
        found: dict[Any, float] = {r["day"]: r["v"] for r in conn.execute(sql).fetchall()}  # type: ignore[arg-type]
        out[name] = [(d, found.get(d)) for d in days]
    return out
