"""Team and rep numbers from the read model: who improved and who needs help, at team size."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from common.insights import performance
from common.insights.week import current_week, week_bounds

DIMS = ("product_knowledge", "discovery", "objections", "engagement")


def _call(
    conn: psycopg.Connection[dict[str, object]], rep: str, at: datetime, score: float
) -> None:
    call_id = f"c-{rep}-{at:%Y%m%d}"
    conn.execute(
        "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES (%s, 'Demo', %s, %s)",
        (call_id, rep, at),
    )
    result = json.dumps({"coaching_note": "", "strengths": [], "improvements": [], "criteria": []})
    for d in DIMS:
        conn.execute(
            "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
            " cache_key, transcript_hash, rubric_version, status, overall_score, result)"
            " VALUES (now(), %s, %s, %s, 'm', 'k', 'h', 'v', 'completed', %s, %s)",
            (call_id, rep, d, score, result),
        )


def test_a_large_team_names_the_extremes_first_and_counts_them_all(db_url: str) -> None:
    """30 reps up by 0.5 to 2.9 points, 25 down to averages under 2.5: the answer names the
    most improved and the lowest averages first, LISTED of each, and counts them all."""
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, _ = week_bounds(week, tz)
    reps: dict[str, str] = {}
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        for i in range(55):
            rep = f"r{i:02d}"
            reps[rep] = f"Rep {i:02d}"
            before, now = (2.0, 2.5 + i * 0.1) if i < 30 else (3.0, 2.4 - (i - 30) * 0.05)
            _call(conn, rep, start - timedelta(weeks=2), before)
            _call(conn, rep, start + timedelta(days=1), round(now, 2))
        overview = performance.team_overview(conn, reps, week, tz, limit=10)
    assert overview.reps_total == 55 and [r.rep_id for r in overview.reps] == [
        f"r{i:02d}" for i in range(10)
    ]
    assert overview.improved_total == 30 and len(overview.improved) == performance.LISTED
    assert [r.rep_id for r in overview.improved][:3] == ["r29", "r28", "r27"]
    assert overview.needs_help_total == 25 and len(overview.needs_help) == performance.LISTED
    assert [r.rep_id for r in overview.needs_help][:2] == ["r54", "r53"]  # lowest first
