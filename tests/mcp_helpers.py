"""Helpers shared by the MCP tests (the seeded teams are the `team` fixture in conftest)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from fastmcp import Client

from common.config import Settings

UNSTORED_CALL = "7001001"  # in the Gong stand-in, not stored yet; Dana Lee's (2003) call


async def call(client: Client[Any], tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).structured_content


def add_unstored_calls_rep(db_url: str) -> None:
    """Dana Lee (Gong user 2003, owner of UNSTORED_CALL) joins manager u-m0's team."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, name, email, role, manager_id)"
            " VALUES ('2003', 'Dana Lee', 'dana@example.com', 'rep', 'u-m0')"
        )


async def wait_for_outbox(s: Settings, call_id: str) -> None:
    for _ in range(100):
        with psycopg.connect(s.database_url) as conn:
            if conn.execute(
                "SELECT 1 FROM webhook_events WHERE call_id = %s", (call_id,)
            ).fetchone():
                return
        await asyncio.sleep(0.1)
    raise AssertionError("analyze_call did not queue the call")


async def dispatch_and_run(s: Settings) -> None:
    """One dispatcher pass, its runs executed in this process (off the event loop)."""
    from flows.dispatcher import dispatch_once
    from local.inprocess import InProcessRuns

    def run() -> None:
        runs = InProcessRuns()
        dispatch_once(s, start_run=runs)
        runs.run_all()

    await asyncio.to_thread(run)
