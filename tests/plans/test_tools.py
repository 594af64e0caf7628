"""The plan tools through fastmcp's real Client on real Postgres: a manager lists their team's
drafts, edits one (kept in its history) and approves it; it is sent; the rep acknowledges it
(the first time kept). Another team's plan, another rep's, or an unsent one is refused as one
that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from common.config import Settings
from common.plans import deliver_plans
from functions.mcp_tools import create_server
from tests.mcp_helpers import call
from tests.plans.world import ANA_EMAIL, add_week, drafted, plan_row
from tests.repnotes.conftest import Receivers
from tests.repnotes.world import NOW

WEEK = "2026-02-25"  # a Wednesday of last week: its week is listed


@pytest.fixture
async def as_user(s: Settings) -> AsyncIterator[Callable[[str], Any]]:
    async with AsyncExitStack() as stack:

        async def open_as(user: str) -> Client[Any]:
            client: Client[Any] = Client(create_server(s, stdio_user=user))
            return await stack.enter_async_context(client)

        yield open_as


async def refusal(client: Client[Any], tool: str, **args: Any) -> str:
    with pytest.raises(ToolError) as refused:
        await call(client, tool, **args)
    return str(refused.value)


async def test_a_manager_edits_and_approves_and_the_rep_acknowledges(
    s: Settings, receivers: Receivers, as_user: Callable[[str], Any]
) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    manager = await as_user("manager@example.com")
    listed = await call(manager, "list_plans", week=WEEK)
    assert listed["week_start"] == "2026-02-23"
    assert [(p["rep_name"], p["status"]) for p in listed["plans"]] == [
        ("Ana Rep", "draft"),
        ("Ben Rep", "draft"),
    ]
    ana_plan = listed["plans"][0]
    assert ana_plan["exercise"]["customer_said"] == "We still are not sure about SSO."
    edited = await call(
        manager,
        "edit_plan",
        plan_id=plan_id,
        working=[{"text": "Your discovery of pain is excellent."}],
        exercise={"strong_answer": "Name the open concern and agree how it gets settled."},
    )
    assert [h["field"] for h in edited["history"]] == ["working", "exercise"]
    assert edited["working"][0]["criterion"] == "discovery.pain_and_impact"
    with pytest.raises(ToolError):  # a third tighten item: refused by the tool's schema
        await call(manager, "edit_plan", plan_id=plan_id, tighten=[{"text": "x"}] * 3)
    assert deliver_plans(s, s.database_url).claimed == 0  # not approved: not sent
    approved = await call(manager, "approve_plan", plan_id=plan_id)
    assert (approved["status"], approved["approved_by"]) == ("approved", "u-m")
    assert deliver_plans(s, s.database_url).sent == 1
    (message,) = receivers.slack.messages_to(ANA_EMAIL)
    assert "Name the open concern and agree how it gets settled." in message["text"]
    with pytest.raises(ToolError, match="was sent already"):
        await call(manager, "edit_plan", plan_id=plan_id, working=[{"text": "Late."}])
    ana = await as_user(ANA_EMAIL)
    first = await call(ana, "acknowledge_plan", plan_id=plan_id)
    assert first["first"] and first["week_start"] == "2026-02-23"
    again = await call(ana, "acknowledge_plan", plan_id=plan_id)
    assert not again["first"] and again["acknowledged_at"] == first["acknowledged_at"]
    p = plan_row(s, plan_id)
    assert p["status"] == "acknowledged" and p["acknowledged_at"] is not None


async def test_plans_outside_the_callers_reach_are_refused_alike(
    s: Settings, receivers: Receivers, as_user: Callable[[str], Any]
) -> None:
    add_week(s)
    plans = drafted(s, NOW)
    other = await as_user("other@example.com")  # Cat's manager, not Ana's
    assert [p["rep_id"] for p in (await call(other, "list_plans", week=WEEK))["plans"]] == ["u-c"]
    for tool, args in (
        ("approve_plan", {}),
        ("edit_plan", {"working": [{"text": "x"}]}),
    ):
        seen = await refusal(other, tool, plan_id=plans["u-a"], **args)
        nowhere = await refusal(other, tool, plan_id=999_999, **args)
        assert seen.replace(str(plans["u-a"]), "?") == nowhere.replace("999999", "?"), tool
        assert "Ana" not in seen and "u-a" not in seen
    ben = await as_user("ben@example.com")
    assert "manager or admin" in await refusal(ben, "list_plans")
    assert "manager or admin" in await refusal(ben, "approve_plan", plan_id=plans["u-b"])
    manager = await as_user("manager@example.com")
    await call(manager, "approve_plan", plan_id=plans["u-a"])
    unsent = await refusal(await as_user(ANA_EMAIL), "acknowledge_plan", plan_id=plans["u-a"])
    assert unsent == f"no plan {plans['u-a']} was sent to you"
    deliver_plans(s, s.database_url)
    refusals = [
        (await refusal(ben, "acknowledge_plan", plan_id=wanted)).replace(str(wanted), "?")
        for wanted in (plans["u-a"], 999_999)
    ]
    assert refusals[0] == refusals[1]
    assert plan_row(s, plans["u-a"])["acknowledged_at"] is None
