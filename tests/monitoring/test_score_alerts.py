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


def test_held_scores_and_managers_own_scores_never_alert(
    channels: tuple[Settings, list[str], Inbox],
) -> None:
    """A held 1.0 is the AI's suggestion, not a score: no alert. A manager's own low score
    is their word, already known to them: no alert either. A published 1.5 alerts."""
    s, _, inbox = channels
    call = "c-u-r000-00-0"
    for d in ("product_knowledge", "discovery", "objections", "engagement"):
        _set(s.database_url, call, d, 4.0)
    _set(s.database_url, call, "discovery", 1.0)
    with psycopg.connect(s.database_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET state = 'needs_review'"
            " WHERE call_id = %s AND dimension = 'discovery'",
            (call,),
        )
        conn.execute(
            "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, score, source,"
            " source_ref, scored_at) VALUES (%s, 'u-r000', 'u-m0', 'engagement', 1, 'mcp',"
            " 'own-1', now())",
            (call,),
        )
    database = Database(s.database_url)
    try:
        assert score_alerts.after_call(database, s, call) == {}
        _set(s.database_url, call, "objections", 1.5)
        sent = score_alerts.after_call(database, s, call)
    finally:
        database.close()
    assert list(sent) == [f"call:{call}"]
    low = inbox.messages[0].split("below")[1]
    assert "objections 1.5" in low and "discovery" not in low and "engagement" not in low


def test_a_fall_within_run_to_run_noise_does_not_alert(
    channels: tuple[Settings, list[str], Inbox],
) -> None:
    """u-r002's engagement: 3.6 over the earlier weeks, 3.0 over the last four, each score
    the median of samples 1.5 apart. A fall of 0.6 passes SCORE_ALERT_DROP (0.5), but over
    eight calls against four it is within run-to-run noise (1.96 * 1.5 * sqrt(1/8 + 1/4))."""
    s, _, inbox = channels
    week = previous_week(datetime.now(UTC), "UTC")
    recent = datetime.combine(week, datetime.min.time(), UTC) - timedelta(weeks=3)
    samples = (
        "jsonb_build_array("
        + ", ".join(
            f"jsonb_build_object('stage', 0, 'index', {i}, 'model', 'm',"
            f" 'overall_score', s.overall_score + {d}, 'criteria', '{{}}'::jsonb)"
            for i, d in enumerate((-1.5, 0.0, 1.5))
        )
        + ")"
    )
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        for score, side in ((3.0, ">="), (3.6, "<")):
            conn.execute(
                f"UPDATE coaching_sessions s SET overall_score = {score} FROM calls c"
                " WHERE c.id = s.call_id AND c.primary_user_id = 'u-r002'"
                f" AND s.dimension = 'engagement' AND c.started_at {side} %s",
                (recent,),
            )
        conn.execute(
            f"UPDATE coaching_sessions s SET result = s.result || jsonb_build_object('samples',"
            f" {samples}) WHERE s.rep_id = 'u-r002' AND s.dimension = 'engagement'"
        )
        alerts = score_alerts.for_week(conn, s, week)
    assert [a for a in alerts if a.rep_id == "u-r002"] == []
    assert inbox.recipients == []
