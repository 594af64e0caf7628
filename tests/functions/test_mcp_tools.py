"""The MCP tools through fastmcp's real Client, in memory, on real Postgres (HTTP and sign-in:
test_access_identity.py; scope across teams: test_mcp_scope.py; the command tools:
test_mcp_commands.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from fastmcp.exceptions import ToolError

from common.config import Settings
from local.seed import Team
from tests.mcp_helpers import call


async def test_a_calls_coaching_is_compact_by_default_and_full_on_request(as_user: Any) -> None:
    rep = await as_user("u-r000")
    brief = await call(rep, "get_call_coaching", call_id="c-u-r000-00-0")
    assert brief["rep_name"] == "Rep 000" and set(brief["scores"]) == {
        "product_knowledge",
        "discovery",
        "objections",
        "engagement",
    }
    for point in (brief["top_strength"], brief["top_improvement"]):
        assert point["quote"] and point["link"].startswith("https://app.gong.io/call?id=c-u-r000")
    weakest = min(brief["scores"], key=brief["scores"].get)
    assert brief["top_improvement"]["dimension"] == weakest
    assert len(json.dumps(brief)) < 1500
    full = await call(rep, "get_call_coaching", call_id="c-u-r000-00-0", detail="full")
    assert len(full["dimensions"]) == 4 and full["metrics"]["rep_questions"] > 0
    assert len(json.dumps(full)) > 3 * len(json.dumps(brief))


async def test_manager_sees_exactly_their_team_by_name(as_user: Any) -> None:
    manager = await as_user("manager0@example.com")
    overview = await call(manager, "team_overview")
    # m0's reps; r004 is soft-deleted; m1's reps are absent; m0 made no calls
    assert [(r["rep_id"], r["rep_name"]) for r in overview["reps"]] == [
        ("u-r000", "Rep 000"),
        ("u-r002", "Rep 002"),
    ]
    assert all(r["calls"] == 2 for r in overview["reps"])
    assert overview["reps_total"] == 2
    second = await call(manager, "team_overview", offset=1, limit=1)
    assert [r["rep_id"] for r in second["reps"]] == ["u-r002"] and second["reps_total"] == 2
    assert second["needs_help"] == overview["needs_help"]  # judged over the whole team
    assert all(
        set(x) == {"rep_id", "rep_name"} for x in overview["improved"] + overview["needs_help"]
    )
    page = await call(manager, "search_calls", page_size=100)
    assert {(i["rep_id"], i["rep_name"]) for i in page["items"]} == {
        ("u-r000", "Rep 000"),
        ("u-r002", "Rep 002"),
    }
    assert page["total"] == 24 and page["next_cursor"] is None


async def test_search_pages_by_cursor_through_every_call_once(as_user: Any) -> None:
    admin = await as_user("u-admin")
    seen: list[str] = []
    cursor = None
    while True:
        page = await call(admin, "search_calls", page_size=25, cursor=cursor)
        assert page["total"] == 72 and not page["total_is_lower_bound"]
        seen += [i["call_id"] for i in page["items"]]
        starts = [i["started_at"] for i in page["items"]]
        assert starts == sorted(starts, reverse=True)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 72 and len(set(seen)) == 72  # u-r004's calls included for admins
    with pytest.raises(ToolError, match="cursor"):
        await admin.call_tool("search_calls", {"cursor": "bm9wZQ=="})


async def test_search_filters_match_the_database(as_user: Any, settings: Settings) -> None:
    admin = await as_user("u-admin")
    low = await call(admin, "search_calls", dimension="discovery", max_score=2.5, page_size=100)
    avg_low = await call(admin, "search_calls", max_score=2.5, page_size=100)
    with psycopg.connect(settings.database_url) as conn:
        by_dim, by_avg = conn.execute(
            "SELECT (SELECT count(*) FROM coaching_sessions WHERE dimension = 'discovery'"
            " AND overall_score <= 2.5), (SELECT count(*) FROM (SELECT call_id FROM"
            " coaching_sessions GROUP BY call_id HAVING round(avg(overall_score), 2) <= 2.5) t)"
        ).fetchone()  # type: ignore[misc]
    assert low["total"] == by_dim and all(i["scores"]["discovery"] <= 2.5 for i in low["items"])
    assert avg_low["total"] == by_avg != by_dim
    found = await call(admin, "search_calls", text="negotiation", page_size=100)
    assert found["total"] and all("Negotiation" in i["title"] for i in found["items"])
    advice = await call(admin, "search_calls", text='"quantify the pain"', rep="Rep 001")
    assert advice["total"] and {i["rep_id"] for i in advice["items"]} == {"u-r001"}
    for literal in ("%", "_", "\\", "%_%"):  # no LIKE wildcards: never "match everything"
        with pytest.raises(ToolError, match="no searchable words"):
            await admin.call_tool("search_calls", {"text": literal})
    assert (await call(admin, "search_calls", text="100%"))["total"] == 0


async def test_invalid_values_are_clear_errors(as_user: Any) -> None:
    manager = await as_user("u-m1")
    bad = [
        ("search_calls", {"page_size": 10_000}),
        ("search_calls", {"dimension": "charisma"}),
        ("search_calls", {"min_score": 4, "max_score": 2}),
        ("search_calls", {"min_score": 0}),
        ("get_rep_performance", {"rep": "u-r001", "weeks": 10**8}),
        ("compare_reps", {"reps": []}),
        ("cost_report", {"period": "year"}),
        ("get_call_coaching", {"call_id": "x'; DROP TABLE calls; --"}),
    ]
    for tool, args in bad:
        with pytest.raises(ToolError):
            await manager.call_tool(tool, args)


async def test_tools_document_every_parameter_with_enums_bounds_and_hints(as_user: Any) -> None:
    client = await as_user("u-r000")
    tools = {t.name: t for t in await client.list_tools()}
    for tool in tools.values():
        for name, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
        assert tool.output_schema, f"{tool.name} has no output schema"
        assert tool.annotations is not None
    writes = {
        "analyze_call",
        "record_manager_score",
        "dispute_score",
        "resolve_dispute",
        "review_score",
        "acknowledge_note",
        "set_note_preferences",
        "hold_notes",
        "edit_plan",
        "approve_plan",
        "acknowledge_plan",
        "set_job_role",
    }
    reads = set(tools) - writes
    assert all(tools[t].annotations.read_only_hint for t in reads)  # type: ignore[union-attr]
    assert not tools["record_manager_score"].annotations.read_only_hint  # type: ignore[union-attr]
    text = json.dumps(tools["search_calls"].input_schema)
    assert '"maximum": 100' in text and "discovery" in text and "engagement" in text
    weeks = tools["get_rep_performance"].input_schema["properties"]["weeks"]
    assert weeks["maximum"] == 52 and weeks["minimum"] == 1
    assert "email" in tools["get_rep_performance"].input_schema["properties"]["rep"]["description"]


async def test_rep_performance_and_comparison_name_reps(as_user: Any) -> None:
    manager = await as_user("u-m1")
    perf = await call(manager, "get_rep_performance", rep="Rep 001", weeks=8)
    assert perf["rep_id"] == "u-r001" and perf["rep_name"] == "Rep 001" and len(perf["weeks"]) >= 5
    assert set(perf["averages"]) == {"product_knowledge", "discovery", "objections", "engagement"}
    assert perf["best_calls"][0]["average"] >= perf["weakest_calls"][0]["average"]
    recurring = perf["recurring_improvements"][0]
    assert recurring["calls"] > 1 and recurring["quote"]
    compared = await call(
        manager, "compare_reps", reps=["u-r001", "rep3@example.com"], dimension="discovery"
    )
    assert [(r["rank"], r["rep_name"]) for r in compared["reps"]] in (
        [(1, "Rep 001"), (2, "Rep 003")],
        [(1, "Rep 003"), (2, "Rep 001")],
    )
    assert all(set(r["scores"]) == {"discovery"} for r in compared["reps"])


@pytest.fixture
def usage(settings: Settings, team: Team) -> None:
    """Spend on a call of each team and on an eval (no call), and one request a killed
    process left in flight on team m0's call (an estimate)."""
    rows = (
        ("c-u-r000-05-0", 0.25, False),
        ("c-u-r001-05-0", 0.5, False),
        (None, 2.0, False),
        ("c-u-r000-05-0", 0.1, True),
    )
    with psycopg.connect(settings.database_url) as conn:
        for call_id, usd, estimated in rows:
            conn.execute(
                "INSERT INTO claude_usage (model, call_id, input_tokens, output_tokens, usd,"
                " estimated) VALUES ('claude-sonnet-5-5', %s, 1000, 100, %s, %s)",
                (call_id, usd, estimated),
            )


