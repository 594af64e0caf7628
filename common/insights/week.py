"""The week: Monday 00:00 to Monday 00:00 in the report time zone (REPORT_TIMEZONE)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def week_bounds(week_start: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the week that starts on `week_start` (any day of it is accepted)."""
    start = datetime.combine(monday(week_start), datetime.min.time(), tzinfo=ZoneInfo(tz))
    return start, start + timedelta(weeks=1)


def current_week(now: datetime, tz: str) -> date:
    """The Monday of the week `now` falls in, in `tz`."""
    return monday(now.astimezone(ZoneInfo(tz)).date())


def previous_week(now: datetime, tz: str) -> date:
    """The Monday of the last complete week in `tz`."""
    return current_week(now, tz) - timedelta(weeks=1)


def last_weeks(now: datetime, tz: str, weeks: int) -> tuple[datetime, datetime]:
    """[start, end) of the `weeks` weeks ending with the current one."""
    start, end = week_bounds(current_week(now, tz), tz)
    return start - timedelta(weeks=weeks - 1), end


def day_start(day: date | datetime, tz: str) -> datetime:
    """Midnight at the start of `day` in `tz` (a datetime is first converted to `tz`)."""
    if isinstance(day, datetime):
        day = day.astimezone(ZoneInfo(tz)).date()
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz))
