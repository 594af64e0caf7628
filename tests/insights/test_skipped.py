"""A manager sees the calls the applicability rules skipped in their team, and why; nobody
sees another team's (seeded teams: m0 has u-r000 and u-r002, m1 has u-r001)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from common.config import Settings
from common.errors import AccessDenied, InvalidRequest
from common.insights.service import Insights
from common.storage import ObjectStore
from local.seed import Team

DAY = timedelta(days=1)
START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
SKIPPED = [  # call id, rep, title, reason, outside parties, days after START
    ("sk-1", "u-r000", "Weekly 1on1 Dana/Maya", "internal one-to-one (title)", 0, 0),
    ("sk-2", "u-r002", "Candidate interview - Senior AE", "candidate interview (title)", 1, 1),
    ("sk-3", "u-r000", "Jour fixe Projekt Acme", "internal one-to-one (title)", 2, 2),
    ("sk-4", "u-r000", "Acme", "shorter than 4 minutes", 1, 3),
    ("sk-5", "u-r002", "Weekly Stand-up", "internal team meeting (title)", 0, 4),
    ("sk-m1", "u-r001", "Team Nord 1:1", "internal one-to-one (title)", 0, 5),
]


def _parties(outside: int) -> str:
    ours = [{"speakerId": "s0", "name": "Rep", "affiliation": "Internal"}]
    theirs = [
        {"speakerId": f"x{i}", "name": "Guest", "affiliation": "External"} for i in range(outside)
    ]
    return json.dumps(ours + theirs)


@pytest.fixture
def insights(settings: Settings, team: Team) -> Iterator[Insights]:
    with psycopg.connect(settings.database_url) as conn:
        for call_id, rep, title, reason, outside, days in SKIPPED:
            conn.execute(
                "INSERT INTO calls (id, title, url, started_at, primary_user_id, parties,"
                " call_type, skipped_reason) VALUES (%s, %s, %s, %s, %s, %s, 'sales', %s)",
                (
                    call_id,
                    title,
                    f"https://app.gong.io/call?id={call_id}",
                    START + days * DAY,
                    rep,
                    _parties(outside),
                    reason,
                ),
            )
    service = Insights(settings, ObjectStore.from_settings(settings))
    yield service
    service.close()


def test_a_manager_sees_their_teams_skipped_calls_and_why(insights: Insights) -> None:
    page = insights.skipped_calls("u-m0")
    assert [i.call_id for i in page.items] == ["sk-5", "sk-4", "sk-3", "sk-2", "sk-1"]
    assert page.total == 5 and page.next_cursor is None  # the seeded scored calls are not here
    jour_fixe = next(i for i in page.items if i.call_id == "sk-3")
    assert (jour_fixe.reason, jour_fixe.rep_name, jour_fixe.call_type) == (
        "internal one-to-one (title)",
        "Rep 000",
        "sales",
    )
    # a title-skipped call with outsiders on it is the one to look at
    assert (jour_fixe.external_participants, jour_fixe.look_at_it) == (2, True)
    assert jour_fixe.gong_url == "https://app.gong.io/call?id=sk-3"
    assert not next(i for i in page.items if i.call_id == "sk-1").look_at_it
    assert page.reasons == {
        "internal one-to-one (title)": 2,
        "candidate interview (title)": 1,
        "internal team meeting (title)": 1,
        "shorter than 4 minutes": 1,
    }


def test_pages_walk_every_skipped_call_once(insights: Insights) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = insights.skipped_calls("u-m0", cursor=cursor, page_size=2)
        assert len(page.items) <= 2 and page.total == 5
        seen += [i.call_id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["sk-5", "sk-4", "sk-3", "sk-2", "sk-1"]
    everyone = insights.skipped_calls("u-admin", page_size=100)
    assert {i.call_id for i in everyone.items} == {c[0] for c in SKIPPED}


def test_nobody_sees_another_teams_skipped_calls(insights: Insights) -> None:
    other = insights.skipped_calls("u-m1")
    assert [i.call_id for i in other.items] == ["sk-m1"] and other.total == 1
    assert [i.call_id for i in insights.skipped_calls("u-r002").items] == ["sk-5", "sk-2"]
    with pytest.raises(AccessDenied) as elsewhere:
        insights.skipped_calls("u-m1", rep="u-r000")
    with pytest.raises(AccessDenied) as nowhere:
        insights.skipped_calls("u-m1", rep="u-nobody")
    assert str(elsewhere.value).replace("u-r000", "?") == str(nowhere.value).replace(
        "u-nobody", "?"
    )


def test_filters_by_rep_and_day(insights: Insights) -> None:
    mine = insights.skipped_calls("u-m0", rep="Rep 002")
    assert [i.call_id for i in mine.items] == ["sk-5", "sk-2"]
    days = insights.skipped_calls(
        "u-m0", from_date=(START + DAY).date(), to_date=(START + 3 * DAY).date()
    )
    assert [i.call_id for i in days.items] == ["sk-4", "sk-3", "sk-2"]
    assert days.reasons == {
        "candidate interview (title)": 1,
        "internal one-to-one (title)": 1,
        "shorter than 4 minutes": 1,
    }
    with pytest.raises(InvalidRequest, match="after"):
        insights.skipped_calls("u-m0", from_date=START.date(), to_date=(START - DAY).date())
    with pytest.raises(InvalidRequest, match="cursor"):
        insights.skipped_calls("u-m0", cursor="bm9wZQ==")
