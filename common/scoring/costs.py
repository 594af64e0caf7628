"""The cost ledger: prices from a data file, one usage row per Claude response, summaries.

Prices (dollars per million tokens) live in `common/prices.csv`, one row per model, effective
date and prompt-size band (Haiku 5.5 charges more above 100K prompt tokens). The row in force
is the latest `effective_from` on or before the request's date, in the highest band the prompt
reaches. The Message Batches API halves every price, cache prices included.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg

from common.db import Row
from common.errors import BudgetExceeded, ConfigError

log = logging.getLogger("sales_coach.costs")
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    model: str
    effective_from: date
    min_prompt_tokens: int
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    context_window: int
    max_output: int
    retires_on: date | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one response, as the API reports them."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )

    @classmethod
    def from_api(cls, usage: Any) -> Usage:
        creation = getattr(usage, "cache_creation", None)
        write_total = usage.cache_creation_input_tokens or 0
        w5 = creation.ephemeral_5m_input_tokens if creation else write_total
        w1h = creation.ephemeral_1h_input_tokens if creation else 0
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1h,
        )


class PriceTable:
    def __init__(self, prices: list[Price]) -> None:
        self._prices = sorted(
            prices, key=lambda p: (p.model, p.effective_from, p.min_prompt_tokens)
        )

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        with path.open() as f:
            rows = list(csv.DictReader(f))
        return cls(
            [
                Price(
                    model=r["model"],
                    effective_from=date.fromisoformat(r["effective_from"]),
                    min_prompt_tokens=int(r["min_prompt_tokens"]),
                    input=Decimal(r["input"]),
                    output=Decimal(r["output"]),
                    cache_write_5m=Decimal(r["cache_write_5m"]),
                    cache_write_1h=Decimal(r["cache_write_1h"]),
                    cache_read=Decimal(r["cache_read"]),
                    context_window=int(r["context_window"]),
                    max_output=int(r["max_output"]),
                    retires_on=date.fromisoformat(r["retires_on"]) if r.get("retires_on") else None,
                )
                for r in rows
            ]
        )

    def check_model(self, model: str, today: date, warn_days: int = 30) -> None:
        """Refuse a model that is unknown or retired; warn when it retires soon."""
        rows = [p for p in self._prices if p.model == model]
        if not rows:
            raise ConfigError(f"model {model} is not in the price file; add its prices first")
        retires = next((p.retires_on for p in rows if p.retires_on), None)
        if retires and today >= retires:
            raise ConfigError(
                f"model {model} retired on {retires}; set CLAUDE_MODEL to a current model"
            )
        if retires and (retires - today).days <= warn_days:
            log.warning(
                "model %s retires on %s: move CLAUDE_MODEL to a current model before then",
                model,
                retires,
            )

    @property
    def models(self) -> set[str]:
        return {p.model for p in self._prices}

    def known(self, model: str) -> bool:
        """Whether the table prices this model id (itself, or as a dated snapshot of one)."""
        return self._listed(model) is not None

    def _listed(self, model: str) -> str | None:
        """The table's id for a model id: itself, or the longest listed id it is a dated
        snapshot of (`claude-haiku-5-5-20261015` is `claude-haiku-5-5`), as an API answers."""
        ids = {p.model for p in self._prices}
        if model in ids:
            return model
        stems = [m for m in ids if model.startswith(m + "-") and model[len(m) + 1 :].isdigit()]
        return max(stems, key=len) if stems else None

    def price(self, model: str, on: date, prompt_tokens: int = 0) -> Price:
        listed = self._listed(model) or model
        candidates = [
            p
            for p in self._prices
            if p.model == listed and p.effective_from <= on and p.min_prompt_tokens <= prompt_tokens
        ]
        if not candidates:
            raise ConfigError(f"no price for model {model} on {on} in the price file")
        latest = max(p.effective_from for p in candidates)
        return max(
            (p for p in candidates if p.effective_from == latest), key=lambda p: p.min_prompt_tokens
        )

    def cost(self, model: str, usage: Usage, on: date, batch: bool = False) -> Decimal:
        p = self.price(model, on, usage.prompt_tokens)
        dollars = (
            usage.input_tokens * p.input
            + usage.output_tokens * p.output
            + usage.cache_read_tokens * p.cache_read
            + usage.cache_write_5m_tokens * p.cache_write_5m
            + usage.cache_write_1h_tokens * p.cache_write_1h
        ) / MILLION
        return (dollars / 2 if batch else dollars).quantize(Decimal("0.000001"))


@lru_cache(maxsize=4)
def price_table(path: Path) -> PriceTable:
    return PriceTable.load(path)


# -- the ledger ---------------------------------------------------------------------------


def record_error(
    conn: psycopg.Connection[Row],
    *,
    model: str,
    call_id: str | None,
    dimension: str | None,
    status_code: int | None,
    message: str,
) -> None:
    conn.execute(
        "INSERT INTO claude_errors (model, call_id, dimension, status_code, message)"
        " VALUES (%s, %s, %s, %s, %s)",
        (model, call_id, dimension, status_code, message[:2000]),
    )


SPEND_SQL = """
SELECT count(*) AS requests,
       coalesce(sum(usd), 0) AS usd,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cache_write_5m_tokens + cache_write_1h_tokens), 0) AS cache_write_tokens,
       count(*) FILTER (WHERE estimated) AS estimated_requests,
       coalesce(sum(usd) FILTER (WHERE estimated), 0) AS estimated_usd
