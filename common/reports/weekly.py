"""Publishing a week of reviews: per-rep and per-team HTML on object storage, an index,
rows in `weekly_reports`, and the links to Slack and/or email.

Each report goes to a stable key (re-running a week replaces it). A stored team report is
re-rendered when one of its reps has been soft-deleted since (`rebuild_team`), so nobody reads
a removed rep in it afterwards.

The company's closed deals are read once a week (`numbers.read_validity`, with
`VALIDITY_MIN_DEALS`): the reps' talk-ratio and questions benchmarks and each team report's
leadership section come from them. They are the deals closed by now, whichever week is built.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.config import Settings
from common.db import Db, Row, transaction
from common.insights import noise as noise_mod
from common.insights.noise import Noise
from common.monitoring import score_alerts
from common.reports import numbers as reports
from common.reports import render
from common.storage import ObjectStore


def _publish(
    conn: psycopg.Connection[Row],
    store: ObjectStore,
    week: date,
    scope: str,
    subject: str,
    html: str,
    summary: dict[str, Any],
) -> str:
    key = render.report_key(week, scope, subject)
    store.put_bytes(key, html.encode(), "text/html; charset=utf-8")
    conn.execute(
        """
        INSERT INTO weekly_reports (week_start, scope, subject_id, object_key, summary)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (week_start, scope, subject_id)
        DO UPDATE SET object_key = EXCLUDED.object_key, summary = EXCLUDED.summary, created_at = now()
        """,
        (week, scope, subject, key, Jsonb(summary)),
    )
    return store.presigned_url(key)


def build_week(s: Settings, week: date, deliver: bool = True) -> dict[str, Any]:
    store = ObjectStore.from_settings(s)
    store.ensure_bucket()
    tz = s.report_timezone
    with transaction(s.database_url) as conn:
        noise = week_noise(conn, week, tz)
        validity = reports.read_validity(conn, s.validity_min_deals)
        rep_rows = reports.reps_with_calls(conn, week, tz)
        rep_reports = [
            reports.rep_report(conn, r, week, tz, noise, validity, s.default_job_role)
            for r in rep_rows
        ]
        rep_links = {
            r.rep_id: _publish(
                conn,
                store,
                week,
                "rep",
                r.rep_id,
                render.render_rep(r),
                r.model_dump(
                    mode="json",
                    include={
                        "job_role",
                        "calls",
                        "scores",
                        "previous",
                        "change",
                        "within_noise",
                        "held",
                    },
                ),
            )
            for r in rep_reports
        }
        managers = conn.execute(
            "SELECT id, name FROM users WHERE id = ANY(%s) ORDER BY name",
            ([r.manager_id for r in rep_reports if r.manager_id],),
        ).fetchall()
        team_links = []
        for m in managers:
            team = reports.team_report(
                conn, m, [r for r in rep_reports if r.manager_id == m["id"]], week, tz, validity
            )
            summary = team_summary(team)
            team_links.append(
                (
                    m["name"],
                    _publish(
                        conn,
                        store,
                        week,
                        "team",
                        m["id"],
                        render.render_team(team, rep_links),
                        summary,
                    ),
                )
            )
        names = {r.rep_id: r.rep_name for r in rep_reports}
        index_html = render.render_index(
            week, team_links, [(names[k], v) for k, v in rep_links.items()]
        )
        index_url = _publish(
            conn,
            store,
            week,
            "index",
            "",
            index_html,
            {"reps": len(rep_links), "teams": len(team_links)},
        )
        falling = score_alerts.for_week(conn, s, week, noise)
    delivered = render.deliver(s, week, index_url, team_links) if deliver else []
    score_alerts.deliver(s, falling)
    return {
        "week": week.isoformat(),
        "reps": len(rep_links),
        "teams": len(team_links),
        "index_url": index_url,
        "delivered": delivered,
        "score_alerts": [a.key for a in falling],
    }


def week_noise(conn: psycopg.Connection[Row], week: date, tz: str) -> Noise:
    """Run-to-run noise of the scorer over the eight weeks a week's reports and alerts
    compare (the week and the seven before it)."""
    _, end = reports.week_bounds(week, tz)
    return noise_mod.measure(conn, until=end, window=timedelta(weeks=8))


def team_summary(team: reports.TeamReport) -> dict[str, Any]:
    return {
        "manager": {"id": team.manager_id, "name": team.manager_name},
        "reps": {
            r.rep_id: {
                "name": r.rep_name,
                "job_role": r.job_role,
                "calls": r.calls,
                "scores": r.scores,
            }
            for r in team.reps
        },
        "held": team.held_total,
    }


def rebuild_team(
    s: Settings, db: Db, store: ObjectStore, manager_id: str, week: date
) -> dict[str, Any]:
    """Re-render one stored team report from current data (e.g. after a rep was removed)."""
    tz = s.report_timezone
    with transaction(db) as conn:
        manager = conn.execute("SELECT id, name FROM users WHERE id = %s", (manager_id,)).fetchone()
        if manager is None:
            return {}
        rows = [r for r in reports.reps_with_calls(conn, week, tz) if r["manager_id"] == manager_id]
        noise = week_noise(conn, week, tz)
        validity = reports.read_validity(conn, s.validity_min_deals)
        reps = [
            reports.rep_report(conn, r, week, tz, noise, validity, s.default_job_role) for r in rows
        ]
        team = reports.team_report(conn, manager, reps, week, tz, validity)
        links = {
            r.rep_id: store.presigned_url(render.report_key(week, "rep", r.rep_id))
            for r in team.reps
        }
        summary = team_summary(team)
        _publish(conn, store, week, "team", manager_id, render.render_team(team, links), summary)
    return summary
