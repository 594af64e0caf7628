"""The rep's note after each call (issue 30, item 1): two or three sentences and one next
action, tied to the moment of the call that matters most, from the scores a person may see and
their evidence only; delivered by Slack DM or e-mail as the rep prefers, acknowledged with one
click or a tool.

- `compose`: the note, written from the rubric, the shown scores and the rep's recent scores
  (pure; no model call).
- `prefs`: a rep's channel, cadence (each call, daily, weekly, off) and their manager's hold,
  and when a note is due.
- `outbox`: the only writer of the notes, preferences and delivery log: queueing, the
  delivery's states, acknowledgements, preferences and holds.
- `deliver`: the deliverer (leases, digests, retries, no double send) and the signed
  acknowledgement link.

Hooks: the analysis calls `queue_for_call` when a call's scores are final; a manager's review
calls `after_review` (which also releases a note held for their look).
"""

from __future__ import annotations

import logging

import psycopg

from common.config import Settings
from common.db import Row
from common.repnotes.compose import CallFacts, Draft, Moment, Shown, compose
from common.repnotes.deliver import (
    ACK_PATH,
    EVENT_TYPE,
    Delivered,
    ack_link,
    ack_page,
    acknowledge_by_link,
    deliver_due,
    render,
    verified_note,
)
from common.repnotes.outbox import (
    NoteAcknowledged,
    acknowledge_as,
    hold_notes,
    queue_for_call,
    set_preferences,
)
from common.repnotes.prefs import CADENCES, Cadence, NotePreferences, due_at

log = logging.getLogger("sales_coach.repnotes")


def after_review(conn: psycopg.Connection[Row], call_id: str, s: Settings) -> int | None:
    """A manager confirmed or changed a score of the call: its note is (re)written from what
    is shown now and, if it was held for their look, released."""
    return queue_for_call(conn, call_id, s, looked=True)


def follow_review(conn: psycopg.Connection[Row], call_id: str, s: Settings) -> None:
    """`after_review` in a savepoint: a failure is logged and leaves the person's word
    recorded (a review, a manager's score, a resolved dispute)."""
    try:
        with conn.transaction():
            after_review(conn, call_id, s)
    except Exception as exc:
        log.warning("rep note for call %s not queued: %s", call_id, type(exc).__name__)


__all__ = [
    "ACK_PATH",
    "CADENCES",
    "EVENT_TYPE",
    "Cadence",
    "CallFacts",
    "Delivered",
    "Draft",
    "Moment",
    "NoteAcknowledged",
    "NotePreferences",
    "Shown",
    "ack_link",
    "ack_page",
    "acknowledge_as",
    "acknowledge_by_link",
    "after_review",
    "compose",
    "deliver_due",
    "due_at",
    "follow_review",
    "hold_notes",
    "queue_for_call",
    "render",
    "set_preferences",
    "verified_note",
]
