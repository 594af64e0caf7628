"""Closed scope: every tool, resource and prompt, called as a rep and as a manager of another
team with every kind of identifier, returns nothing of the other team, and refuses alike
whether the thing exists elsewhere or nowhere (issue 11's leak was analyze_call on a call id
not stored yet: it started the analysis of another team's call)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from psycopg.types.json import Jsonb

from common.config import Settings
from common.insights.week import previous_week
from flows.weekly_review import build_week
from functions.mcp_tools import create_server
from local.seed import Team
from tests.mcp_helpers import add_unstored_calls_rep

# m0's team as the other callers must never see it: ids, emails, names, call ids.
OTHER_REPS = [
    "u-r000",
    "rep0@example.com",
    "Rep 000",
    "u-r002",
    "2003",
    "dana@example.com",
    "Dana Lee",
]
OTHER_CALLS = ["c-u-r000-00-0", "c-u-r002-03-1", "7001001"]  # 7001001: in Gong, not stored yet
NOWHERE_REP, NOWHERE_CALL = "u-nobody", "9999999"
OTHER_DEALS, NOWHERE_DEAL = ["006M0DEALAAA", "M0 Corp - Beacon"], "006NOWHEREAA"  # m0's deal
FORBIDDEN = [
    "u-r000",
    "Rep 000",
    "rep0@",
    "u-r002",
    "Rep 002",
    "c-u-r000",
    "c-u-r002",
    "Dana Lee",
    "7001001",
]


def _rep_calls(rep: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("search_calls", {"rep": rep}),
        ("skipped_calls", {"rep": rep}),
        ("get_rep_performance", {"rep": rep}),
        ("compare_reps", {"reps": [rep]}),
        ("compare_reps", {"reps": ["u-r001", rep]}),
        ("get_weekly_report", {"rep": rep}),
        ("hold_notes", {"rep": rep, "hold": True}),
        ("set_job_role", {"user": rep, "role": "se"}),  # admins only
    ]


def _call_calls(call_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("get_call_coaching", {"call_id": call_id}),
        ("get_call_coaching", {"call_id": call_id, "detail": "full"}),
        ("analyze_call", {"call_id": call_id}),
        ("analyze_call", {"call_id": call_id, "dimensions": ["discovery"]}),
        (
            "record_manager_score",
            {"call_id": call_id, "dimension": "discovery", "score": 3, "reason": "x"},
        ),
        ("dispute_score", {"call_id": call_id, "dimension": "discovery", "reason": "x"}),
        (
            "review_score",
            {"call_id": call_id, "dimension": "discovery", "confirm": True, "note": "x"},
        ),
    ]


UNSCOPED = [  # tools that take no identifier: their answers must hold nothing of m0's team
    ("search_calls", {"page_size": 100}),
    ("search_calls", {"text": "negotiation", "page_size": 100}),
    ("search_calls", {"dimension": "discovery", "max_score": 5, "page_size": 100}),
    ("team_overview", {}),
    ("get_weekly_report", {}),
    ("cost_report", {"period": "month"}),
    ("agreement_report", {}),
    ("access_log", {}),  # admins only
    ("health", {}),  # admins only
    ("list_disputes", {"status": None}),
    ("review_queue", {"limit": 200}),
    ("skipped_calls", {}),
    ("criteria_for_won_deals", {}),
    ("set_note_preferences", {}),
    ("list_plans", {}),
]
PLAN_TOOLS: list[
    tuple[str, dict[str, Any]]
] = [  # by the plan's id: m0's rep's plan must read as one that does not exist
    ("edit_plan", {"working": [{"text": "x"}]}),
    ("approve_plan", {}),
    ("acknowledge_plan", {}),
]


@pytest.fixture
def world(settings: Settings, team: Team) -> Settings:
    add_unstored_calls_rep(settings.database_url)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(  # spend and a manager's score on m0's calls
            "INSERT INTO claude_usage (model, call_id, input_tokens, output_tokens, usd) VALUES"
            " ('claude-sonnet-5-5', 'c-u-r000-00-0', 10, 10, 1.5)"
        )
        conn.execute(
            "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, score, source,"
            " source_ref, scored_at) VALUES ('c-u-r000-00-0', 'u-r000', 'u-m0', 'discovery', 2,"
            " 'mcp', 'x1', now())"
        )
        conn.execute(  # a deal only m0's team has a call on: its id or name must not open it
            "WITH d AS (INSERT INTO deals (crm_system, opportunity_id, name, stage) VALUES"
            " ('Salesforce', '006M0DEALAAA', 'M0 Corp - Beacon', 'Qualification') RETURNING id)"
            " INSERT INTO call_deals (call_id, deal_id, stage_at_call)"
            " SELECT 'c-u-r000-00-0', id, 'Prospecting' FROM d"
        )
        conn.execute(  # an open dispute on m0's rep's call: its id must not open it to others
            "INSERT INTO disputes (id, call_id, rep_id, dimension, reason) OVERRIDING SYSTEM VALUE"
            " VALUES (77, 'c-u-r000-00-0', 'u-r000', 'discovery', 'unfair')"
        )
        conn.execute(  # a note to m0's rep: its id must not acknowledge it for others
            "INSERT INTO rep_notes (id, call_id, rep_id, body, action, focus, status,"
            " next_attempt_at) OVERRIDING SYSTEM VALUE VALUES (77, 'c-u-r000-00-0', 'u-r000',"
            " 'b', 'a', 'discovery.x', 'sent', now())"
        )
        conn.execute(  # last week's plan of m0's rep, sent: its id must not open it to others
            "INSERT INTO weekly_plans (id, rep_id, week_start, status, working, exercise,"
            " approved_by, approved_at, sent_at) OVERRIDING SYSTEM VALUE VALUES (77, 'u-r000',"
            " %s, 'sent', %s, %s, 'u-m0', now(), now())",
            (
                previous_week(datetime.now(UTC), "UTC"),
                Jsonb([{"text": "Rep 000 does well"}]),
                Jsonb({"situation": "x", "strong_answer": "y", "call_id": "c-u-r000-00-0"}),
            ),
        )
        conn.execute(  # scores of m0's team held for review: the queue must not show them
            "UPDATE coaching_sessions SET state = 'needs_review'"
            " WHERE call_id IN ('c-u-r000-01-0', 'c-u-r002-03-1')"
        )
    build_week(settings, previous_week(datetime.now(UTC), "UTC"))
    return settings.model_copy(update={"mcp_analyze_wait_s": 0.5})


def _resolve(dispute_id: int) -> dict[str, Any]:
    return {"dispute_id": dispute_id, "decision": "override", "score": 5, "reason": "x"}


async def _refusal(client: Client[Any], tool: str, args: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as info:
        await client.call_tool(tool, args)
    return str(info.value)


@pytest.mark.parametrize("caller", ["u-r001", "u-m1"])
async def test_nothing_of_another_team_comes_back(world: Settings, caller: str) -> None:
    async with Client(create_server(world, stdio_user=caller)) as client:
        exercised = {t for t, _ in UNSCOPED + _rep_calls("x") + _call_calls("x")}
        exercised.add("resolve_dispute")  # by the dispute's id, below
        exercised.add("list_deal_calls")  # by the deal's id or name, below
        exercised.add("acknowledge_note")  # by the note's id, below
        exercised |= {tool for tool, _ in PLAN_TOOLS}  # by the plan's id, below
        assert exercised == {t.name for t in await client.list_tools()}  # every tool
        for rep in OTHER_REPS:
            for tool, args in _rep_calls(rep):
                refused = await _refusal(client, tool, args)
                nowhere = await _refusal(
                    client, tool, json.loads(json.dumps(args).replace(rep, NOWHERE_REP))
                )
                assert refused.replace(rep, "?") == nowhere.replace(NOWHERE_REP, "?"), (tool, rep)
                _assert_clean(refused.replace(repr(rep), ""), tool)
        for call_id in OTHER_CALLS:
            for tool, args in _call_calls(call_id):
                refused = await _refusal(client, tool, args)
                nowhere = await _refusal(client, tool, {**args, "call_id": NOWHERE_CALL})
                assert refused.replace(call_id, "?") == nowhere.replace(NOWHERE_CALL, "?"), (
                    tool,
                    call_id,
                )
        for deal in OTHER_DEALS:
            refused = await _refusal(client, "list_deal_calls", {"deal": deal})
            nowhere = await _refusal(client, "list_deal_calls", {"deal": NOWHERE_DEAL})
            assert refused.replace(deal, "?") == nowhere.replace(NOWHERE_DEAL, "?"), deal
            _assert_clean(refused.replace(repr(deal), ""), "list_deal_calls")
        refused = await _refusal(client, "resolve_dispute", _resolve(77))
        assert refused == (await _refusal(client, "resolve_dispute", _resolve(99))).replace(
            "99", "77"
        )
        _assert_clean(refused, "resolve_dispute")
        refused = await _refusal(client, "acknowledge_note", {"note_id": 77})
        assert refused == (await _refusal(client, "acknowledge_note", {"note_id": 99})).replace(
            "99", "77"
        )
        _assert_clean(refused, "acknowledge_note")
        for tool, extra in PLAN_TOOLS:
            refused = await _refusal(client, tool, {"plan_id": 77, **extra})
            nowhere = await _refusal(client, tool, {"plan_id": 99, **extra})
            assert refused == nowhere.replace("99", "77"), tool
            _assert_clean(refused, tool)
        for tool, args in UNSCOPED:
            try:
                result = (await client.call_tool(tool, args)).structured_content
            except ToolError as exc:  # a rep asking for a manager's view
                assert "role" in str(exc) and (
                    caller == "u-r001" or tool in ("access_log", "health")
                )
                continue
            _assert_clean(json.dumps(result), tool)
            if tool == "cost_report":
                assert result["spend"]["usd"] == 0  # m0's $1.50 is not m1's team's spend
        for uri in ("rubric://discovery", "rubrics://active"):
            _assert_clean(
                json.dumps([c.model_dump() for c in await client.read_resource(uri)]), uri
            )
        for prompt in await client.list_prompts():
            args = {"rep": "u-r001"} if prompt.arguments else {}
            text = json.dumps((await client.get_prompt(prompt.name, args)).model_dump())
            _assert_clean(text, prompt.name)
    with psycopg.connect(world.database_url) as conn:
        queued = conn.execute("SELECT call_id FROM webhook_events").fetchall()
        scored = conn.execute("SELECT count(*) FROM manager_scores").fetchone()
        contested = conn.execute("SELECT count(*), max(status) FROM disputes").fetchone()
    assert queued == [] and scored == (1,)  # nothing started, nothing recorded
    assert contested == (1, "open")  # nothing disputed or resolved from outside
    with psycopg.connect(world.database_url) as conn:
        plan = conn.execute("SELECT status, acknowledged_at FROM weekly_plans").fetchall()
    assert plan == [("sent", None)]  # nothing edited or acknowledged from outside


def _assert_clean(text: str, where: str) -> None:
    leaked = [f for f in FORBIDDEN if f in text]
    assert not leaked, f"{where} returned {leaked}"


async def test_the_owning_manager_can_ask_for_the_unstored_call(world: Settings) -> None:
    """The refusal above is scope, not a broken tool: m0 gets 7001001 queued."""
    async with Client(create_server(world, stdio_user="u-m0")) as m0:
        status = (await m0.call_tool("analyze_call", {"call_id": "7001001"})).structured_content
    assert status["status"] in ("queued", "running")
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT status, payload -> 'callData' -> 'metaData' ->> 'primaryUserId'"
            " FROM webhook_events WHERE call_id = '7001001'"
        ).fetchone()
    assert row == ("pending", "2003")
