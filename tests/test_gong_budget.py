"""Every way the product reaches Gong spends the company's shared budget, and nothing else.

Gong allows 10,000 requests a day for the whole company. With today's budget spent, each path
that talks to Gong (the analysis, the MCP look-up of an unknown call, privacy erasure, backfill,
the CLI's sync-users and scorecards, the scorecard import) must stop before a request leaves.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastmcp.exceptions import ToolError

from common.config import ROOT, Settings
from common.errors import GongBudgetSpent
from common.gong import gong_limiter
from local.gong_server import GongState
from tests.conftest import app_env
from tests.mcp_helpers import call

PRODUCT = ("common", "flows", "functions")


@pytest.fixture
def spent(
    settings: Settings, gong: tuple[GongState, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings (and the environment, for the CLI) with today's Gong budget used up."""

    s = settings.model_copy(update={"gong_daily_budget": 3})
    for key, value in app_env(s, "http://127.0.0.1:9").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GONG_DAILY_BUDGET", "3")
    for _ in range(3):
        gong_limiter(s).acquire()
    gong[0].requests.clear()
    yield s


def _privacy(s: Settings) -> object:
    from common.lifecycle.privacy import forget

    return forget(s, email="someone@example.com")


def _backfill(s: Settings) -> object:
    from flows.backfill import queue_calls

    now = datetime.now(UTC)
    return queue_calls(s, now - timedelta(days=1), now)


def _scorecard_import(s: Settings) -> object:
    from flows.scorecards import import_range

    return import_range(s)


def _cli(*argv: str) -> Callable[[Settings], object]:
    def run(s: Settings) -> object:
        from functions.cli import main

        code = main(list(argv))
        if code == 2:
            raise GongBudgetSpent("the CLI stopped with exit 2", 1.0)
        return code

    return run


def _prepare(s: Settings) -> object:
    from common.scoring.service import ScoringService

    service = ScoringService.from_settings(s)
    try:
        return service.prepare_one("7001001")
    finally:
        service.close()


PATHS: dict[str, Callable[[Settings], object]] = {
    "analysis": _prepare,
    "privacy erasure": _privacy,
    "backfill": _backfill,
    "scorecard import": _scorecard_import,
    "cli sync-users": _cli("sync-users"),
    "cli scorecards": _cli("scorecards"),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_spent_budget_stops_every_gong_path_before_a_request(
    spent: Settings, gong: tuple[GongState, str], path: str, tmp_path: Path
) -> None:
    s = spent.model_copy(update={"journal_dir": tmp_path})
    with pytest.raises(GongBudgetSpent):
        PATHS[path](s)
    assert gong[0].requests == []


async def test_mcp_lookup_of_an_unknown_call_spends_the_company_budget(
    spent: Settings, gong: tuple[GongState, str], as_user: Any
) -> None:
    admin = await as_user("u-admin", spent)
    with pytest.raises(ToolError, match="budget"):
        await call(admin, "analyze_call", call_id="7001001")
    assert gong[0].requests == []


async def test_one_user_cannot_spend_gong_on_unknown_calls_beyond_their_cap(
    settings: Settings, gong: tuple[GongState, str], as_user: Any
) -> None:
    """A rep asking for many call ids we do not have: each is a Gong request, so after
    MCP_UNKNOWN_CALL_LOOKUPS_PER_DAY of them the rest are refused without asking Gong."""
    s = settings.model_copy(update={"mcp_unknown_call_lookups_per_day": 3})
    rep = await as_user("u-r000", s)
    refusals = []
    for n in range(8):
        with pytest.raises(ToolError) as refused:
            await call(rep, "analyze_call", call_id=f"99900{n}")
        refusals.append(str(refused.value))
    assert len([r for r in gong[0].requests if r == "/v2/calls/extensive"]) == 3
    assert all("look-ups" in r for r in refusals[3:])
    assert not any("look-ups" in r for r in refusals[:3])
    other = await as_user("u-r002", s)  # the cap is per user
    with pytest.raises(ToolError) as refused:
        await call(other, "analyze_call", call_id="999100")
    assert "look-ups" not in str(refused.value)


def test_only_common_gong_builds_a_gong_client() -> None:
    """`GongClient.from_settings` is the one way in, so the shared limiter cannot be skipped."""
    builders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "GongClient"
                ):
                    builders.append(str(path.relative_to(ROOT)))
    assert builders == []
