"""The week (`common/insights/week.py`): Monday 00:00 to Monday 00:00 in REPORT_TIMEZONE, the
one definition MCP answers and the weekly reports share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from common.insights.week import (
    current_week,
    day_start,
    last_weeks,
    monday,
    previous_week,
    week_bounds,
)


def test_one_week_definition_in_the_report_time_zone() -> None:
    start, end = week_bounds(date(2026, 11, 18), "America/Los_Angeles")  # a Wednesday
    assert start.isoformat() == "2026-11-16T00:00:00-08:00" and end - start == timedelta(weeks=1)
    # Monday 03:00 UTC is still Sunday in Los Angeles: the previous week there
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert previous_week(now, "UTC") == date(2026, 11, 16)
    assert previous_week(now, "America/Los_Angeles") == date(2026, 11, 9)
    assert day_start(now, "America/Los_Angeles").isoformat() == "2026-11-22T00:00:00-08:00"


def test_a_week_across_a_clock_change_is_seven_local_days() -> None:
    """New York leaves summer time on Sunday 1 November 2026: that week is 169 hours long,
    from midnight to midnight on the wall clock."""
    start, end = week_bounds(date(2026, 10, 29), "America/New_York")
    assert start.isoformat() == "2026-10-26T00:00:00-04:00"
    assert end.isoformat() == "2026-11-02T00:00:00-05:00"
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=1)


def test_the_weeks_of_a_trend_end_with_the_current_one() -> None:
    now = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # a Sunday night
    assert monday(now.date()) == date(2026, 11, 23)
    since, until = last_weeks(now, "UTC", 3)
    assert (since.date(), until.date()) == (date(2026, 11, 9), date(2026, 11, 30))
    # already Monday in Berlin: its current week is the next one
    assert current_week(now, "Europe/Berlin") == date(2026, 11, 30)
    assert day_start(date(2026, 11, 30), "Europe/Berlin").isoformat() == "2026-11-30T00:00:00+01:00"
