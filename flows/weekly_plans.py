"""The weekly plans: Mondays, a draft per rep for last week (`common.plans.draft_week`), then
the delivery of the plans that are due; every five minutes, the delivery alone, so a plan goes
out soon after its manager approves it (`common.plans.deliver_plans`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from common.config import load_settings
from common.db import transaction
from common.insights.week import previous_week
from common.plans import deliver_plans, draft_week


@flow(name="weekly-plans")
def weekly_plans(week_start: date | None = None) -> dict[str, Any]:
    s = load_settings()
    week = week_start or previous_week(datetime.now(UTC), s.report_timezone)
    with transaction(s.database_url) as conn:
        drafted = draft_week(conn, s, week)
    sent = deliver_plans(s, s.database_url)
    return {"week_start": week.isoformat(), "drafted": len(drafted), **sent.model_dump()}


@flow(name="send-plans")
def send_plans() -> dict[str, Any]:
    s = load_settings()
    return deliver_plans(s, s.database_url).model_dump()
