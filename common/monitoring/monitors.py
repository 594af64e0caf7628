"""The monitors: what each measures, from which rows, and its threshold.

Most monitors are one aggregate over one table's rows in a time span, so a spec names the
aggregate, the table and its time column once: the current value reads the window (or this
month), and the ops page's daily series groups the same aggregate by day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import psycopg
from pydantic import BaseModel

from common.config import Settings
from common.db import Row

SINCE = {
    "window": "now() - make_interval(secs => %(window_s)s)",
    "month": "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}
PROMPT_CACHE = (
    "sum(cache_read_tokens)::float / nullif(sum(input_tokens + cache_read_tokens"
    " + cache_write_5m_tokens + cache_write_1h_tokens), 0)"
)
TOKENS = (
    "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens"
    " + cache_write_1h_tokens)::float"
)
ERROR_RATE = """SELECT {day} e.n::float / nullif(e.n + coalesce(u.n, 0), 0) AS v FROM
    (SELECT {key} count(*) AS n FROM claude_errors WHERE at >= {since} {group}) e
    LEFT JOIN (SELECT {key} count(*) AS n FROM claude_usage WHERE at >= {since} {group}) u
    {join}"""


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
    threshold: Callable[[Settings], float]
    expr: str  # the aggregate, over `table` rows with `time` in the span
    table: str = ""
    where: str = "TRUE"
    time: str | None = None  # None: a count of rows as they are now (no span, no series)
    span: Literal["window", "month"] = "window"
    daily_label: str = ""  # the ops page's name for the daily series (default: the name)
    scale: Callable[[Settings, float], float] = lambda s, v: v
    custom: tuple[str, str] | None = None  # (current, daily) SQL when one table will not do

    def sql(self) -> str:
        if self.custom:
            return self.custom[0]
        since = f" AND {self.time} >= {SINCE[self.span]}" if self.time else ""
        return f"SELECT {self.expr} AS v FROM {self.table} WHERE {self.where}{since}"

    def daily_sql(self) -> str:
        if self.custom:
            return self.custom[1]
        return (
            f"SELECT {self.time}::date AS day, {self.expr} AS v FROM {self.table}"
            f" WHERE {self.where} AND {self.time} >= current_date - 29 GROUP BY 1"
        )


SPECS: tuple[Spec, ...] = (
    Spec(
        "webhook_p99_ms",
        "Webhook response time P99 (stored deliveries)",
        "ms",
        "max",
        lambda s: s.monitor_webhook_p99_ms,
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY response_ms)",
        "webhook_events",
        "response_ms IS NOT NULL",
        "received_at",
    ),
    Spec(
        "prompt_cache_hit_rate",
        "Share of prompt tokens read from Claude's prompt cache",
        "ratio",
        "min",
        lambda s: s.monitor_prompt_cache_min,
        PROMPT_CACHE,
        "claude_usage",
        time="at",
    ),
    Spec(
        "analysis_cache_hit_rate",
        "Share of analysis-cache (tier-1) lookups that hit",
        "ratio",
        "min",
        lambda s: s.monitor_analysis_cache_min,
        "avg(hit::int)::float",
        "cache_lookups",
        time="at",
    ),
    Spec(
        "tokens_this_month",
        "Claude tokens this month (input, output, cache reads and writes)",
        "tokens",
        "max",
        lambda s: s.monitor_tokens_month_max,
        f"coalesce({TOKENS}, 0)",
        "claude_usage",
        time="at",
        span="month",
        daily_label="tokens_per_day",
    ),
    Spec(
        "budget_used",
        "Month-to-date Claude spend as a share of MONTHLY_BUDGET_USD",
        "ratio",
        "max",
        lambda s: s.monitor_budget_fraction,
        "coalesce(sum(usd), 0)::float",
        "claude_usage",
        time="at",
        span="month",
        daily_label="spend_usd_per_day",
        scale=lambda s, v: v / s.monthly_budget_usd if s.monthly_budget_usd else 0.0,
    ),
    Spec(
        "analysis_p95_s",
        "P95 time from webhook to four dimensions analysed",
        "s",
        "max",
        lambda s: s.monitor_analysis_p95_s,
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at"
        " - received_at))",
        "webhook_events",
        "status = 'completed'",
        "completed_at",
    ),
    Spec(
        "error_rate",
        "Share of Claude requests that failed",
        "ratio",
        "max",
        lambda s: s.monitor_error_rate_max,
        "",
        time="at",
        custom=(
            ERROR_RATE.format(day="", key="", since=SINCE["window"], group="", join="ON TRUE"),
            ERROR_RATE.format(
                day="d AS day,",
                key="at::date AS d,",
                since="current_date - 29",
                group="GROUP BY 1",
                join="USING (d)",
            ),
        ),
    ),
    Spec(
        "calls_waiting",
        "Calls waiting over 15 minutes in the outbox",
        "calls",
        "max",
        lambda s: s.monitor_waiting_max,
        "count(*)::float",
        "webhook_events",
        "status = 'pending' AND received_at < now() - interval '15 minutes'",
    ),
    Spec(
        "calls_parked",
        "Calls parked as needs_attention",
        "calls",
        "max",
        lambda s: s.monitor_parked_max,
        "count(*)::float",
        "webhook_events",
        "status = 'needs_attention'",
    ),
    Spec(
        "gong_budget_used",
        "Share of today's Gong request budget used",
        "ratio",
        "max",
        lambda s: s.monitor_gong_budget_fraction,
        "coalesce(max(used_today) FILTER (WHERE day = (now() AT TIME ZONE 'UTC')::date), 0)::float",
        "rate_limits",
        "name = 'gong'",
        scale=lambda s, v: v / s.gong_daily_budget,
    ),
)


def compute(conn: psycopg.Connection[Row], s: Settings) -> list[Monitor]:
    params = {"window_s": s.monitor_window_h * 3600}
    raw: dict[str, Any] = {}
    for sql, names in _queries():
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        for i, name in enumerate(names):
            raw[name] = row[f"v{i}"] if row else None
    out = []
    for spec in SPECS:
        value = raw[spec.name]
        out.append(
            Monitor(
                name=spec.name,
                help=spec.help,
                unit=spec.unit,
                value=None if value is None else round(spec.scale(s, float(value)), 4),
                threshold=spec.threshold(s),
                kind=spec.kind,
            )
        )
    return out


def _queries() -> list[tuple[str, list[str]]]:
    """One query per table and span: monitors over the same rows (this month's tokens and
    spend, 150,000 rows at 2,000 calls a day) share one scan."""
    groups: dict[tuple[str, str, str | None, str], list[Spec]] = {}
    out: list[tuple[str, list[str]]] = []
    for spec in SPECS:
        if spec.custom:
            out.append((f"SELECT ({spec.sql()}) AS v0", [spec.name]))
        else:
            groups.setdefault((spec.table, spec.where, spec.time, spec.span), []).append(spec)
    for (table, where, time, span), specs in groups.items():
        since = f" AND {time} >= {SINCE[span]}" if time else ""
        exprs = ", ".join(f"{spec.expr} AS v{i}" for i, spec in enumerate(specs))
        out.append(
            (f"SELECT {exprs} FROM {table} WHERE {where}{since}", [spec.name for spec in specs])
        )
    return out


def daily(conn: psycopg.Connection[Row], today: date) -> dict[str, list[tuple[date, float | None]]]:
    """30 days of daily values (unscaled) per monitor with a time column, oldest first (None:
    no data that day), keyed by the spec's daily label."""
    days = [today - timedelta(days=29 - i) for i in range(30)]
    out: dict[str, list[tuple[date, float | None]]] = {}
    for spec in SPECS:
        if spec.time is None:
            continue
        found: dict[Any, float] = {
            r["day"]: r["v"]
            for r in conn.execute(spec.daily_sql()).fetchall()  # type: ignore[arg-type]
        }
        out[spec.daily_label or spec.name] = [(d, found.get(d)) for d in days]
    return out
