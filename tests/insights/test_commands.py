"""Commands (`common/insights/commands.py`) directly, on real Postgres and the Gong stand-in:
the look-up of a call that is not stored yet goes through the server's one Gong client and
spends the company's shared Gong budget (the MCP tools over them: test_mcp_commands.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from common.config import Settings
from common.insights.commands import Commands
from common.insights.service import Insights
from common.storage import ObjectStore
from local.seed import Team
from tests.mcp_helpers import UNSTORED_CALL, add_unstored_calls_rep


def test_unknown_calls_are_asked_of_one_gong_client_on_the_shared_budget(
    settings: Settings, team: Team, gong: tuple[Any, str]
) -> None:
    state, _ = gong
    add_unstored_calls_rep(settings.database_url)
    commands = Commands(Insights(settings, ObjectStore.from_settings(settings)))
    try:
        kind, _, _ = commands.request_analysis("u-m0", UNSTORED_CALL, ["discovery"], False)
        client = commands.gong()
        again, _, _ = commands.request_analysis("u-m0", UNSTORED_CALL, ["discovery"], False)
        assert (kind, again) == ("queued", "queued") and commands.gong() is client
        assert client.requests_made == 1 and len(state.requests) == 1  # then the outbox knew
        with psycopg.connect(settings.database_url) as conn:
            spent = conn.execute("SELECT count(*) FROM rate_limits WHERE name = 'gong'").fetchone()
        assert spent == (1,)
    finally:
        commands.close()
        commands.reads.close()
    assert commands.gong() is not client  # closed with the server, built again on next use
    commands.close()
