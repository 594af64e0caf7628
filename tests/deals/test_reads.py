"""Deals where people look: get_call_coaching names the call's deal and its stage, and
list_deal_calls lists a deal's calls with scores, stage at each call and outcome, inside the
caller's scope only (through fastmcp's real Client on real Postgres)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastmcp.exceptions import ToolError
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from local.seed import Team
from tests.mcp_helpers import call

SHARED = "006SHAREDAAA"  # a deal worked by both teams: m0's u-r000 and m1's u-r001
M0_ONLY = "006M0ONLYAAA"  # a deal only m0's team has calls on


@pytest.fixture
def deals(settings: Settings, team: Team) -> Settings:
    stages = StageMap.from_settings(settings)
    rows = [
        ("c-u-r000-00-0", SHARED, "Prospecting", "Closed Won", 100),
        ("c-u-r000-01-0", SHARED, "Negotiation/Review", "Closed Won", 100),
        ("c-u-r001-00-0", SHARED, "Qualification", "Closed Won", 100),
        ("c-u-r002-00-0", M0_ONLY, "Qualification", "Closed Lost", 0),
    ]
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        for call_id, opp, then, now, probability in rows:
            name = "Shared Corp - Beacon" if opp == SHARED else "Secret Corp - Beacon"
            record_call(
                conn,
                call_id,
                CallDeal(
                    "Salesforce",
                    opp,
                    now=Snapshot(name=name, stage=now, probability=probability),
                    at_call=Snapshot(name=name, stage=then),
                ),
                stages,
            )
    return settings


async def test_a_calls_coaching_names_its_deal_and_the_stage_at_the_call(
    deals: Settings, as_user: Any
) -> None:
    rep = await as_user("u-r000")
    coaching = await call(rep, "get_call_coaching", call_id="c-u-r000-01-0")
    assert coaching["deal"]["name"] == "Shared Corp - Beacon"
    assert coaching["deal"]["stage_at_call"] == "Negotiation/Review"
    assert (coaching["deal"]["stage"], coaching["deal"]["outcome"]) == ("Closed Won", "won")
    without = await call(rep, "get_call_coaching", call_id="c-u-r000-02-0")
    assert without["deal"] is None  # a call without a deal is fine


async def test_a_deals_calls_come_with_scores_stage_at_each_call_and_outcome(
    deals: Settings, as_user: Any
) -> None:
    manager = await as_user("u-m0")
    listed = await call(manager, "list_deal_calls", deal=SHARED)
    assert listed["deal"]["outcome"] == "won"
    assert [(c["call_id"], c["stage_at_call"]) for c in listed["calls"]] == [
        ("c-u-r000-00-0", "Prospecting"),
        ("c-u-r000-01-0", "Negotiation/Review"),
    ]  # m1's rep's call on the same deal is not m0's to see
    assert all(
        set(c["scores"]) == {"product_knowledge", "discovery", "objections", "engagement"}
        for c in listed["calls"]
    )
    by_name = await call(manager, "list_deal_calls", deal="shared corp - BEACON")
    assert by_name == listed
    admin = await as_user("u-admin")
    everyone = await call(admin, "list_deal_calls", deal=SHARED)
    assert len(everyone["calls"]) == 3


@pytest.mark.parametrize("caller", ["u-r001", "u-m1", "u-r000"])
async def test_another_teams_deal_is_refused_like_one_that_does_not_exist(
    deals: Settings, as_user: Any, caller: str
) -> None:
    client = await as_user(caller)
    hidden = M0_ONLY  # only u-r002 (m0's team) has a call on it; u-r000 is a rep of m0's
    with pytest.raises(ToolError) as refused:
        await call(client, "list_deal_calls", deal=hidden)
    with pytest.raises(ToolError) as nowhere:
        await call(client, "list_deal_calls", deal="006NOWHEREAA")
    assert str(refused.value).replace(hidden, "?") == str(nowhere.value).replace(
        "006NOWHEREAA", "?"
    )
    for name in ("Secret Corp", "c-u-r002"):
        assert name not in str(refused.value)
    if caller == "u-r001":  # the shared deal: only the rep's own call
        own = await call(client, "list_deal_calls", deal=SHARED)
        assert [c["call_id"] for c in own["calls"]] == ["c-u-r001-00-0"]