FROM claude_usage WHERE {where}
"""
# estimated_*: requests left in flight by a killed process, recorded at estimated usage
# (`common.scoring.ledger.Intent`); included in requests and usd.


def _spend(conn: psycopg.Connection[Row], where: str, params: tuple[Any, ...]) -> dict[str, Any]:
    row = conn.execute(SPEND_SQL.format(where=where), params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    prompt = row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"]
    row["prompt_cache_hit_rate"] = round(row["cache_read_tokens"] / prompt, 4) if prompt else None
    return dict(row)


def call_cost(conn: psycopg.Connection[Row], call_id: str) -> dict[str, Any]:
    return _spend(conn, "call_id = %s", (call_id,))


def period_spend(
    conn: psycopg.Connection[Row],
    start: datetime,
    end: datetime,
    rep_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Spend, tokens by kind, prompt-cache and tier-1 hit rates in [start, end).

    With `rep_ids`, only what was spent on those reps' calls (a manager's team); usage not
    tied to a call (evals, calibration) counts company-wide only.
    """
    team = " AND rep_id = ANY(%b)"  # the call's rep, stamped on each row (0008_read_speed)
    where, params = "at >= %s AND at < %s", (start, end)
    if rep_ids is not None:
        where, params = where + team, (start, end, rep_ids)  # type: ignore[assignment]
    out = _spend(conn, where, params)
    row = conn.execute(
        f"SELECT count(*) FILTER (WHERE hit) AS hits, count(*) AS lookups FROM cache_lookups"
        f" WHERE {where}",
        params,  # type: ignore[arg-type]
    ).fetchone()
    assert row is not None
    out["tier1_lookups"], out["tier1_hits"] = row["lookups"], row["hits"]
    out["tier1_hit_rate"] = round(row["hits"] / row["lookups"], 4) if row["lookups"] else None
    return out


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_to_date(conn: psycopg.Connection[Row], now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    # open-ended (rows stamped a little after `now` count too); not now.replace(year=...),
    # which raises on 29 February
    return period_spend(conn, month_start(now), now + timedelta(days=366))


def check_budget(
    conn: psycopg.Connection[Row], budget_usd: float, estimate_usd: float, override: bool = False
) -> None:
    """Refuse new work when month-to-date spend plus its estimate would pass the budget."""
    spent = float(month_to_date(conn)["usd"])
    if spent + estimate_usd > budget_usd and not override:
        raise BudgetExceeded(
            f"month-to-date Claude spend ${spent:.2f} + this analysis (~${estimate_usd:.2f})"
            f" would pass the monthly budget of ${budget_usd:.2f}; an admin can override"
            " (force with override_budget) or raise MONTHLY_BUDGET_USD"
        )


def alert_on_low_hit_rate(
    conn: psycopg.Connection[Row], threshold: float = 0.5, min_requests: int = 8
) -> float | None:
    """Log a warning when today's prompt-cache hit rate is under `threshold`."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spend = _spend(conn, "at >= %s", (today,))
    rate = spend["prompt_cache_hit_rate"]
    if rate is not None and spend["requests"] >= min_requests and rate < threshold:
        log.warning(
            "prompt-cache hit rate today is %.0f%% (under %.0f%%) over %d requests:"
            " check that the static prefix is stable",
            rate * 100,
            threshold * 100,
            spend["requests"],
        )
    return float(rate) if rate is not None else None
