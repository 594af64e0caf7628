"""The weekly review: per-rep and per-team HTML reports for last week, on object storage.

Scheduled Mondays 07:00 in `REPORT_TIMEZONE`. Each report goes to a stable key (re-running a
week replaces it), is linked by presigned URL from an index page, and gets a row in
`weekly_reports`. The links go to Slack and/or email when configured.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg
from prefect import flow
from psycopg.types.json import Jsonb

from common import report_render as render
from common import reports
from common.config import Settings, settings
from common.db import Row, transaction
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


def build_week(s: Settings, week: date) -> dict[str, Any]:
    store = ObjectStore.from_settings(s)
    store.ensure_bucket()
    tz = s.report_timezone
    with transaction(s.database_url) as conn:
        rep_rows = reports.reps_with_calls(conn, week, tz)
        rep_reports = [reports.rep_report(conn, r, week, tz) for r in rep_rows]
        rep_links = {
            r.rep_id: _publish(
                conn,
                store,
                week,
                "rep",
                r.rep_id,
                render.render_rep(r),
                r.model_dump(mode="json", include={"calls", "scores", "previous", "change"}),
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
                conn, m, [r for r in rep_reports if r.manager_id == m["id"]], week, tz
            )
            summary = {
                "reps": {r.rep_id: {"calls": r.calls, "scores": r.scores} for r in team.reps}
            }
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
    delivered = render.deliver(s, week, index_url, team_links)
    return {
        "week": week.isoformat(),
        "reps": len(rep_links),
        "teams": len(team_links),
        "index_url": index_url,
        "delivered": delivered,
    }


@flow(name="weekly-review")
def weekly_review(week_start: date | None = None) -> dict[str, Any]:
    s = settings()
    week = week_start or reports.previous_week(datetime.now(UTC), s.report_timezone)
    return build_week(s, week)
