"""Delivering notes against the Slack stand-in and a real SMTP server: each preference (Slack,
e-mail; each call, daily and weekly digests, off), the manager's hold, retries after failures
(never lost), a lost answer found in the DM instead of sent again, and no double send when the
deliverer is killed between Slack accepting the message and the note being marked sent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.access import Caller
from common.config import ROOT, Settings
from common.repnotes import deliver_due, hold_notes, queue_for_call, set_preferences
from common.repnotes.deliver import LEASE_S, RETRY_BASE_S
from tests.repnotes.conftest import Receivers
from tests.repnotes.world import NOW, add_call, connect, deliveries, note

ANA = Caller("u-a", "Ana Rep", "rep")
MANAGER = Caller("u-m", "Mia Manager", "manager")
ANA_EMAIL = "ana@example.com"


def queued(
    s: Settings,
    call_id: str,
    hours_ago: float = 2,
    at: datetime = NOW,
    scores: dict[str, float] | None = None,
) -> int:
    low = {"engagement.patience": 1.5, **(scores or {})}
    add_call(s, call_id, "u-a", at - timedelta(hours=hours_ago), low)
    with connect(s) as conn:
        note_id = queue_for_call(conn, call_id, s, now=at)
    assert note_id is not None
    return note_id


def prefer(s: Settings, **chosen: Any) -> None:
    with connect(s) as conn:
        set_preferences(conn, ANA, s, **{"channel": None, "cadence": None, **chosen}, now=NOW)


def slack_texts(r: Receivers) -> list[str]:
    return [m["text"] for m in r.slack.messages_to(ANA_EMAIL)]


def test_each_call_by_slack(s: Settings, receivers: Receivers) -> None:
    note_id = queued(s, "c1")
    done = deliver_due(s, s.database_url, now=NOW)
    assert (done.claimed, done.messages, done.sent) == (1, 1, 1)
    (message,) = receivers.slack.messages_to(ANA_EMAIL)
    n = note(s, "c1")
    assert n is not None and (n["status"], n["channel"], n["sent_at"]) == ("sent", "slack", NOW)
    assert message["metadata"] == {
        "event_type": "coaching_note",
        "event_payload": {"note_id": note_id, "note_ids": [note_id]},
    }
    text = message["text"]
    assert n["action"] in text and n["focus"] == "engagement.patience"
    assert f"<{n['moment_link']}|The moment at {n['moment_at']} in Gong>" in text
    assert re.search(
        rf"<https://coach.example.com/notes/ack\?note={note_id}&sig=[\w-]+\|Got it>", text
    )
    assert deliveries(s, note_id) == [(1, "sent")]
    assert deliver_due(s, s.database_url, now=NOW + timedelta(hours=1)).claimed == 0


def test_each_call_by_email(s: Settings, receivers: Receivers) -> None:
    prefer(s, channel="email")
    note_id = queued(s, "c1")
    deliver_due(s, s.database_url, now=NOW)
    (mail,) = receivers.inbox.to(ANA_EMAIL)
    n = note(s, "c1")
    assert n is not None and n["channel"] == "email" and slack_texts(receivers) == []
    assert mail["Message-ID"] == f"<rep-note-{note_id}@northwind.example>"
    assert mail["Subject"] == "Coaching note: Call c1"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode().replace("\r\n", "\n")
    assert n["body"] in body and f"Next action: {n['action']}" in body
    assert f"https://coach.example.com/notes/ack?note={note_id}&sig=" in body


def test_a_daily_digest_is_one_message_with_one_next_action(
    s: Settings, receivers: Receivers
) -> None:
    prefer(s, cadence="daily")
    first = queued(s, "c1", hours_ago=5)
    second = queued(s, "c2", hours_ago=1, scores={"objections.next_steps": 1.0})
    assert deliver_due(s, s.database_url, now=NOW).claimed == 0
    tomorrow_8 = datetime(2026, 3, 5, 8, 0, tzinfo=NOW.tzinfo)
    assert deliver_due(s, s.database_url, now=tomorrow_8 - timedelta(minutes=1)).claimed == 0
    done = deliver_due(s, s.database_url, now=tomorrow_8)
    assert (done.claimed, done.messages, done.sent) == (2, 1, 2)
    (message,) = receivers.slack.messages_to(ANA_EMAIL)
    assert message["metadata"]["event_payload"]["note_ids"] == [first, second]
    text = message["text"]
    assert "Call c1" in text and "Call c2" in text
    assert text.count("next action") == 1 and note(s, "c2")["action"] in text  # type: ignore[index]
    assert [note(s, c)["status"] for c in ("c1", "c2")] == ["sent", "sent"]  # type: ignore[index]


def test_a_weekly_digest_waits_for_monday(s: Settings, receivers: Receivers) -> None:
    prefer(s, cadence="weekly")
    queued(s, "c1")
    monday_8 = datetime(2026, 3, 9, 8, 0, tzinfo=NOW.tzinfo)
    assert deliver_due(s, s.database_url, now=monday_8 - timedelta(hours=1)).claimed == 0
    assert deliver_due(s, s.database_url, now=monday_8).sent == 1
    assert len(slack_texts(receivers)) == 1


def test_off_sends_nothing(s: Settings, receivers: Receivers) -> None:
    queued(s, "c1")
    prefer(s, cadence="off")
    assert deliver_due(s, s.database_url, now=NOW + timedelta(days=8)).claimed == 0
    assert slack_texts(receivers) == [] and receivers.inbox.messages == []


def test_a_held_note_waits_for_the_manager(s: Settings, receivers: Receivers) -> None:
    with connect(s) as conn:
        hold_notes(conn, MANAGER, s, "u-a", True, now=NOW)
    queued(s, "c1")
    assert deliver_due(s, s.database_url, now=NOW + timedelta(days=1)).claimed == 0
    with connect(s) as conn:
        hold_notes(conn, MANAGER, s, "u-a", False, now=NOW)
    assert deliver_due(s, s.database_url, now=NOW + timedelta(days=1)).sent == 1
    assert len(slack_texts(receivers)) == 1


def test_a_failed_send_is_retried_later_and_sent_once(s: Settings, receivers: Receivers) -> None:
    note_id = queued(s, "c1")
    receivers.slack.fail_method, receivers.slack.fail_next = "chat.postMessage", 1
    assert deliver_due(s, s.database_url, now=NOW).retrying == 1
    n = note(s, "c1")
    assert n is not None and n["status"] == "pending" and "HTTP 500" in n["last_error"]
    assert n["next_attempt_at"] == NOW + timedelta(seconds=RETRY_BASE_S)
    assert deliver_due(s, s.database_url, now=NOW + timedelta(seconds=30)).claimed == 0
    assert deliver_due(s, s.database_url, now=NOW + timedelta(seconds=60)).sent == 1
    assert receivers.slack.copies_of(note_id) == 1
    assert deliveries(s, note_id) == [(1, "retry"), (2, "sent")]


def test_a_long_outage_loses_nothing(s: Settings, receivers: Receivers) -> None:
    note_id = queued(s, "c1")
    receivers.slack.fail_next = 10_000  # every request fails
    at, waits = NOW, []
    for _ in range(4):
        assert deliver_due(s, s.database_url, now=at).retrying == 1
        due = note(s, "c1")["next_attempt_at"]  # type: ignore[index]
        waits.append((due - at).total_seconds())
        at = due
    assert waits == [60, 120, 240, 480]  # backing off, never given up
    receivers.slack.fail_next = 0
    assert deliver_due(s, s.database_url, now=at).sent == 1
    assert receivers.slack.copies_of(note_id) == 1
    assert [o for _, o in deliveries(s, note_id)] == ["retry"] * 4 + ["sent"]


def test_a_lost_answer_is_found_in_the_dm_not_sent_again(s: Settings, receivers: Receivers) -> None:
    note_id = queued(s, "c1")
    receivers.slack.drop_after_accept = 1
    assert deliver_due(s, s.database_url, now=NOW).retrying == 1
    done = deliver_due(s, s.database_url, now=NOW + timedelta(minutes=5))
    assert (done.already_sent, done.messages) == (1, 0)
    assert receivers.slack.copies_of(note_id) == 1
    assert deliveries(s, note_id) == [(1, "retry"), (2, "already_sent")]
    assert note(s, "c1")["status"] == "sent"  # type: ignore[index]


def test_an_unreachable_rep_fails_until_they_choose_another_channel(
    s: Settings, receivers: Receivers
) -> None:
    del receivers.slack.users[ANA_EMAIL]  # not in the Slack workspace
    queued(s, "c1")
    assert deliver_due(s, s.database_url, now=NOW).failed == 1
    n = note(s, "c1")
    assert n is not None and n["status"] == "failed" and "users_not_found" in n["last_error"]
    prefer(s, channel="email")
    assert deliver_due(s, s.database_url, now=NOW).sent == 1
    assert len(receivers.inbox.to(ANA_EMAIL)) == 1


def test_email_refused_for_a_while_is_delivered_once(s: Settings, receivers: Receivers) -> None:
    prefer(s, channel="email")
    queued(s, "c1")
    receivers.inbox.fail_next = 4  # more than the sender's tries at once
    assert deliver_due(s, s.database_url, now=NOW).retrying == 1
    assert deliver_due(s, s.database_url, now=NOW + timedelta(minutes=1)).sent == 1
    assert len(receivers.inbox.to(ANA_EMAIL)) == 1


DELIVERER = """
from common.config import load_settings
from common.repnotes import deliver_due
s = load_settings()
deliver_due(s, s.database_url)
"""


def test_no_double_send_when_the_deliverer_is_killed_after_slack_took_the_message(
    s: Settings, receivers: Receivers
) -> None:
    note_id = queued(s, "c1", at=datetime.now(NOW.tzinfo))
    receivers.slack.hold_posts = True  # Slack keeps the message, then waits to answer
    env = {
        **os.environ,
        "DATABASE_URL": s.database_url,
        "REP_NOTES": "true",
        "SLACK_BOT_TOKEN": receivers.slack.token,
        "SLACK_API_URL": s.slack_api_url,
    }
    worker = subprocess.Popen([sys.executable, "-c", DELIVERER], cwd=ROOT, env=env)
    try:
        assert receivers.slack.accepted.wait(120), "the deliverer never posted"
        worker.kill()  # SIGKILL: between Slack's accepting and the note's marking
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    receivers.slack.hold_posts = False
    receivers.slack.release.set()
    n = note(s, "c1")
    assert n is not None and n["status"] == "sending" and receivers.slack.copies_of(note_id) == 1
    later = datetime.now(NOW.tzinfo) + timedelta(seconds=LEASE_S + 1)  # the lease has run out
    done = deliver_due(s, s.database_url, now=later)
    assert (done.claimed, done.already_sent, done.messages) == (1, 1, 0)
    assert receivers.slack.copies_of(note_id) == 1
    assert deliveries(s, note_id) == [(1, "unknown"), (2, "already_sent")]
    assert note(s, "c1")["status"] == "sent"  # type: ignore[index]


@pytest.mark.parametrize("cadence", ["each_call", "daily"])
def test_a_sent_note_is_never_rewritten(s: Settings, receivers: Receivers, cadence: str) -> None:
    prefer(s, cadence=cadence)
    queued(s, "c1")
    deliver_due(s, s.database_url, now=NOW + timedelta(days=8))
    before = note(s, "c1")
    with connect(s) as conn:
        assert queue_for_call(conn, "c1", s, now=NOW, looked=True) is None
    assert note(s, "c1") == before
