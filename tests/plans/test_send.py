"""Sending plans against the Slack stand-in and a real SMTP server: a draft is not sent until a
manager approves it (unless PLANS_SEND_UNAPPROVED, and then a day after drafting), by the rep's
note channel, once: a failure is retried, and a deliverer killed between Slack accepting the
message and the plan being marked sent does not send it again."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.config import ROOT, Settings
from common.plans import UNAPPROVED_WAIT, approve_plan, deliver_plans
from common.repnotes import set_preferences
from common.repnotes.deliver import LEASE_S, RETRY_BASE_S
from flows.weekly_plans import send_plans, weekly_plans
from tests.plans.world import (
    ANA,
    ANA_EMAIL,
    MANAGER,
    WEEK,
    add_week,
    deliveries,
    drafted,
    plan_row,
)
from tests.repnotes.conftest import Receivers
from tests.repnotes.world import NOW, connect


def approve(s: Settings, plan_id: int, now: datetime = NOW) -> None:
    with connect(s) as conn:
        approve_plan(conn, MANAGER, plan_id, now=now)


def copies(r: Receivers, plan_id: int) -> int:
    return sum(
        m.get("metadata", {}).get("event_payload", {}).get("plan_id") == plan_id
        for m in r.slack.messages_to(ANA_EMAIL)
    )


def test_a_draft_waits_for_approval_then_goes_once(s: Settings, receivers: Receivers) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    assert deliver_plans(s, s.database_url, now=NOW + timedelta(days=7)).claimed == 0
    assert not any(receivers.slack.channels.values()) and receivers.inbox.messages == []
    approve(s, plan_id, NOW + timedelta(hours=3))
    done = deliver_plans(s, s.database_url, now=NOW + timedelta(hours=3))
    assert (done.claimed, done.sent) == (1, 1)  # Ana's alone: Ben's and Cat's wait
    (message,) = receivers.slack.messages_to(ANA_EMAIL)
    assert message["metadata"] == {
        "event_type": "coaching_plan",
        "event_payload": {"plan_id": plan_id},
    }
    text = message["text"]
    assert "approved by Mia Manager" in text and "What is working" in text
    assert '*The customer said:* "We still are not sure about SSO."' in text
    p = plan_row(s, plan_id)
    assert f"<{p['exercise']['link']}|The moment in Gong>" in text
    assert f"acknowledge plan {plan_id}" in text
    assert (p["status"], p["channel"], p["sent_at"], p["sent_unapproved"]) == (
        "sent",
        "slack",
        NOW + timedelta(hours=3),
        False,
    )
    assert deliveries(s, plan_id) == [(1, "sent")]
    assert deliver_plans(s, s.database_url, now=NOW + timedelta(days=8)).claimed == 0
    assert copies(receivers, plan_id) == 1


def test_by_email_when_the_rep_chose_it(s: Settings, receivers: Receivers) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    with connect(s) as conn:
        set_preferences(conn, ANA, s, channel="email", cadence=None, now=NOW)
    approve(s, plan_id)
    assert deliver_plans(s, s.database_url, now=NOW).sent == 1
    (mail,) = receivers.inbox.to(ANA_EMAIL)
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert 'The customer said: "We still are not sure about SSO."' in body
    assert mail["Subject"] == "Your coaching plan for the week of Mon 23 Feb"
    assert receivers.slack.messages_to(ANA_EMAIL) == []
    assert plan_row(s, plan_id)["channel"] == "email"


def test_unapproved_drafts_go_only_with_the_setting_a_day_later(
    s: Settings, receivers: Receivers
) -> None:
    add_week(s)
    plans = drafted(s)
    assert deliver_plans(s, s.database_url, now=NOW + UNAPPROVED_WAIT).claimed == 0
    unapproved = s.model_copy(update={"plans_send_unapproved": True})
    assert deliver_plans(unapproved, s.database_url, now=NOW + timedelta(hours=23)).claimed == 0
    done = deliver_plans(unapproved, s.database_url, now=NOW + UNAPPROVED_WAIT)
    assert (done.claimed, done.sent) == (3, 3)
    (message,) = receivers.slack.messages_to(ANA_EMAIL)
    assert "your manager has not reviewed it" in message["text"]
    p = plan_row(s, plans["u-a"])
    assert (p["status"], p["sent_unapproved"], p["approved_at"]) == ("sent", True, None)


def test_a_failed_send_is_retried_later_and_sent_once(s: Settings, receivers: Receivers) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    approve(s, plan_id)
    receivers.slack.fail_method, receivers.slack.fail_next = "chat.postMessage", 1
    assert deliver_plans(s, s.database_url, now=NOW).retrying == 1
    p = plan_row(s, plan_id)
    assert p["status"] == "approved" and "HTTP 500" in p["last_error"]
    assert p["next_attempt_at"] == NOW + timedelta(seconds=RETRY_BASE_S)
    assert deliver_plans(s, s.database_url, now=NOW + timedelta(seconds=30)).claimed == 0
    assert deliver_plans(s, s.database_url, now=NOW + timedelta(seconds=60)).sent == 1
    assert copies(receivers, plan_id) == 1
    assert deliveries(s, plan_id) == [(1, "retry"), (2, "sent")]


def test_a_lost_answer_is_found_in_the_dm_not_sent_again(s: Settings, receivers: Receivers) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    approve(s, plan_id)
    receivers.slack.drop_after_accept = 1
    assert deliver_plans(s, s.database_url, now=NOW).retrying == 1
    done = deliver_plans(s, s.database_url, now=NOW + timedelta(minutes=5))
    assert (done.already_sent, done.sent) == (1, 0)
    assert copies(receivers, plan_id) == 1
    assert deliveries(s, plan_id) == [(1, "retry"), (2, "already_sent")]


DELIVERER = """
from common.config import load_settings
from common.plans import deliver_plans
s = load_settings()
deliver_plans(s, s.database_url)
"""


def test_no_double_send_when_the_deliverer_is_killed_after_slack_took_the_message(
    s: Settings, receivers: Receivers
) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    approve(s, plan_id, datetime.now(UTC))
    receivers.slack.hold_posts = True  # Slack keeps the message, then waits to answer
    env = {
        **os.environ,
        "DATABASE_URL": s.database_url,
        "SLACK_BOT_TOKEN": receivers.slack.token,
        "SLACK_API_URL": s.slack_api_url,
    }
    worker = subprocess.Popen([sys.executable, "-c", DELIVERER], cwd=ROOT, env=env)
    try:
        assert receivers.slack.accepted.wait(120), "the deliverer never posted"
        worker.kill()  # SIGKILL: between Slack's accepting and the plan's marking
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    receivers.slack.hold_posts = False
    receivers.slack.release.set()
    p = plan_row(s, plan_id)
    assert (p["status"], p["sent_at"]) == ("approved", None) and p["lease_owner"]
    assert copies(receivers, plan_id) == 1
    assert deliver_plans(s, s.database_url).claimed == 0  # the dead worker's lease holds
    later = datetime.now(UTC) + timedelta(seconds=LEASE_S + 1)  # the lease has run out
    done = deliver_plans(s, s.database_url, now=later)
    assert (done.claimed, done.already_sent, done.sent) == (1, 1, 0)
    assert copies(receivers, plan_id) == 1
    assert deliveries(s, plan_id) == [(1, "unknown"), (2, "already_sent")]
    assert plan_row(s, plan_id)["status"] == "sent"


def test_the_flows_draft_last_week_and_send_what_is_approved(
    s: Settings, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_week(s)
    env: dict[str, Any] = {
        "DATABASE_URL": s.database_url,
        "SLACK_BOT_TOKEN": receivers.slack.token,
        "SLACK_API_URL": s.slack_api_url,
        "PLANS_SEND_UNAPPROVED": "false",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    done = weekly_plans.fn(week_start=WEEK)
    assert (done["week_start"], done["drafted"], done["claimed"]) == ("2026-02-23", 3, 0)
    with connect(s) as conn:
        plan_id = conn.execute("SELECT id FROM weekly_plans WHERE rep_id = 'u-a'").fetchone()
    assert plan_id is not None
    approve(s, plan_id["id"], datetime.now(UTC))
    assert send_plans.fn()["sent"] == 1
    assert copies(receivers, plan_id["id"]) == 1
