"""The MCP server over real HTTP (uvicorn) on real Postgres: one user's flood cannot stall
the others or the health check; Postgres down reads as one line, not a 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastmcp import Client
from psycopg.rows import dict_row

from common import access
from common.config import Settings
from functions.mcp_boundary import UNAVAILABLE
from functions.mcp_server import http_app
from functions.mcp_tools import compose, create_server
from local.seed import Team
from local.serve import ThreadedServer, serve
from local.stack import PostgresControl

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
HEALTH_CHECK_S = 4.0  # Dockerfile.http's HEALTHCHECK --timeout: longer is a dead container


@pytest.fixture
def server(settings: Settings, team: Team) -> Iterator[ThreadedServer]:
    running = serve(http_app(create_server(settings), settings))
    yield running
    running.stop()


def _token(settings: Settings, user: str) -> str:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return access.create_token(conn, user)[1]


async def test_a_reps_flood_of_lookups_stalls_neither_other_users_nor_the_health_check(
    settings: Settings, server: ThreadedServer
) -> None:
    """Thirty parallel analyze_call look-ups of unknown calls from one rep (paced at one a
    second per user): while they are still being answered, another manager's tool call and
    /healthz answer within the image's health-check bound."""
    url = f"{server.url}/mcp"
    async with (
        Client(url, auth=_token(settings, "u-r000"), timeout=120) as rep,
        Client(url, auth=_token(settings, "manager1@example.com"), timeout=120) as manager,
        httpx.AsyncClient(timeout=120) as http,
    ):
        flood = [
            asyncio.create_task(
                rep.call_tool("analyze_call", {"call_id": f"9{n:05d}"}, raise_on_error=False)
            )
            for n in range(30)
        ]
        try:
            await asyncio.sleep(1.5)  # the flood is in: its look-ups are being paced
            health = await asyncio.wait_for(http.get(f"{server.url}/healthz"), HEALTH_CHECK_S)
            other = await asyncio.wait_for(
                manager.call_tool("search_calls", {"page_size": 1}), HEALTH_CHECK_S
            )
            still_flooding = not all(task.done() for task in flood)
            answers = await asyncio.gather(*flood)
        finally:
            for task in flood:
                task.cancel()
    assert health.status_code == 200 and other.structured_content["items"]
    assert still_flooding  # the others were answered while the rep's look-ups were still paced
    texts = [a.content[0].text for a in answers]  # type: ignore[union-attr]
    assert all(a.is_error for a in answers)  # unknown calls: refused, each in one line
    assert any("try again in" in t for t in texts)  # the ones past the wait are told when
    assert all("in your scope" in t or "try again in" in t for t in texts), texts


def test_postgres_down_reads_as_the_unreachable_line_not_a_500(
    settings: Settings, server: ThreadedServer, pg_control: PostgresControl
) -> None:
    """Postgres stopped under a running server: every MCP request (the token check first)
    gets the one "not reachable" line with a 503 and Retry-After, and the server answers
    again once Postgres is back."""
    token = _token(settings, "u-r000")
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
    pg_control.stop()
    try:
        down = httpx.post(f"{server.url}/mcp", json=INIT, headers=headers, timeout=30)
    finally:
        pg_control.start()
    assert down.status_code == 503 and down.headers["retry-after"]
    assert down.json()["error"]["message"] == UNAVAILABLE
    for _ in range(60):  # the pool reconnects with a backoff
        again = httpx.post(f"{server.url}/mcp", json=INIT, headers=headers, timeout=30)
        if again.status_code != 503:
            break
        time.sleep(0.5)
    assert again.status_code == 200


def test_token_checks_and_healthz_have_capacity_of_their_own(
    settings: Settings, team: Team
) -> None:
    """Every connection the tools have is taken (a flood, a slow report): a sign-in (the
    token check) and /healthz still answer, inside the image's health-check bound."""
    service = compose(settings)
    running = serve(http_app(create_server(settings, insights=service), settings))
    pool = service.database.pool
    held = [pool.getconn() for _ in range(pool.max_size)]
    try:
        health = httpx.get(f"{running.url}/healthz", timeout=HEALTH_CHECK_S)
        signed_in = httpx.post(
            f"{running.url}/mcp",
            json=INIT,
            headers={
                "Accept": "application/json, text/event-stream",
                "Authorization": f"Bearer {_token(settings, 'u-r000')}",
            },
            timeout=HEALTH_CHECK_S,
        )
    finally:
        for conn in held:
            pool.putconn(conn)
        running.stop()
    assert (health.status_code, signed_in.status_code) == (200, 200)