async def test_cost_report_is_scoped_and_in_dollars(as_user: Any, usage: None) -> None:
    m0 = await as_user("u-m0")
    team_spend = await call(m0, "cost_report", period="month")
    assert team_spend["scope"] == "team" and team_spend["spend"]["usd"] == 0.35
    assert (team_spend["spend"]["estimated_requests"], team_spend["spend"]["estimated_usd"]) == (
        1,
        0.1,
    )
    assert team_spend["budget_left_usd"] is None and team_spend["pipeline"] is None
    admin = await call(await as_user("u-admin"), "cost_report", period="today")
    assert admin["scope"] == "company" and admin["spend"]["usd"] == 2.85
    assert admin["monthly_budget_usd"] == 500.0 and admin["pipeline"] is not None
    month = await call(await as_user("u-admin"), "cost_report", period="month")
    # what is left of this month's budget, whatever period the report shows
    assert admin["budget_left_usd"] == round(500.0 - month["spend"]["usd"], 2) <= 497.15
    with pytest.raises(ToolError, match="manager or admin"):
        await (await as_user("u-r001")).call_tool("cost_report", {})


async def test_rubric_resources_and_prompts(as_user: Any) -> None:
    rep = await as_user("u-r000")
    text = (await rep.read_resource("rubric://discovery"))[0].text  # type: ignore[union-attr]
    assert "Open, layered questions" in text and "Score 5:" in text
    prompts = {p.name for p in await rep.list_prompts()}
    assert prompts == {"coach_me_on_my_last_call", "prepare_my_one_on_one"}


