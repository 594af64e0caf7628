"""The Slack sender against the stand-in over HTTP: a DM found by e-mail and posted with its
metadata, read back through every page of the history; errors classified (who cannot be
reached, what to retry, what may have gone out) and only what certainly sent nothing retried
at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from common.config import Settings, load_settings
from common.notify import Message, NotifyError, posted, send
from local.serve import ThreadedServer
from local.slack_server import SlackState
from tests.notify.receivers import slack_stand_in

EMAIL = "rep@example.com"


@pytest.fixture
def slack() -> Iterator[tuple[SlackState, Settings]]:
    with slack_stand_in() as (state, server):
        state.add_user(EMAIL)
        yield state, settings_for(state, server)


def settings_for(state: SlackState, server: ThreadedServer) -> Settings:
    return load_settings(
        database_url="postgresql://unused",
        slack_bot_token=SecretStr(state.token),
        slack_api_url=f"{server.url}/api",
    )


def message(n: int) -> Message:
    return Message(
        key=f"rep-note-{n}",
        subject="s",
        text="plain",
        slack_text=f"note {n} <&>",
        event_type="coaching_note",
        event_payload={"note_id": n, "note_ids": [n]},
    )


def test_a_dm_is_posted_with_its_metadata_and_read_back_across_pages(
    slack: tuple[SlackState, Settings],
) -> None:
    state, s = slack
    since = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(1, 206):  # more than one history page (200)
        send(s, "slack", EMAIL, message(n))
    kept = state.messages_to(EMAIL)
    assert len(kept) == 205 and kept[0]["text"] == "note 1 <&>"
    assert kept[0]["metadata"] == {
        "event_type": "coaching_note",
        "event_payload": {"note_id": 1, "note_ids": [1]},
    }
    found = posted(s, "slack", EMAIL, "coaching_note", since)
    assert sorted(p["note_id"] for p in found) == list(range(1, 206))
    assert posted(s, "slack", EMAIL, "other_event", since) == []


def test_a_rate_limited_post_is_tried_again_at_once(slack: tuple[SlackState, Settings]) -> None:
    state, s = slack
    state.fail_method, state.fail_next, state.fail_status = "chat.postMessage", 2, 429
    send(s, "slack", EMAIL, message(1))
    assert state.copies_of(1) == 1 and state.requests.count("chat.postMessage") == 3


def test_look_ups_are_tried_again_after_a_5xx(slack: tuple[SlackState, Settings]) -> None:
    state, s = slack
    state.fail_method, state.fail_next = "users.lookupByEmail", 2
    send(s, "slack", EMAIL, message(1))
    assert state.copies_of(1) == 1 and state.requests.count("users.lookupByEmail") == 3


def test_a_post_whose_answer_was_lost_is_not_repeated_here(
    slack: tuple[SlackState, Settings],
) -> None:
    state, s = slack
    state.drop_after_accept = 1
    with pytest.raises(NotifyError) as lost:
        send(s, "slack", EMAIL, message(1))
    assert lost.value.transient and lost.value.uncertain
    assert state.copies_of(1) == 1 and state.requests.count("chat.postMessage") == 1
    state.fail_method, state.fail_next = "chat.postMessage", 1  # a 5xx may have posted too
    with pytest.raises(NotifyError) as failed:
        send(s, "slack", EMAIL, message(2))
    assert failed.value.transient and failed.value.uncertain
    assert state.requests.count("chat.postMessage") == 2


def test_who_cannot_be_reached_is_not_transient_and_a_bad_token_is(
    slack: tuple[SlackState, Settings],
) -> None:
    state, s = slack
    with pytest.raises(NotifyError) as unknown:
        send(s, "slack", "stranger@example.com", message(1))
    assert not unknown.value.transient and "users_not_found" in str(unknown.value)
    wrong = s.model_copy(update={"slack_bot_token": SecretStr("xoxb-revoked")})
    with pytest.raises(NotifyError) as revoked:
        send(wrong, "slack", EMAIL, message(1))
    assert revoked.value.transient and "invalid_auth" in str(revoked.value)
    unset = s.model_copy(update={"slack_bot_token": None})
    with pytest.raises(NotifyError, match="SLACK_BOT_TOKEN"):
        send(unset, "slack", EMAIL, message(1))
    assert state.messages_to(EMAIL) == []
