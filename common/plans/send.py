"""Delivering the due plans (flows/weekly_plans.py), by the rep's channel of their note
preferences (`common.repnotes.prefs`: Slack DM or e-mail), through `common.notify`.

A run leases the due plans (`store.claim`: approved ones; drafts only with
PLANS_SEND_UNAPPROVED, a day after drafting), sends each as one message and marks it sent.
Nothing is lost and nothing is sent twice, as with the rep's notes:

- a failure is retried later (backoff from the notes' `RETRY_BASE_S` doubling to `RETRY_MAX_S`);
  a rep who cannot be reached this way is tried again after `RETRY_MAX_S` (they may have
  chosen another channel meanwhile);
- a plan tried before (its worker died between sending and marking, or the answer to its post
  was lost) is first looked up in the rep's Slack DM by the metadata every plan message
  carries (`EVENT_TYPE`, the plan id): found, it is marked sent without sending. An e-mail
  cannot be looked up; sent again it carries the same Message-ID.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from common import notify
from common.config import Settings
from common.db import Db, transaction
from common.notify import NotifyError
from common.notify.slack import escape, link
from common.plans import store
from common.plans.draft import Exercise, PlanItem
from common.plans.store import Claimed
from common.repnotes.deliver import LEASE_S, RETRY_BASE_S, RETRY_MAX_S

EVENT_TYPE = "coaching_plan"  # Slack message metadata of every plan message
BATCH = 200  # plans claimed per run
log = logging.getLogger("sales_coach.plans")


class PlansDelivered(BaseModel):
    claimed: int = 0
    sent: int = 0  # plans sent now
    already_sent: int = 0  # plans a lost attempt had delivered (found, not sent again)
    retrying: int = 0
    unreachable: int = 0  # the rep cannot be reached by their channel (tried again later)


def deliver_plans(
    s: Settings,
    db: Db,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    limit: int = BATCH,
    lease_s: float = LEASE_S,
) -> PlansDelivered:
    """Send the plans due at `now` (default: the clock's now); see the module's docstring."""
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    start = clock()
    with transaction(db) as conn:
        claimed = store.claim(
            conn, s, now=start, worker=worker, until=start + timedelta(seconds=lease_s), limit=limit
        )
    report = PlansDelivered(claimed=len(claimed))
    for plan in claimed:
        _deliver(s, db, plan, worker, clock, report)
    return report


def _deliver(
    s: Settings,
    db: Db,
    plan: Claimed,
    worker: str,
    clock: Callable[[], datetime],
    report: PlansDelivered,
) -> None:
    try:
        if plan.attempts > 1 and _already_sent(s, plan):  # tried before: did that go out?
            with transaction(db) as conn:
                store.mark_sent(conn, plan, worker, now=clock(), ref=None, outcome="already_sent")
            report.already_sent += 1
            return
        receipt = notify.send(s, plan.channel, plan.email, render(plan))
    except NotifyError as exc:
        _not_delivered(db, plan, worker, clock(), exc, report)
        return
    except Exception as exc:  # a surprise (an answer of another shape): the other reps go on
        log.exception("plan %s: sending failed", plan.id)
        lost = NotifyError(type(exc).__name__, transient=True, uncertain=True)
        _not_delivered(db, plan, worker, clock(), lost, report)
        return
    with transaction(db) as conn:
        store.mark_sent(conn, plan, worker, now=clock(), ref=receipt.ref)
    report.sent += 1


def _already_sent(s: Settings, plan: Claimed) -> bool:
    """Whether the plan is in the rep's DM (Slack); e-mail: it cannot be found."""
    payloads = notify.posted(s, plan.channel, plan.email, EVENT_TYPE, plan.created_at)
    return any(str(p.get("plan_id")) == str(plan.id) for p in payloads)


def _not_delivered(
    db: Db, plan: Claimed, worker: str, now: datetime, exc: NotifyError, report: PlansDelivered
) -> None:
    error = str(exc)[:500]
    wait = RETRY_MAX_S
    if exc.transient:
        wait = max(
            min(RETRY_BASE_S * 2 ** (plan.attempts - 1), RETRY_MAX_S), exc.retry_after_s or 0
        )
    outcome = "retry" if exc.transient else "failed"
    with transaction(db) as conn:
        store.mark_retry(
            conn,
            plan,
            worker,
            now=now,
            error=error,
            next_at=now + timedelta(seconds=wait),
            outcome=outcome,
        )
    if exc.transient:
        report.retrying += 1
    else:
        report.unreachable += 1
    log.warning(
        "plan %s of rep %s not delivered by %s (%s): %s",
        plan.id,
        plan.rep_id,
        plan.channel,
        outcome,
        error,
    )


# -- the message -----------------------------------------------------------------------------


def render(plan: Claimed) -> notify.Message:
    """The plan as one message: what is working, what to tighten, the exercise, and how to
    acknowledge it."""
    week = f"{plan.week_start:%a %d %b}"
    who = (
        f"approved by {plan.approved_by_name}"
        if plan.approved_by_name
        else "drafted from your scores; your manager has not reviewed it"
    )
    head = f"Your coaching plan for the week of {week} ({who})"
    text, slack = [head, ""], [f"*Your coaching plan for the week of {week}* ({escape(who)})"]
    for title, items in (("What is working", plan.working), ("What to tighten", plan.tighten)):
        if items:
            text += [title, *_items_text(items), ""]
            slack += [f"*{title}*", *_items_slack(items)]
    if plan.exercise:
        text += ["Your exercise", *_exercise_text(plan.exercise), ""]
        slack += ["*Your exercise*", *_exercise_slack(plan.exercise)]
    ack = f"Got it? Tell Claude: acknowledge plan {plan.id}"
    return notify.Message(
        key=f"weekly-plan-{plan.id}",
        subject=f"Your coaching plan for the week of {week}",
        text="\n".join([*text, ack]),
        slack_text="\n".join([*slack, escape(ack)]),
        event_type=EVENT_TYPE,
        event_payload={"plan_id": plan.id},
    )


def _http(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def _items_text(items: list[PlanItem]) -> list[str]:
    lines = []
    for i, item in enumerate(items, 1):
        lines.append(f"{i}. {item.text}")
        m = item.moment
        if m:
            where = _http(m.link)
            lines.append(f'   "{m.quote}" ({m.call_title}{", " + where if where else ""})')
    return lines


def _items_slack(items: list[PlanItem]) -> list[str]:
    lines = []
    for i, item in enumerate(items, 1):
        line = f"{i}. {escape(item.text)}"
        m = item.moment
        if m:
            url = _http(m.link)
            said = f'"{m.quote}"'
            line += f"  {link(url, said) if url else escape(said)}"
        lines.append(line)
    return lines


def _said(ex: Exercise) -> tuple[str, str] | None:
    if ex.customer_said:
        return "The customer said", ex.customer_said
    if ex.rep_said:
        return "You said", ex.rep_said
    return None


def _exercise_text(ex: Exercise) -> list[str]:
    lines = [f"Situation: {ex.situation}"]
    said = _said(ex)
    if said:
        lines.append(f'{said[0]}: "{said[1]}"')
    url = _http(ex.link)
    if url:
        lines.append(f"The moment in Gong: {url}")
    lines.append(f"A strong answer covers: {ex.strong_answer}")
    return lines


def _exercise_slack(ex: Exercise) -> list[str]:
    lines = [f"*Situation:* {escape(ex.situation)}"]
    said = _said(ex)
    if said:
        lines.append(f'*{said[0]}:* "{escape(said[1])}"')
    url = _http(ex.link)
    if url:
        lines.append(link(url, "The moment in Gong"))
    lines.append(f"*A strong answer covers:* {escape(ex.strong_answer)}")
    return lines
