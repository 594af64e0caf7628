"""Acknowledging a note: one click on its signed link, served by the HTTP MCP server (the link
opens a page with one button, so a link previewer acknowledges nothing; the click keeps its
time), or the acknowledge_note tool (the rep's own sent notes only); the rep's preferences and
the manager's hold through their tools."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from common.config import Settings
from common.repnotes import deliver_due, queue_for_call
from functions.mcp_server import http_app
from functions.mcp_tools import create_server
from local.serve import ThreadedServer, free_port, serve
from tests.mcp_helpers import call
from tests.repnotes.conftest import Receivers
from tests.repnotes.world import NOW, add_call, connect, note

LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/notes/ack\?note=(\d+)&sig=[\w-]+)\|Got it>")


def sent(s: Settings, call_id: str) -> int:
    add_call(s, call_id, "u-a", NOW - timedelta(hours=2), {"engagement.patience": 1.0})
    with connect(s) as conn:
        note_id = queue_for_call(conn, call_id, s, now=NOW)
    assert note_id is not None and deliver_due(s, s.database_url, now=NOW).sent == 1
    return note_id


@pytest.fixture
def served(s: Settings) -> Iterator[tuple[Settings, ThreadedServer]]:
    port = free_port()
    public = s.model_copy(update={"mcp_public_url": f"http://127.0.0.1:{port}"})
    server = serve(http_app(create_server(public), public), port=port)
    yield public, server
    server.stop()


@pytest.fixture
async def as_user(s: Settings) -> AsyncIterator[Callable[[str], Any]]:
    async with AsyncExitStack() as stack:

        async def open_as(user: str) -> Client[Any]:
            client: Client[Any] = Client(create_server(s, stdio_user=user))
            return await stack.enter_async_context(client)

        yield open_as


def test_one_click_on_the_link_keeps_the_first_time(
    served: tuple[Settings, ThreadedServer], receivers: Receivers
) -> None:
    s, _ = served
    note_id = sent(s, "c1")
    (message,) = receivers.slack.messages_to("ana@example.com")
    found = LINK.search(message["text"])
    assert found and int(found.group(2)) == note_id
    url = found.group(1)
    opened = httpx.get(url)
    assert opened.status_code == 200 and '<form method="post">' in opened.text
    assert note(s, "c1")["acknowledged_at"] is None  # type: ignore[index]  # opening is not reading
    clicked = httpx.post(url)
    assert clicked.status_code == 200 and "acknowledged at" in clicked.text
    first = note(s, "c1")
    assert first is not None and first["acknowledged_via"] == "link"
    assert first["acknowledged_at"] is not None
    assert httpx.post(url).status_code == 200
    assert note(s, "c1")["acknowledged_at"] == first["acknowledged_at"]  # type: ignore[index]


def test_a_forged_link_acknowledges_nothing(
    served: tuple[Settings, ThreadedServer], receivers: Receivers
) -> None:
    s, server = served
    sent(s, "c1")
    other = sent(s, "c2")
    (_, message) = receivers.slack.messages_to("ana@example.com")
    url = LINK.search(message["text"]).group(1)  # type: ignore[union-attr]
    forged = url.replace(f"note={other}", f"note={other - 1}")
    assert httpx.get(forged).status_code == 403 and httpx.post(forged).status_code == 403
    unsigned = f"{server.url}/notes/ack?note={other - 1}"
    assert httpx.post(unsigned).status_code == 403
    assert note(s, "c1")["acknowledged_at"] is None  # type: ignore[index]


async def test_the_tool_acknowledges_only_the_reps_own_sent_notes(
    s: Settings, receivers: Receivers, as_user: Callable[[str], Any]
) -> None:
    note_id = sent(s, "c1")
    add_call(s, "c2", "u-a", NOW - timedelta(hours=1), {})
    with connect(s) as conn:
        unsent = queue_for_call(conn, "c2", s, now=NOW + timedelta(days=1))
    ana = await as_user("ana@example.com")
    first = await call(ana, "acknowledge_note", note_id=note_id)
    assert first["first"] and first["via"] == "mcp" and first["call_id"] == "c1"
    again = await call(ana, "acknowledge_note", note_id=note_id)
    assert not again["first"] and again["acknowledged_at"] == first["acknowledged_at"]
    for user, wanted in (("ben@example.com", note_id), ("manager@example.com", note_id)):
        with pytest.raises(ToolError, match=f"no note {wanted} was sent to you"):
            await call(await as_user(user), "acknowledge_note", note_id=wanted)
    with pytest.raises(ToolError, match="was sent to you"):
        await call(ana, "acknowledge_note", note_id=unsent)
    ben = await as_user("ben@example.com")  # another's note reads as one that does not exist
    refusals = []
    for wanted in (note_id, 9999):
        with pytest.raises(ToolError) as refused:
            await call(ben, "acknowledge_note", note_id=wanted)
        refusals.append(str(refused.value).replace(str(wanted), "?"))
    assert refusals[0] == refusals[1]
    assert note(s, "c1")["acknowledged_via"] == "mcp"  # type: ignore[index]


async def test_preferences_and_the_hold_through_the_tools(
    s: Settings, as_user: Callable[[str], Any]
) -> None:
    ana = await as_user("ana@example.com")
    chosen = await call(ana, "set_note_preferences", channel="email", cadence="daily")
    assert (chosen["channel"], chosen["cadence"], chosen["rep_id"]) == ("email", "daily", "u-a")
    kept = await call(ana, "set_note_preferences", cadence="weekly")
    assert (kept["channel"], kept["cadence"]) == ("email", "weekly")
    manager = await call(
        await as_user("manager@example.com"), "hold_notes", rep="Ana Rep", hold=True
    )
    assert manager["manager_hold"] and manager["hold_set_by"] == "u-m"
    with pytest.raises(ToolError, match="no rep matching"):
        await call(await as_user("other@example.com"), "hold_notes", rep="Ana Rep", hold=False)
    with pytest.raises(ToolError, match="manager or admin"):
        await call(ana, "hold_notes", rep="Ben Rep", hold=True)
    no_slack = s.model_copy(update={"slack_bot_token": None})
    client: Client[Any] = Client(create_server(no_slack, stdio_user="ana@example.com"))
    async with client:
        with pytest.raises(ToolError, match="slack is not set up here"):
            await call(client, "set_note_preferences", channel="slack")
