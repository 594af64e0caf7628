"""The Claude Desktop entry as printed, launched as Claude Desktop launches it: from another
directory, with only the entry's environment."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from common.config import Settings
from common.insights.week import previous_week
from flows.weekly_review import build_week
from functions.desktop_config import claude_desktop_config
from local.seed import Team
from tests.mcp_helpers import add_unstored_calls_rep, dispatch_and_run, wait_for_outbox


def _launch(entry: dict[str, Any]) -> StdioTransport:
    return StdioTransport(entry["command"], entry["args"], env=entry["env"], cwd="/")


async def test_the_printed_stdio_entry_works_from_another_directory(
    engine_env: Settings,
    claude: Any,
    team: Team,
) -> None:
    add_unstored_calls_rep(engine_env.database_url)
    week = previous_week(datetime.now(UTC), "UTC")
    build_week(engine_env, week)
    s = engine_env.model_copy(update={"mcp_analyze_wait_s": 120.0})
    entry = claude_desktop_config(s, "manager0@example.com")["mcpServers"]["sales-coach"]
    assert "cwd" not in entry and entry["env"]["MCP_ANALYZE_WAIT_S"] == "120.0"
    async with Client(_launch(entry)) as desktop:
        report = (await desktop.call_tool("get_weekly_report", {})).structured_content
        assert report["scope"] == "team" and report["week_start"] == week.isoformat()
        assert {r["rep_name"] for r in report["reps"]} == {"Rep 000", "Rep 002"}
        assert "Rep 000" in httpx.get(report["url"]).text  # presigned with the entry's keys
        asking = asyncio.create_task(desktop.call_tool("analyze_call", {"call_id": "7001001"}))
        await wait_for_outbox(s, "7001001")
        await dispatch_and_run(s)
        status = (await asking).structured_content
    assert status["status"] == "completed" and status["coaching"]["rep_name"] == "Dana Lee"


def run_entry(entry: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start the server as Claude Desktop would from its config entry, with this env."""
    return subprocess.run(
        [entry["command"], *entry["args"]],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_missing_setting_is_one_clear_line(settings: Settings, team: Team) -> None:
    entry = claude_desktop_config(settings, "u-m0")["mcpServers"]["sales-coach"]
    for missing, expected in (
        ("DATABASE_URL", "DATABASE_URL is required"),
        ("MCP_USER", "MCP_USER is required"),
    ):
        done = run_entry(entry, {k: v for k, v in entry["env"].items() if k != missing})
        assert done.returncode == 2
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = run_entry(
        entry, {**entry["env"], "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    )
    assert done.returncode == 2 and "cannot use DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_remote_entries_carry_only_the_users_credential(settings: Settings) -> None:
    with_token = claude_desktop_config(
        settings, remote="https://coach.example.com/mcp", token="scm_x"
    )
    entry = with_token["mcpServers"]["sales-coach"]
    assert entry["env"] == {"SALES_COACH_AUTH": "Bearer scm_x"}
    assert "https://coach.example.com/mcp" in entry["args"]
    assert "Authorization:${SALES_COACH_AUTH}" in entry["args"]
    oauth = claude_desktop_config(settings, remote="https://coach.example.com/mcp")
    assert "env" not in oauth["mcpServers"]["sales-coach"]
    assert not any(
        "DATABASE" in a or "postgres" in a for a in oauth["mcpServers"]["sales-coach"]["args"]
    )
