"""The period a pack covers: whole UTC days, both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from common.errors import InvalidRequest


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidRequest(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def since(self) -> datetime:
        """The first instant of the period."""
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()} (UTC days, both included)"

    @property
    def bounds(self) -> dict[str, datetime]:
        """Query parameters `since` and `until`."""
        return {"since": self.since, "until": self.until}