async def test_weekly_report_names_reps_and_drops_a_removed_one(
    settings: Settings, team: Team, as_user: Any
) -> None:
    from common.insights.week import previous_week
    from flows.weekly_review import build_week

    week = previous_week(datetime.now(UTC), "UTC")
    build_week(settings, week)
    rep = await as_user("u-r000")
    own = await call(rep, "get_weekly_report")
    assert (own["scope"], own["subject_id"], own["week_start"]) == (
        "rep",
        "u-r000",
        week.isoformat(),
    )
    assert "Rep 000" in httpx.get(own["url"]).text
    with pytest.raises(ToolError, match="in your scope"):
        await rep.call_tool("get_weekly_report", {"rep": "u-r001"})
    manager = await as_user("u-m1")
    before = await call(manager, "get_weekly_report")
    assert [(r["rep_id"], r["rep_name"]) for r in before["reps"]] == [
        ("u-r001", "Rep 001"),
        ("u-r003", "Rep 003"),
        ("u-r005", "Rep 005"),
    ]
    assert "Rep 003" in httpx.get(before["url"]).text
    paged = await call(manager, "get_weekly_report", offset=2, limit=5)
    assert [r["rep_id"] for r in paged["reps"]] == ["u-r005"] and paged["reps_total"] == 3
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("UPDATE users SET deleted_at = now() WHERE id = 'u-r003'")
    after = await call(manager, "get_weekly_report")
    assert [r["rep_id"] for r in after["reps"]] == ["u-r001", "u-r005"]
    assert "Rep 003" not in httpx.get(after["url"]).text  # the stored HTML was re-rendered
    index = await call(await as_user("u-admin"), "get_weekly_report")
    assert (index["scope"], index["reps"]) == ("index", [])  # its summary holds counts only
    assert "Rep 001" in httpx.get(index["url"]).text


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


async def test_admins_see_who_read_which_call(as_user: Any, settings: Settings) -> None:
    manager = await as_user("u-m0")
    await call(manager, "get_call_coaching", call_id="c-u-r000-01-1")
    await call(manager, "analyze_call", call_id="c-u-r002-02-0")  # cached: a read too
    with pytest.raises(ToolError):
        await manager.call_tool("get_call_coaching", {"call_id": "c-u-r001-01-1"})  # refused
    with pytest.raises(ToolError, match="admin"):
        await manager.call_tool("access_log", {})
    admin = await as_user("u-admin")
    log = await call(admin, "access_log", user="manager0@example.com")
    assert [(e["user_name"], e["action"], e["call_id"]) for e in log["entries"]] == [
        ("Manager 0", "analyze_call", "c-u-r002-02-0"),
        ("Manager 0", "get_call_coaching", "c-u-r000-01-1"),
    ]
    by_call = await call(admin, "access_log", call_id="c-u-r000-01-1")
    assert len(by_call["entries"]) == 1
    first = await call(admin, "access_log", user="manager0@example.com", limit=1)
    assert [e["action"] for e in first["entries"]] == ["analyze_call"] and first["next_cursor"]
    rest = await call(
        admin, "access_log", user="manager0@example.com", limit=1, cursor=first["next_cursor"]
    )
    assert [e["action"] for e in rest["entries"]] == ["get_call_coaching"]
    assert rest["next_cursor"] is None and log["next_cursor"] is None
    with pytest.raises(ToolError, match="cursor"):
        await admin.call_tool("access_log", {"cursor": "bm90LWEtY3Vyc29y"})


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("search_calls", {"rep": "Dana\x00Lee"}),
        ("search_calls", {"text": "pricing\x00"}),
        ("team_overview", {"week": "9999-12-31"}),
        ("get_weekly_report", {"week": "9999-12-31"}),
        ("get_rep_performance", {"rep": "rep\x00"}),
    ],
)
async def test_internal_errors_never_reach_the_caller(
    as_user: Any, tool: str, args: dict[str, Any]
) -> None:
    manager = await as_user("u-m0")
    result = await manager.call_tool(tool, args, raise_on_error=False)
    text = result.content[0].text if result.is_error else ""
    for internal in ("PostgreSQL", "0x00", "psycopg", "Traceback", "OverflowError", "year"):
        assert internal not in text, text


