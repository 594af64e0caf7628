"""The Slack stand-in answers as the Web API does on what the senders rely on: the bearer
token, Slack's `ok: false` errors, metadata only when asked for, history newest first in
cursor pages, and the switches (fail N requests, drop the connection after keeping a post)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.serve import ThreadedServer
from local.slack_server import SlackState
from tests.notify.receivers import slack_stand_in


@pytest.fixture
def slack() -> Iterator[tuple[SlackState, ThreadedServer]]:
    with slack_stand_in() as running:
        yield running


def api(server: ThreadedServer, method: str, token: str = "xoxb-test-token", **args: Any) -> Any:
    response = httpx.post(
        f"{server.url}/api/{method}",
        json=args if method in ("chat.postMessage", "conversations.open") else None,
        data=None if method in ("chat.postMessage", "conversations.open") else args,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.json()


def dm(slack: tuple[SlackState, ThreadedServer]) -> str:
    state, server = slack
    user = state.add_user("Rep@Example.com")
    assert api(server, "users.lookupByEmail", email="rep@example.com")["user"]["id"] == user
    channel: str = api(server, "conversations.open", users=user)["channel"]["id"]
    return channel


def test_the_token_is_checked(slack: tuple[SlackState, ThreadedServer]) -> None:
    _, server = slack
    assert api(server, "users.lookupByEmail", token="xoxb-wrong", email="x@y")["error"] == (
        "invalid_auth"
    )
    bare = httpx.post(f"{server.url}/api/users.lookupByEmail", data={"email": "x@y"}).json()
    assert bare == {"ok": False, "error": "not_authed"}
    assert api(server, "users.lookupByEmail", email="nobody@example.com")["error"] == (
        "users_not_found"
    )


def test_history_is_newest_first_in_pages_with_metadata_only_when_asked(
    slack: tuple[SlackState, ThreadedServer],
) -> None:
    state, server = slack
    channel = dm(slack)
    for n in range(5):
        meta = {"event_type": "coaching_note", "event_payload": {"note_id": n, "note_ids": [n]}}
        assert api(server, "chat.postMessage", channel=channel, text=f"m{n}", metadata=meta)["ok"]
    plain = api(server, "conversations.history", channel=channel, limit="2")
    assert [m["text"] for m in plain["messages"]] == ["m4", "m3"]
    assert all("metadata" not in m for m in plain["messages"]) and plain["has_more"]
    cursor = plain["response_metadata"]["next_cursor"]
    page = api(
        server,
        "conversations.history",
        channel=channel,
        limit="2",
        cursor=cursor,
        include_all_metadata="true",
    )
    assert [m["metadata"]["event_payload"]["note_id"] for m in page["messages"]] == [2, 1]
    assert state.copies_of(3) == 1


def test_a_failure_switch_fails_that_many_requests(
    slack: tuple[SlackState, ThreadedServer],
) -> None:
    state, server = slack
    channel = dm(slack)
    state.fail_next, state.fail_status = 2, 503
    first = httpx.post(
        f"{server.url}/api/chat.postMessage",
        json={"channel": channel, "text": "x"},
        headers={"Authorization": "Bearer xoxb-test-token"},
    )
    assert first.status_code == 503
    state.fail_status = 429
    second = httpx.post(
        f"{server.url}/api/chat.postMessage",
        json={"channel": channel, "text": "x"},
        headers={"Authorization": "Bearer xoxb-test-token"},
    )
    assert second.status_code == 429 and "retry-after" in second.headers
    assert api(server, "chat.postMessage", channel=channel, text="x")["ok"]
    assert len(state.messages_to("rep@example.com")) == 1  # the refused ones were not kept


def test_a_dropped_post_is_kept_but_never_answered(
    slack: tuple[SlackState, ThreadedServer],
) -> None:
    state, server = slack
    channel = dm(slack)
    state.drop_after_accept = 1
    with pytest.raises(httpx.RemoteProtocolError):
        api(server, "chat.postMessage", channel=channel, text="lost answer")
    assert [m["text"] for m in state.messages_to("rep@example.com")] == ["lost answer"]
    assert api(server, "chat.postMessage", channel=channel, text="next")["ok"]  # one only
