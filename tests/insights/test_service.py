"""The read model: call_scores kept by triggers, one week definition, one set of numbers for
MCP and the weekly reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from common.config import load_settings
from common.insights import performance
from common.insights.performance import RepRef
from common.insights.service import Insights
from common.insights.week import current_week, previous_week, week_bounds
from common.reports import numbers as reports
from common.storage import ObjectStore
from local.seed import seed

SESSION = """INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,
    cache_key, transcript_hash, rubric_version, status, overall_score, result)
    VALUES (now(), %s, 'r1', %s, 'm', 'k', 'h', 'v', 'completed', %s, %s)"""


def _result(note: str) -> str:
    import json

    return json.dumps(
        {
            "coaching_note": note,
            "strengths": ["Clear agenda"],
            "improvements": ["Ask why"],
            "criteria": [],
        }
    )


def test_call_scores_follow_sessions_and_calls(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES ('c1', 'Acme demo', 'r1', now())"
        )
        conn.execute(SESSION, ("c1", "discovery", 2.0, _result("talked about budgets")))
        conn.execute(SESSION, ("c1", "engagement", 4.0, _result("warm")))

        def row() -> dict[str, object] | None:
            return conn.execute("SELECT * FROM call_scores WHERE call_id = 'c1'").fetchone()

        def found(text: str) -> bool:
            return bool(
                conn.execute(
                    "SELECT 1 FROM call_scores WHERE search @@ websearch_to_tsquery('english', %s)",
                    (text,),
                ).fetchone()
            )

        first = row()
        assert first and float(first["discovery"]) == 2.0 and float(first["average"]) == 3.0
        assert found("budget") and found("acme") and not found("pricing")
        conn.execute(  # a forced re-analysis supersedes discovery with a better score
            "UPDATE coaching_sessions SET superseded_at = now() WHERE call_id = 'c1' AND dimension = 'discovery'"
        )
        conn.execute(SESSION, ("c1", "discovery", 5.0, _result("discussed pricing")))
        again = row()
        assert again and float(again["discovery"]) == 5.0 and float(again["average"]) == 4.5
        assert found("pricing") and not found("budget")
        conn.execute("UPDATE calls SET title = 'Globex renewal' WHERE id = 'c1'")
        assert found("globex") and not found("acme")
        conn.execute("DELETE FROM coaching_sessions WHERE call_id = 'c1'")
        assert row() is None


def test_mcp_and_reports_read_the_same_numbers(db_url: str) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        seed(conn, reps=2, managers=1, weeks=6, calls_per_week=3, now=today)
        tz = "Europe/Berlin"
        week = previous_week(datetime.now(UTC), tz)
        rep = conn.execute("SELECT id, name, manager_id FROM users WHERE id = 'u-r000'").fetchone()
        assert rep
        report = reports.rep_report(conn, rep, week, tz)
        start, end = week_bounds(week, tz)
        ref = RepRef(rep_id="u-r000", rep_name="Rep 000")
        overview = performance.team_overview(conn, {ref.rep_id: ref.rep_name}, week, tz)
        perf = performance.rep_performance(conn, ref, start - timedelta(weeks=4), end, tz)
        direct = conn.execute(
            "SELECT avg(s.overall_score)::float AS avg, count(DISTINCT c.id) AS calls"
            " FROM coaching_sessions s JOIN calls c ON c.id = s.call_id WHERE c.primary_user_id"
            " = 'u-r000' AND s.dimension = 'discovery' AND c.started_at >= %s AND c.started_at < %s",
            (start, end),
        ).fetchone()
    assert direct and direct["calls"] == report.calls == overview.reps[0].calls
    assert (
        report.scores["discovery"]
        == overview.reps[0].scores["discovery"]
        == round(direct["avg"], 2)
    )
    assert report.previous == overview.reps[0].previous_4_weeks
    last = next(w for w in perf.weeks if w.week == week)
    assert last.scores["discovery"] == report.scores["discovery"]


def test_team_overview_shows_the_latest_week_with_calls(db_url: str) -> None:
    """Without a week: this week once it has a call, else the last week that had one (this
    week is asked first; the fallback finds a team that has been quiet for weeks)."""
    s = load_settings(database_url=db_url)
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, name, role) VALUES ('m1', 'Mia', 'manager')")
        conn.execute(
            "INSERT INTO users (id, name, role, manager_id) VALUES ('r1', 'Rae', 'rep', 'm1')"
        )

        def call(call_id: str, at: datetime, score: float) -> None:
            conn.execute(
                "INSERT INTO calls (id, title, primary_user_id, started_at)"
                " VALUES (%s, 'Demo', 'r1', %s)",
                (call_id, at),
            )
            conn.execute(SESSION, (call_id, "discovery", score, _result("")))

        call("c-old", now - timedelta(weeks=3), 2.0)
        insights = Insights(s, ObjectStore.from_settings(s))
        try:
            quiet = insights.team_overview("m1", None)
            call("c-now", now, 4.0)
            busy = insights.team_overview("m1", None)
        finally:
            insights.close()
    assert (quiet.week, quiet.calls) == (current_week(now - timedelta(weeks=3), "UTC"), 1)
    assert (busy.week, busy.calls) == (current_week(now, "UTC"), 1)
    assert busy.reps[0].previous_4_weeks == {"discovery": 2.0} and busy.reps[0].change == 2.0
