"""The weekly review flow: per-rep and per-team HTML reports for last week, on object storage.

Scheduled Mondays 07:00 in `REPORT_TIMEZONE`; the work is `common.reports.weekly.build_week`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from common.config import load_settings
from common.insights.week import previous_week
from common.reports.weekly import build_week

__all__ = ["build_week", "weekly_review"]


@flow(name="weekly-review")
def weekly_review(week_start: date | None = None) -> dict[str, Any]:
    s = load_settings()
    week = week_start or previous_week(datetime.now(UTC), s.report_timezone)
    return build_week(s, week)