async def test_a_manager_reads_their_teams_skipped_calls_and_why(
    as_user: Any, settings: Settings
) -> None:
    """`skipped_calls`: the team's calls the rules skipped, with the reason, a page at a time;
    another team's skipped call never shows (m0's team: u-r000; m1's: u-r001)."""
    with psycopg.connect(settings.database_url) as conn:
        for call_id, rep, reason in (
            ("sk-a", "u-r000", "internal one-to-one (title, no customer speaking)"),
            ("sk-b", "u-r000", "candidate interview (title)"),
            ("sk-c", "u-r001", "internal one-to-one (title, no customer speaking)"),
        ):
            conn.execute(
                "INSERT INTO calls (id, title, started_at, primary_user_id, parties, call_type,"
                " skipped_reason) VALUES (%s, 'Weekly 1on1', now(), %s,"
                " '[{\"affiliation\": \"External\"}]', 'sales', %s)",
                (call_id, rep, reason),
            )
    m0 = await as_user("u-m0")
    first = await call(m0, "skipped_calls", page_size=1)
    assert first["total"] == 2 and len(first["items"]) == 1 and first["next_cursor"]
    rest = await call(m0, "skipped_calls", page_size=1, cursor=first["next_cursor"])
    items = first["items"] + rest["items"]
    assert sorted(i["call_id"] for i in items) == ["sk-a", "sk-b"] and rest["next_cursor"] is None
    assert {i["reason"] for i in items} == {
        "internal one-to-one (title, no customer speaking)",
        "candidate interview (title)",
    }
    assert all(i["rep_name"] == "Rep 000" and i["look_at_it"] for i in items)
    m1 = await call(await as_user("u-m1"), "skipped_calls")
    assert [i["call_id"] for i in m1["items"]] == ["sk-c"]
    with pytest.raises(ToolError, match="no rep matching"):
        await (await as_user("u-m1")).call_tool("skipped_calls", {"rep": "u-r000"})


async def test_an_admin_sets_a_job_role_and_scores_say_it_and_rank_within_it(
    as_user: Any,
) -> None:
    admin, manager = await as_user("u-admin"), await as_user("u-m1")
    with pytest.raises(ToolError, match="admin"):
        await manager.call_tool("set_job_role", {"user": "Rep 001", "role": "se"})
    with pytest.raises(ToolError, match="slug"):
        await admin.call_tool("set_job_role", {"user": "Rep 001", "role": "Sales Engineer"})
    changed = await call(admin, "set_job_role", user="rep1@example.com", role="se")
    assert (changed["user_id"], changed["job_role"], changed["previous"]) == ("u-r001", "se", None)
    assert [(p["job_role"], p["source"], p["set_by"]) for p in changed["history"]] == [
        ("se", "admin", "u-admin")
    ]
    coaching = await call(manager, "get_call_coaching", call_id="c-u-r001-00-0")
    assert coaching["job_role"] == "se"  # the first role a person gets covers their past calls
    other = await call(manager, "get_call_coaching", call_id="c-u-r003-00-0")
    assert other["job_role"] == "ae"  # no role recorded: DEFAULT_JOB_ROLE
    overview = await call(manager, "team_overview")
    assert [(r["rep_id"], r["job_role"]) for r in overview["reps"]] == [
        ("u-r003", "ae"),
        ("u-r005", "ae"),
        ("u-r001", "se"),
    ]
    compared = await call(manager, "compare_reps", reps=["u-r001", "u-r003", "u-r005"])
    assert [(r["job_role"], r["rank"]) for r in compared["reps"]][-1] == ("se", 1)
    assert "ranked within each role only" in compared["split_by_role"]
