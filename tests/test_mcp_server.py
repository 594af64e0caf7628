"""The MCP server through fastmcp's real Client: in memory and over HTTP, on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from psycopg.rows import dict_row

from common import access
from common.config import Settings
from functions.mcp_server import create_server
from local.seed import Team, seed
from local.serve import serve

_today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
NOW = _today - timedelta(days=_today.weekday())  # seeded weeks end this Monday: same data every day


@pytest.fixture
def team(settings: Settings) -> Team:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        t = seed(conn, reps=6, managers=2, weeks=6, calls_per_week=2, now=NOW)
        conn.execute(
            "UPDATE users SET deleted_at = now() WHERE id = 'u-r004'"
        )  # a soft-deleted rep of m0
    return t


@pytest.fixture
async def as_user(settings: Settings, team: Team) -> AsyncIterator[Any]:
    clients: list[Client[Any]] = []

    async def open_as(user: str) -> Client[Any]:
        client: Client[Any] = Client(create_server(settings, stdio_user=user))
        await client.__aenter__()
        clients.append(client)
        return client

    yield open_as
    for c in clients:
        await c.__aexit__(None, None, None)


async def call(client: Client[Any], tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def test_rep_sees_own_call_and_is_refused_another(as_user: Any) -> None:
    rep = await as_user("u-r000")
    own = await call(rep, "get_call_coaching", call_id="c-u-r000-00-0")
    assert own["rep_id"] == "u-r000" and len(own["dimensions"]) == 4
    criterion = own["dimensions"][0]["criteria"][0]
    assert criterion["evidence"][0]["link"].startswith("https://app.gong.io/call?id=c-u-r000-00-0")
    assert own["metrics"]["rep_questions"] > 0
    with pytest.raises(ToolError, match="outside your scope"):
        await rep.call_tool("get_call_coaching", {"call_id": "c-u-r001-00-0"})
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("team_overview", {})


async def test_manager_sees_exactly_their_team(as_user: Any, team: Team) -> None:
    manager = await as_user("manager0@example.com")
    overview = await call(manager, "team_overview")
    names = sorted(r["rep_id"] for r in overview["reps"])
    # m0's reps; r004 is soft-deleted; m1's reps are absent; m0 made no calls
    assert names == ["u-r000", "u-r002"]
    assert all(r["calls"] == 2 for r in overview["reps"])
    page = await call(manager, "search_calls", page_size=100)
    assert {i["rep_id"] for i in page["items"]} == {"u-r000", "u-r002"} and page["total"] == 24
    with pytest.raises(ToolError, match="outside your scope"):
        await manager.call_tool("get_rep_performance", {"rep": "u-r001"})
    with pytest.raises(ToolError, match="outside your scope"):
        await manager.call_tool("get_call_coaching", {"call_id": "c-u-r004-00-0"})


async def test_admin_sees_soft_deleted_reps(as_user: Any) -> None:
    admin = await as_user("u-admin")
    page = await call(admin, "search_calls", rep="u-r004", page_size=5)
    assert page["total"] == 12 and len(page["items"]) == 5 and page["next_page"] == 2


async def test_search_is_paged_and_filtered(as_user: Any, settings: Settings) -> None:
    admin = await as_user("u-admin")
    first = await call(admin, "search_calls", page_size=25)
    assert first["total"] == 72 and len(first["items"]) == 25 and first["next_page"] == 2
    last = await call(admin, "search_calls", page_size=25, page=3)
    assert len(last["items"]) == 22 and last["next_page"] is None
    low = await call(admin, "search_calls", dimension="discovery", max_score=2.5, page_size=100)
    with psycopg.connect(settings.database_url) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM coaching_sessions WHERE dimension = 'discovery'"
            " AND overall_score <= 2.5"
        ).fetchone()[0]  # type: ignore[index]
    assert low["total"] == expected and all(i["scores"]["discovery"] <= 2.5 for i in low["items"])
    huge = await call(admin, "search_calls", page_size=10_000)
    assert huge["page_size"] == 100


async def test_rep_performance_compare_and_costs(as_user: Any) -> None:
    manager = await as_user("u-m1")
    perf = await call(manager, "get_rep_performance", rep="Rep 001", weeks=8)
    assert perf["rep_id"] == "u-r001" and len(perf["weeks"]) >= 5
    assert set(perf["averages"]) == {"product_knowledge", "discovery", "objections", "engagement"}
    assert perf["best_calls"][0]["average"] >= perf["worst_calls"][0]["average"]
    assert perf["recurring_improvements"] and perf["recurring_improvements"][0][1] > 1
    compared = await call(manager, "compare_reps", reps=["u-r001", "u-r003"], dimension="discovery")
    assert set(compared["averages"]) == {"u-r001", "u-r003"}
    costs = await call(manager, "cost_report", period="month")
    assert costs["budget_left_usd"] == costs["monthly_budget_usd"]
    assert costs["pipeline"] is None  # the pipeline's state is for admins
    rep = await as_user("u-r001")
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("cost_report", {})


async def test_rubric_resources_and_prompts(as_user: Any) -> None:
    rep = await as_user("u-r000")
    text = (await rep.read_resource("rubric://discovery"))[0].text  # type: ignore[union-attr]
    assert "Open, layered questions" in text and "Score 5:" in text
    prompts = {p.name for p in await rep.list_prompts()}
    assert prompts == {"coach_me_on_my_last_call", "prepare_my_one_on_one"}


async def test_analyze_call_returns_cached_at_once_and_force_is_for_admins(as_user: Any) -> None:
    rep = await as_user("u-r000")
    status = await call(rep, "analyze_call", call_id="c-u-r000-01-1")
    assert status["status"] == "cached" and len(status["coaching"]["dimensions"]) == 4
    with pytest.raises(ToolError, match="admin"):
        await rep.call_tool("analyze_call", {"call_id": "c-u-r000-01-1", "force": True})


async def test_analyze_call_starts_the_flow_when_not_cached(
    engine_env: Settings, claude: Any, team: Team
) -> None:
    from flows.analyze_call import analyze_call

    started: list[str] = []

    def start(call_id: str, dims: list[str], force: bool) -> str:
        started.append(call_id)
        return str(
            analyze_call(
                call_id, dimensions=dims, force=force, return_state=True
            ).state_details.flow_run_id
        )

    with psycopg.connect(engine_env.database_url) as conn:
        conn.execute("INSERT INTO users (id, name, role) VALUES ('2003', 'Dana Lee', 'rep')")
    async with Client(
        create_server(engine_env, stdio_user="u-admin", start_analysis=start)
    ) as admin:
        status = await call(admin, "analyze_call", call_id="7001001")
    assert started == ["7001001"] and status["status"] == "completed"
    assert len(status["coaching"]["dimensions"]) == 4 and status["flow_run_id"]


@pytest.fixture
def http_server(settings: Settings, team: Team) -> Iterator[str]:
    server = serve(create_server(settings).http_app(path="/mcp"))
    yield f"{server.url}/mcp"
    server.stop()


async def test_http_transport_uses_hashed_bearer_tokens(
    settings: Settings, http_server: str
) -> None:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        rep_token = access.create_token(conn, "u-r002", "laptop")
        manager_token = access.create_token(conn, "manager0@example.com")
        stored = conn.execute("SELECT token_hash FROM api_tokens").fetchall()
    assert all(rep_token not in r["token_hash"] for r in stored)
    async with Client(http_server, auth=rep_token) as rep:
        own = await call(rep, "search_calls", page_size=3)
        assert {i["rep_id"] for i in own["items"]} == {"u-r002"}
        with pytest.raises(ToolError, match="outside your scope"):
            await rep.call_tool("get_call_coaching", {"call_id": "c-u-r000-00-0"})
    async with Client(http_server, auth=manager_token) as manager:
        assert (await call(manager, "team_overview"))["reps"]
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert access.revoke_token(conn, rep_token)
    with pytest.raises(Exception, match="error response"):
        async with Client(http_server, auth=rep_token) as revoked:
            await revoked.call_tool("search_calls", {})
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    for token in (rep_token, None):
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        r = httpx.post(http_server, json=init, headers={**headers, **auth})
        assert r.status_code == 401
    r = httpx.post(
        http_server, json=init, headers={**headers, "Authorization": f"Bearer {manager_token}"}
    )
    assert r.status_code == 200


async def test_claude_desktop_entry_starts_a_working_stdio_server(
    settings: Settings, team: Team
) -> None:
    """The entry `sales-coach claude-desktop-config` prints, run as Claude Desktop would."""
    from fastmcp.client.transports import StdioTransport

    from functions.cli import claude_desktop_config

    entry = claude_desktop_config("manager1@example.com", settings.database_url)["mcpServers"][
        "sales-coach"
    ]
    transport = StdioTransport(
        entry["command"],
        entry["args"],
        env={**entry["env"], "XDG_RUNTIME_DIR": "/tmp"},
        cwd=entry["cwd"],
    )
    async with Client(transport) as desktop:
        page = await call(desktop, "search_calls", page_size=100)
    assert {i["rep_id"] for i in page["items"]} == {"u-r001", "u-r003", "u-r005"}


async def test_analyze_call_reports_a_failed_run(settings: Settings, team: Team) -> None:
    server = create_server(
        settings,
        stdio_user="u-admin",
        start_analysis=lambda c, d, f: "run-42",
        run_problem=lambda run_id: "Failed: Gong has no transcript for call 999 yet",
    )
    async with Client(server) as admin:
        status = await call(admin, "analyze_call", call_id="999")
    assert status["status"] == "failed" and status["flow_run_id"] == "run-42"
    assert "Gong has no transcript" in status["message"]


async def test_weekly_report_summary_and_link(settings: Settings, team: Team, as_user: Any) -> None:
    from common.reports import previous_week
    from flows.weekly_review import build_week

    week = previous_week(datetime.now(UTC), "UTC")
    build_week(settings, week)
    rep = await as_user("u-r000")
    own = await call(rep, "get_weekly_report")
    assert (
        own["scope"] == "rep"
        and own["subject_id"] == "u-r000"
        and own["week_start"] == week.isoformat()
    )
    assert "Rep 000" in httpx.get(own["url"]).text
    with pytest.raises(ToolError, match="outside your scope"):
        await rep.call_tool("get_weekly_report", {"rep": "u-r001"})
    manager = await as_user("u-m1")
    team_report = await call(manager, "get_weekly_report")
    assert team_report["scope"] == "team" and set(team_report["summary"]["reps"]) == {
        "u-r001",
        "u-r003",
        "u-r005",
    }


async def test_admins_see_parked_calls_in_the_cost_report(
    as_user: Any, team: Team, settings: Settings
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, failures,"
            " last_error) VALUES ('p1', 'p1', '{}', 'needs_attention', 5, 'InvalidAnalysis: x')"
        )
    admin = await as_user(team.admin)
    report = await call(admin, "cost_report", period="today")
    parked = report["pipeline"]["needs_attention"]
    assert [(p["call_id"], p["failures"]) for p in parked] == [("p1", 5)]
    assert report["pipeline"]["webhook_events"]["needs_attention"] == 1


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
    assert recorded["score"] == 2 and recorded["criterion"] == "overall"
    await call(
        manager,
        "record_manager_score",
        call_id="c-u-r000-01-1",
        dimension="discovery",
        criterion="listening",
        score=None,
        reason="Too short a call to tell.",
    )
    coaching = await call(manager, "get_call_coaching", call_id="c-u-r000-01-1")
    discovery = next(d for d in coaching["dimensions"] if d["dimension"] == "discovery")
    assert discovery["overall_score"] > 0  # the AI's score stays as it was
    assert [(m["criterion"], m["score"], m["source"]) for m in discovery["manager_scores"]] == [
        ("listening", None, "mcp"),
        ("overall", 2, "mcp"),
    ]
    assert discovery["manager_scores"][1]["note"] == "Never asked about the decision process."
    report = await call(manager, "agreement_report")
    assert report["ai_vs_manager"]["overall"]["n"] == 1


async def test_recording_scores_is_refused_out_of_scope(as_user: Any) -> None:
    rep = await as_user("u-r000")
    args = {"call_id": "c-u-r000-01-1", "dimension": "discovery", "score": 5, "reason": "me"}
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("record_manager_score", args)
    other = await as_user("manager1@example.com")
    with pytest.raises(ToolError, match="outside your scope"):
        await other.call_tool("record_manager_score", args)
    manager = await as_user("manager0@example.com")
    with pytest.raises(ToolError, match="criterion must be"):
        await manager.call_tool("record_manager_score", {**args, "criterion": "charisma"})
    with pytest.raises(ToolError):
        await manager.call_tool("record_manager_score", {**args, "score": 7})
    with pytest.raises(ToolError, match="manager or admin"):
        await rep.call_tool("agreement_report", {})
