"""Validity reports kept by the daily refresh (real Postgres, seeded teams): each manager's is
the analysis over exactly the deals their reps own, a new refresh replaces the old one, and a
manager who left has none kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.validity import COMPANY, from_db, kept_report, refresh_reports, team_key
from local.seed import Team
from tests.insights.won_deals import close_every_call


@pytest.fixture
def conn(settings: Settings, team: Team) -> Any:
    with psycopg.connect(settings.database_url, row_factory=dict_row, autocommit=True) as c:
        close_every_call(c, ["u-r000", "u-r001", "u-r002", "u-r003"], seed=5, leave="c-%-05-%")
        yield c


def test_each_team_s_report_is_the_analysis_of_its_own_deals(conn: Any) -> None:
    at = datetime(2026, 12, 1, 6, tzinfo=UTC)
    assert refresh_reports(conn, 8, at) == 3  # the company and two managers
    for key, reps in [(team_key("u-m0"), {"u-r000", "u-r002"}), (COMPANY, None)]:
        kept = kept_report(conn, key)
        assert kept is not None and kept.computed_at == at and kept.min_deals == 8
        assert kept.report == from_db(conn, reps, 8)
    m1 = kept_report(conn, team_key("u-m1"))
    assert m1 is not None and m1.reps == 2 and m1.report.deals == 20
    assert kept_report(conn, team_key("u-r000")) is None  # reps have no team report


def test_a_new_refresh_replaces_and_a_manager_who_left_keeps_none(conn: Any) -> None:
    first = datetime(2026, 12, 1, 6, tzinfo=UTC)
    refresh_reports(conn, 8, first)
    conn.execute("UPDATE users SET deleted_at = now() WHERE id = 'u-m1'")
    refresh_reports(conn, 100, first + timedelta(days=1))
    company = kept_report(conn, COMPANY)
    assert company is not None and company.min_deals == 100 and not company.report.enough_deals
    assert kept_report(conn, team_key("u-m1")) is None
