"""One sender of messages to a person, by Slack direct message or e-mail, with retries.

- `slack`: the Slack Web API (`users.lookupByEmail`, `conversations.open`, `chat.postMessage`
  with message metadata, `conversations.history` to read back what was posted).
- `email`: SMTP, with a Message-ID derived from the message's key (the same message sent
  twice is the same e-mail to the receiving side).

`send` retries at once only what certainly sent nothing (a refused connection, a rate limit,
a look-up): a post whose answer was lost may have gone out, so it is not repeated here; the
caller reschedules it and, before sending again, asks `posted` what went out (Slack: the DM's
history, by the metadata each message carries; e-mail cannot be asked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from common.config import Settings
from common.errors import CoachError

Channel = Literal["slack", "email"]
CHANNELS: tuple[Channel, ...] = ("slack", "email")
TRIES = 3  # in-process tries of what certainly sent nothing
PAUSE_S = 0.5  # first pause between them (doubles)
LONGEST_WAIT_S = 5.0  # a longer Retry-After is the caller's to wait (it reschedules)
T = TypeVar("T")
log = logging.getLogger("sales_coach.notify")

__all__ = [
    "CHANNELS",
    "Channel",
    "Message",
    "NotifyError",
    "Receipt",
    "attempt",
    "configured",
    "posted",
    "send",
]


class NotifyError(CoachError):
    """A message was not delivered. `transient`: try again later (an outage, a rate limit, a
    setting to fix); else the recipient cannot be reached this way (no address, unknown to
    Slack, refused by the mail server). `uncertain`: it may have been delivered all the same
    (the answer was lost), so look before sending it again."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        uncertain: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.uncertain = uncertain
        self.retry_after_s = retry_after_s


class Message(BaseModel):
    """One message to one person, in each channel's form."""

    key: str  # stable for this content: the e-mail's Message-ID is built from it
    subject: str  # e-mail subject
    text: str  # plain text (e-mail)
    slack_text: str  # Slack mrkdwn (escaped)
    event_type: str  # Slack message metadata: what kind of message this is
    event_payload: dict[str, Any]  # ... and which (read back by `posted`)


class Receipt(BaseModel):
    channel: Channel
    ref: str  # Slack: the message's ts; e-mail: its Message-ID


def attempt(fn: Callable[[], T], *, idempotent: bool, tries: int = TRIES) -> T:
    """`fn`, tried again (with a short pause) after a transient failure that certainly sent
    nothing, or after any transient failure when `idempotent` (a look-up)."""
    for n in range(tries):
        try:
            return fn()
        except NotifyError as exc:
            wait = exc.retry_after_s if exc.retry_after_s is not None else PAUSE_S * 2**n
            retry = exc.transient and (idempotent or not exc.uncertain)
            if not retry or n == tries - 1 or wait > LONGEST_WAIT_S:
                raise
            log.info("notify: %s; trying again in %.1f s", exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def configured(s: Settings) -> list[Channel]:
    """The channels this installation can send by."""
    on: dict[Channel, bool] = {"slack": bool(s.slack_bot_token), "email": bool(s.smtp_host)}
    return [c for c in CHANNELS if on[c]]


def send(s: Settings, channel: Channel, address: str | None, message: Message) -> Receipt:
    """Deliver `message` to the person with e-mail `address` by `channel`; raises
    `NotifyError` when it did not (or may not have) gone out."""
    if not address:
        raise NotifyError("no e-mail address on file for this person", transient=False)
    if channel == "slack":
        from common.notify import slack

        return Receipt(channel="slack", ref=slack.send(s, address, message))
    from common.notify import email

    return Receipt(channel="email", ref=email.send(s, address, message))


def posted(
    s: Settings, channel: Channel, address: str | None, event_type: str, since: datetime
) -> list[dict[str, Any]]:
    """The metadata payloads of the messages of `event_type` posted to this person since
    `since`: Slack's DM history. E-mail cannot be read back ([]): a resent e-mail carries the
    same Message-ID instead."""
    if channel != "slack" or not address:
        return []
    from common.notify import slack

    return slack.posted(s, address, event_type, since)
