"""The team's weekly report lists the week's closed deals with the team's calls on each and
their scores (seeded week, real Postgres and the moto S3 server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from common.insights.week import previous_week, week_bounds
from common.reports import numbers
from common.storage import ObjectStore
from flows.weekly_review import build_week
from local.seed import Team

WEEK = previous_week(datetime.now(UTC), "UTC")


def _deal(opp: str, name: str, stage: str, close: date, probability: float) -> CallDeal:
    return CallDeal(
        "Salesforce",
        opp,
        now=Snapshot(name=name, stage=stage, close_date=close, probability=probability),
        at_call=Snapshot(name=name, stage="Negotiation/Review"),
    )


def test_the_weeks_closed_deals_are_in_the_team_report_with_their_calls_scores(
    settings: Settings, team: Team
) -> None:
    start, end = week_bounds(WEEK, "UTC")
    stages = StageMap.from_settings(settings)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        this_week = [
            r["call_id"]
            for r in conn.execute(
                "SELECT call_id FROM call_scores WHERE rep_id = 'u-r000' AND started_at >= %s"
                " AND started_at < %s ORDER BY started_at",
                (start, end),
            )
        ]
        won = _deal("006WONAAA", "Won Corp - Beacon", "Closed Won", WEEK + timedelta(days=2), 100)
        lost_before = _deal("006OLDAAA", "Old Corp", "Closed Lost", WEEK - timedelta(days=3), 0)
        still_open = _deal("006OPENAA", "Open Corp", "Qualification", WEEK + timedelta(days=1), 20)
        record_call(conn, this_week[0], won, stages)
        record_call(conn, this_week[1], lost_before, stages)
        record_call(conn, "c-u-r000-00-1", still_open, stages)
        average = conn.execute(
            "SELECT average FROM call_scores WHERE call_id = %s", (this_week[0],)
        ).fetchone()
        m0 = conn.execute("SELECT id, name FROM users WHERE id = 'u-m0'").fetchone()
        m1 = conn.execute("SELECT id, name FROM users WHERE id = 'u-m1'").fetchone()
        assert average is not None and m0 is not None and m1 is not None
        report = numbers.team_report(conn, m0, [], WEEK, "UTC")
        report_m0 = numbers.team_report(
            conn,
            m0,
            [numbers.RepReport.model_construct(rep_id=r) for r in ("u-r000", "u-r002")],
            WEEK,
            "UTC",
        )
        report_m1 = numbers.team_report(
            conn,
            m1,
            [numbers.RepReport.model_construct(rep_id=r) for r in ("u-r001", "u-r003")],
            WEEK,
            "UTC",
        )
    assert report.closed_deals == []  # no reps, no deals
    assert [(d.deal.name, d.deal.outcome) for d in report_m0.closed_deals] == [
        ("Won Corp - Beacon", "won")
    ]
    [listed] = report_m0.closed_deals[0].calls
    assert (listed.call_id, listed.stage_at_call) == (this_week[0], "Negotiation/Review")
    assert listed.average == float(average["average"])
    assert report_m1.closed_deals == []  # another team's deal

    build_week(settings, WEEK, deliver=False)
    store = ObjectStore.from_settings(settings)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        key = conn.execute(
            "SELECT object_key FROM weekly_reports WHERE week_start = %s AND scope = 'team'"
            " AND subject_id = 'u-m0'",
            (WEEK,),
        ).fetchone()
    assert key is not None
    html = store.get_bytes(key["object_key"]).decode()
    assert "Deals closed this week (1)" in html and "Won Corp - Beacon" in html
    assert f"{float(average['average']):.2f}" in html.split("Deals closed this week")[1]
    assert "Old Corp" not in html and "Open Corp" not in html
