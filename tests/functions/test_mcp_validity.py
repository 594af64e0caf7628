"""criteria_for_won_deals through fastmcp's real Client on real Postgres: the closed deals
owned by reps in the caller's scope (a manager's team, admins all), refused to reps, and no
numbers below VALIDITY_MIN_DEALS, only how many more closed deals are needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastmcp.exceptions import ToolError
from psycopg.rows import dict_row

from common.config import Settings
from common.validity import from_db, refresh_reports
from local.seed import Team
from tests.insights.won_deals import close_deal, close_every_call
from tests.mcp_helpers import call

M0_REPS = ["u-r000", "u-r002"]  # u-r004, m0's third rep, is soft-deleted by `team`
M1_REPS = ["u-r001", "u-r003", "u-r005"]


@pytest.fixture
def deals(settings: Settings, team: Team) -> Settings:
    """Each rep's calls of the first five weeks their own closed deal (10 a rep, a fair coin),
    and two deals both teams worked: one two-thirds m0's rep's, one two-thirds m1's."""
    with psycopg.connect(settings.database_url, row_factory=dict_row, autocommit=True) as conn:
        close_every_call(conn, [*M0_REPS, "u-r004", *M1_REPS], seed=11, leave="c-%-05-%")
        close_deal(conn, "006SHAREDM0", ["c-u-r000-05-0", "c-u-r000-05-1", "c-u-r001-05-0"], True)
        close_deal(conn, "006SHAREDM1", ["c-u-r002-05-0", "c-u-r003-05-0", "c-u-r003-05-1"], False)
    _refresh(settings, settings.validity_min_deals)
    return settings


def _refresh(settings: Settings, min_deals: int) -> None:
    """What the daily deal refresh does after reading the deals: keep the reports."""
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        refresh_reports(conn, min_deals, datetime.now(UTC))


async def test_before_the_daily_refresh_the_answer_says_it_is_not_computed_yet(
    settings: Settings, team: Team, as_user: Any
) -> None:
    answer = await call(await as_user("u-m0"), "criteria_for_won_deals")
    assert (answer["enough_deals"], answer["computed_at"], answer["criteria"]) == (False, None, [])
    assert "Not computed yet" in answer["caveat"]


async def test_a_manager_counts_the_deals_their_reps_own_and_reps_are_refused(
    deals: Settings, as_user: Any
) -> None:
    m0 = await call(await as_user("u-m0"), "criteria_for_won_deals")
    m1 = await call(await as_user("u-m1"), "criteria_for_won_deals")
    admin = await call(await as_user("u-admin"), "criteria_for_won_deals")
    # 10 deals a rep of the first five weeks; each shared deal is its owner's team's only
    assert (m0["scope"], m0["deals"]) == ("team", 2 * 10 + 1)
    assert (m1["scope"], m1["deals"]) == ("team", 3 * 10 + 1)
    assert (admin["scope"], admin["deals"]) == ("company", 6 * 10 + 2)  # u-r004's too
    with pytest.raises(ToolError, match="manager or admin"):
        await call(await as_user("u-r000"), "criteria_for_won_deals")


async def test_too_few_closed_deals_say_how_many_more_are_needed(
    deals: Settings, as_user: Any
) -> None:
    answer = await call(await as_user("u-m0"), "criteria_for_won_deals")
    assert deals.validity_min_deals == 100
    assert (answer["enough_deals"], answer["criteria"]) == (False, [])
    assert (answer["min_deals"], answer["more_needed"]) == (100, 100 - 21)
    assert "21 of 100, 79 more needed" in answer["caveat"]


async def test_with_enough_deals_the_numbers_are_the_teams(deals: Settings, as_user: Any) -> None:
    """VALIDITY_MIN_DEALS 15: m0's 21 deals give numbers, those of the analysis over exactly
    the deals m0's reps own, each with its unit and reading, and the caveat."""
    _refresh(deals, 15)
    manager = await as_user("u-m0")
    answer = await call(manager, "criteria_for_won_deals")
    with psycopg.connect(deals.database_url, row_factory=dict_row) as conn:
        expected = from_db(conn, set(M0_REPS), 15)
    assert answer["enough_deals"] and answer["more_needed"] == 0 and answer["deals"] == 21
    got = {(c["dimension"], c["criterion"]): c for c in answer["criteria"]}
    assert len(got) == len(expected.criteria) > 20
    numbered = [c for c in expected.criteria if c.odds_ratio is not None]
    assert numbered, "with 21 deals and a minimum of 15, criteria get numbers"
    for c in numbered:
        mine = got[(c.dimension, c.criterion)]
        assert (mine["odds_ratio"], mine["ci_low"], mine["q_value"]) == pytest.approx(
            (c.odds_ratio, c.ci_low, c.q_value)
        )
        if mine["ci_low"] <= 1 <= mine["ci_high"]:
            assert mine["reading"].startswith("no clear association") and not mine["clear"]
    talk = got[("conversation", "talk_ratio")]
    assert talk["unit"] == "per 10 points of the rep's share of talk"
    assert "not proof of cause" in answer["caveat"]
    only = await call(manager, "criteria_for_won_deals", dimension="conversation")
    assert {c["criterion"] for c in only["criteria"]} == {
        "talk_ratio",
        "questions",
        "longest_monologue",
    }
