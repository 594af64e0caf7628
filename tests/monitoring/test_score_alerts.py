"""Score alerts to the rep's manager, through a real SMTP server and a Slack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.db import Database
from common.insights.week import previous_week
from common.monitoring import score_alerts
from local.seed import Team
from tests.monitoring.channels import Inbox, wired


@pytest.fixture
def channels(settings: Settings, team: Team) -> Iterator[tuple[Settings, list[str], Inbox]]:
    with wired(settings, score_alert_below=2.5, score_alert_drop=0.5) as ch:
        yield ch


def _set(db_url: str, call_id: str, dimension: str, score: float | None) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET overall_score = %s WHERE call_id = %s AND dimension = %s",
            (score, call_id, dimension),
        )


def test_a_low_call_alerts_its_manager_once_and_na_never(
    channels: tuple[Settings, list[str], Inbox],
) -> None:
    s, posts, inbox = channels
    call = "c-u-r000-00-0"  # rep u-r000, manager u-m0 (manager0@example.com)
    for d in ("product_knowledge", "discovery", "objections", "engagement"):
        _set(s.database_url, call, d, 4.0)
    _set(s.database_url, call, "objections", None)  # N/A is no score, never an alert
    database = Database(s.database_url)
    try:
        assert score_alerts.after_call(database, s, call) == {}
        _set(s.database_url, call, "discovery", 1.5)
        sent = score_alerts.after_call(database, s, call)
        assert sent == {f"call:{call}": ["log", "slack", "email"]}
        assert score_alerts.after_call(database, s, call) == {}  # once per call
    finally:
        database.close()
    assert inbox.recipients == [["manager0@example.com"]]
    message = inbox.messages[0]
    assert "discovery 1.5" in message and "objections" not in message.split("below")[1]
    assert len(posts) == 1 and "u-m0" in posts[0] and call in posts[0]


def test_a_falling_average_alerts_once_per_rep_and_week(
    channels: tuple[Settings, list[str], Inbox],
) -> None:
    s, _, inbox = channels
    week = previous_week(datetime.now(UTC), "UTC")
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        recent = datetime.combine(week, datetime.min.time(), UTC) - timedelta(weeks=3)
        conn.execute(  # u-r002's engagement: 1.0 in the last four weeks, as seeded before
            "UPDATE coaching_sessions s SET overall_score = 1.0 FROM calls c"
            " WHERE c.id = s.call_id AND c.primary_user_id = 'u-r002'"
            " AND s.dimension = 'engagement' AND c.started_at >= %s",
            (recent,),
        )
        conn.execute(
            "UPDATE coaching_sessions s SET overall_score = 4.5 FROM calls c"
            " WHERE c.id = s.call_id AND c.primary_user_id = 'u-r002'"
            " AND s.dimension = 'engagement' AND c.started_at < %s",
            (recent,),
        )
        alerts = score_alerts.for_week(conn, s, week)
        again = score_alerts.for_week(conn, s, week)
    falling = [a for a in alerts if a.rep_id == "u-r002"]
    assert len(falling) == 1 and "engagement 4.5 -> 1.0" in falling[0].text
    assert falling[0].manager_email == "manager0@example.com"
    assert again == []  # once per rep and week
    assert score_alerts.deliver(s, falling)[falling[0].key] == ["log", "slack", "email"]
    assert inbox.recipients == [["manager0@example.com"]]


def test_alerts_are_off_unless_configured(settings: Settings, team: Team) -> None:
    database = Database(settings.database_url)
    try:
        assert score_alerts.after_call(database, settings, "c-u-r000-00-0") == {}
    finally:
        database.close()
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert score_alerts.for_week(conn, settings, previous_week(datetime.now(UTC), "UTC")) == []
        assert conn.execute("SELECT count(*) AS n FROM score_alerts").fetchone() == {"n": 0}
