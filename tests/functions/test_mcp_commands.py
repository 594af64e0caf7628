"""The MCP command tools (`functions/mcp_commands.py`) through fastmcp's real Client, in
memory, on real Postgres: analyze_call (cache, queueing once, progress, parked calls) and a
manager's own scores (disputes: test_mcp_scope.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from common.config import Settings
from functions.mcp_tools import create_server
from local.seed import Team
from tests.mcp_helpers import add_unstored_calls_rep, call, dispatch_and_run, wait_for_outbox


async def test_analyze_call_returns_cached_at_once_and_force_is_for_admins(as_user: Any) -> None:
    rep = await as_user("u-r000")
    status = await call(rep, "analyze_call", call_id="c-u-r000-01-1")
    assert status["status"] == "cached" and status["coaching"]["scores"]
    with pytest.raises(ToolError, match="admin"):
        await rep.call_tool("analyze_call", {"call_id": "c-u-r000-01-1", "force": True})


async def test_analyze_call_queues_once_and_reports_progress(
    engine_env: Settings, claude: Any, team: Team
) -> None:
    """A call Gong has and we have not: queued in the outbox (twice asked, once queued), run by
    the dispatcher, with MCP progress notifications as its dimensions finish."""
    add_unstored_calls_rep(engine_env.database_url)
    s = engine_env.model_copy(update={"mcp_analyze_wait_s": 90.0})
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async with Client(create_server(s, stdio_user="u-m0"), progress_handler=on_progress) as m0:
        asking = [asyncio.create_task(call(m0, "analyze_call", call_id="7001001"))]
        await wait_for_outbox(s, "7001001")
        # the second ask finds the call in the outbox (no second Gong look-up) and waits on it
        asking.append(asyncio.create_task(call(m0, "analyze_call", call_id="7001001")))
        await asyncio.sleep(0.5)
        await dispatch_and_run(s)
        results = await asyncio.gather(*asking)
    # the second is "cached" only if a loaded machine let the run finish before it arrived
    assert results[0]["status"] == "completed"
    assert results[1]["status"] in ("completed", "cached")
    assert results[0]["coaching"]["rep_name"] == "Dana Lee"
    assert (0, 4) in progress and (4, 4) in progress
    with psycopg.connect(s.database_url) as conn:
        events = conn.execute(
            "SELECT status, run_attempts FROM webhook_events WHERE call_id = '7001001'"
        ).fetchall()
    assert events == [("completed", 1)]


async def test_analyze_call_reports_a_parked_call(as_user: Any, settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, failures,"
            " last_error) VALUES ('c-parked', 'c-parked', %s, 'dispatched', 4,"
            " 'InvalidAnalysis: no JSON')",
            (
                json.dumps(
                    {"callData": {"metaData": {"id": "c-parked", "primaryUserId": "u-r000"}}}
                ),
            ),
        )
    manager = await as_user("u-m0", settings.model_copy(update={"mcp_analyze_wait_s": 5.0}))
    task = asyncio.create_task(call(manager, "analyze_call", call_id="c-parked"))
    await asyncio.sleep(1)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "UPDATE webhook_events SET status = 'needs_attention' WHERE call_id = 'c-parked'"
        )
    status = await task
    assert status["status"] == "failed" and "no JSON" in status["message"]


async def test_a_manager_records_a_score_shown_beside_the_ais(as_user: Any) -> None:
    manager = await as_user("manager0@example.com")
    recorded = await call(
        manager,
        "record_manager_score",
        call_id="c-u-r000-01-1",
        dimension="discovery",
        score=2,
        reason="Never asked about the decision process.",
    )
    assert recorded["score"] == 2 and recorded["rep_name"] == "Rep 000"
    await call(
        manager,
        "record_manager_score",
        call_id="c-u-r000-01-1",
        dimension="discovery",
        criterion="listening",
        score=None,
        reason="Too short a call to tell.",
    )
    full = await call(manager, "get_call_coaching", call_id="c-u-r000-01-1", detail="full")
    discovery = next(d for d in full["dimensions"] if d["dimension"] == "discovery")
    assert discovery["overall_score"] > 0  # the AI's score stays as it was
    assert [(m["criterion"], m["score"], m["source"]) for m in discovery["manager_scores"]] == [
        ("listening", None, "mcp"),
        ("overall", 2, "mcp"),
    ]
    brief = await call(manager, "get_call_coaching", call_id="c-u-r000-01-1")
    assert brief["manager_scores"] == 2
    report = await call(manager, "agreement_report")
    assert report["ai_vs_manager"]["overall"]["n"] == 1


async def test_recording_scores_is_refused_out_of_scope(as_user: Any) -> None:
    rep = await as_user("u-r000")
    args = {"call_id": "c-u-r000-01-1", "dimension": "discovery", "score": 5, "reason": "me"}
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("record_manager_score", args)
    other = await as_user("manager1@example.com")
    with pytest.raises(ToolError, match="in your scope"):
        await other.call_tool("record_manager_score", args)
    manager = await as_user("manager0@example.com")
    with pytest.raises(ToolError, match="criterion must be"):
        await manager.call_tool("record_manager_score", {**args, "criterion": "charisma"})
    with pytest.raises(ToolError):
        await manager.call_tool("record_manager_score", {**args, "score": 7})
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("agreement_report", {})


async def test_only_an_admin_puts_a_parked_call_back(as_user: Any, settings: Settings) -> None:
    """A parked call failed (and was paid for) five times: a rep asking again must not reset
    its failures; an admin may."""
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, failures,"
            " last_error) VALUES ('c-parked', 'c-parked', %s, 'needs_attention', 5,"
            " 'InvalidAnalysis: no JSON')",
            (
                json.dumps(
                    {"callData": {"metaData": {"id": "c-parked", "primaryUserId": "u-r000"}}}
                ),
            ),
        )

    def event() -> tuple[str, int]:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "SELECT status, failures FROM webhook_events WHERE call_id = 'c-parked'"
            ).fetchone()
        assert row is not None
        return row[0], row[1]

    quick = settings.model_copy(update={"mcp_analyze_wait_s": 0.0})
    rep = await as_user("u-r000", quick)
    status = await call(rep, "analyze_call", call_id="c-parked")
    assert status["status"] == "failed" and "parked" in status["message"]
    assert event() == ("needs_attention", 5)
    admin = await as_user("u-admin", quick)
    await call(admin, "analyze_call", call_id="c-parked")
    assert event() == ("pending", 0)


async def test_stored_and_unknown_calls_are_refused_alike_at_every_point_of_the_cap(
    settings: Settings, as_user: Any
) -> None:
    """Two reps, one asking for another team's stored calls, one for calls nobody has: at
    each step of their daily look-ups (before, at and past the cap) both read the same
    refusal, so neither the text nor the count left tells a stored call from an unknown."""
    s = settings.model_copy(update={"mcp_unknown_call_lookups_per_day": 2})
    stored_asker, unknown_asker = await as_user("u-r000", s), await as_user("u-r002", s)
    for step in range(4):
        texts = []
        for client, call_id in (
            (stored_asker, f"c-u-r001-0{step}-0"),  # manager1's rep's call, stored here
            (unknown_asker, f"99800{step}"),  # neither stored nor in Gong
        ):
            result = await client.call_tool(
                "analyze_call", {"call_id": call_id}, raise_on_error=False
            )
            assert result.is_error
            texts.append(result.content[0].text.replace(call_id, "ID"))  # type: ignore[union-attr]
        assert texts[0] == texts[1], (step, texts)
        assert ("look-ups" in texts[0]) == (step >= 2), (step, texts)


async def test_command_arguments_are_not_coerced(settings: Settings, as_user: Any) -> None:
    """`score: true` is no score of 1, `dispute_id: "1"` no dispute 1, `force: "yes"` no
    force: each is refused as the wrong type and nothing is recorded or resolved."""
    rep, manager = await as_user("u-r000"), await as_user("manager0@example.com")
    args = {"call_id": "c-u-r000-01-1", "dimension": "discovery", "reason": "why"}
    dispute = await call(rep, "dispute_score", **args)
    refused = {
        "score true": ("record_manager_score", {**args, "score": True}),
        "score '2'": ("record_manager_score", {**args, "score": "2"}),
        "dispute id '1'": (
            "resolve_dispute",
            {"dispute_id": str(dispute["id"]), "decision": "uphold", "reason": "fair"},
        ),
        "override score true": (
            "resolve_dispute",
            {"dispute_id": dispute["id"], "decision": "override", "score": True, "reason": "x"},
        ),
        "force 'yes'": ("analyze_call", {"call_id": "c-u-r000-01-1", "force": "yes"}),
    }
    for name, (tool, arguments) in refused.items():
        result = await manager.call_tool(tool, arguments, raise_on_error=False)
        assert result.is_error, name
    with psycopg.connect(settings.database_url) as conn:
        scores = conn.execute("SELECT count(*) FROM manager_scores").fetchone()
        status = conn.execute("SELECT status FROM disputes").fetchone()
    assert scores == (0,) and status == ("open",)


async def test_review_arguments_are_not_coerced(settings: Settings, as_user: Any) -> None:
    """`confirm: "true"` is no confirmation, `score: "2"` or `true` no score, a criterion's
    `"4"` no 4: each is refused as the wrong type and nothing is recorded."""
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET state = 'needs_review'"
            " WHERE call_id = 'c-u-r000-01-1' AND dimension = 'discovery'"
        )
    manager = await as_user("manager0@example.com")
    args = {"call_id": "c-u-r000-01-1", "dimension": "discovery", "note": "why"}
    refused = {
        "confirm 'true'": {**args, "confirm": "true"},
        "confirm 1": {**args, "confirm": 1},
        "score '2'": {**args, "confirm": False, "score": "2"},
        "score true": {**args, "confirm": False, "score": True},
        "criterion '4'": {**args, "confirm": False, "score": 2, "criteria": {"listening": "4"}},
        "no note": {"call_id": "c-u-r000-01-1", "dimension": "discovery", "confirm": True},
    }
    for name, arguments in refused.items():
        result = await manager.call_tool("review_score", arguments, raise_on_error=False)
        assert result.is_error, name
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM manager_scores").fetchone() == (0,)
    queue = await call(manager, "review_queue")
    assert [(i["call_id"], i["kind"]) for i in queue["items"]][:1] == [("c-u-r000-01-1", "review")]
