"""A rep's note preferences as they apply, and when a note is due under each cadence.

A rep chooses a channel (Slack DM or e-mail) and a cadence (each call, a daily digest at
`DIGEST_HOUR` in REPORT_TIMEZONE, a weekly one on Mondays then, or off); until they do, the
defaults apply (Slack when SLACK_BOT_TOKEN is set, else e-mail; REP_NOTE_DEFAULT_CADENCE). Their
manager may hold their notes until the manager has looked at each call. Writes are
`common.repnotes.outbox`'s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import psycopg
from pydantic import BaseModel

from common.config import Settings
from common.db import Row
from common.notify import Channel

Cadence = Literal["each_call", "daily", "weekly", "off"]
CADENCES: tuple[Cadence, ...] = ("each_call", "daily", "weekly", "off")
DIGEST_HOUR = 8  # digests go out at 08:00 in REPORT_TIMEZONE


class NotePreferences(BaseModel):
    rep_id: str
    channel: Channel  # in effect
    cadence: Cadence  # in effect
    chosen_channel: Channel | None  # the rep's own choice (None: the default)
    chosen_cadence: Cadence | None
    manager_hold: bool  # notes wait until the manager has looked at the call
    hold_set_by: str | None
    hold_set_at: datetime | None


def default_channel(s: Settings) -> Channel:
    return "slack" if s.slack_bot_token else "email"


def load(conn: psycopg.Connection[Row], rep_id: str, s: Settings) -> NotePreferences:
    """The rep's preferences, the defaults filled in."""
    row = conn.execute(
        "SELECT channel, cadence, manager_hold, hold_set_by, hold_set_at FROM rep_note_prefs"
        " WHERE rep_id = %s",
        (rep_id,),
    ).fetchone()
    return from_row(rep_id, row, s)


def from_row(rep_id: str, row: Row | None, s: Settings) -> NotePreferences:
    row = row or {}
    return NotePreferences(
        rep_id=rep_id,
        channel=row.get("channel") or default_channel(s),
        cadence=row.get("cadence") or s.rep_note_default_cadence,
        chosen_channel=row.get("channel"),
        chosen_cadence=row.get("cadence"),
        manager_hold=bool(row.get("manager_hold")),
        hold_set_by=row.get("hold_set_by"),
        hold_set_at=row.get("hold_set_at"),
    )


def due_at(cadence: Cadence, now: datetime, timezone: str) -> datetime:
    """When a note queued at `now` goes out: at once (each call), at the next `DIGEST_HOUR`
    (daily), or at the next Monday's (weekly), in `timezone`."""
    if cadence in ("each_call", "off"):
        return now
    local = now.astimezone(ZoneInfo(timezone))
    target = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    step = timedelta(days=1)
    if cadence == "weekly":
        target += timedelta(days=-local.weekday() % 7)
        step = timedelta(days=7)
    if target <= local:
        target += step
    return target.astimezone(UTC)
