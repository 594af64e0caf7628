"""Delivering the due notes (flows/rep_notes.py, every five minutes), and the one-click
acknowledgement link.

A run leases the due notes (`outbox.claim`), groups them (a rep on a daily or weekly cadence
gets one digest of all their due notes; a rep on each_call one message per note), sends each
group by the rep's channel (`common.notify`) and marks it sent. Nothing is lost and nothing is
sent twice:

- a failure is retried later (backoff from `RETRY_BASE_S` doubling to `RETRY_MAX_S`), whatever
  it was; a recipient who cannot be reached this way (no address, unknown to Slack) is marked
  failed and queued again when they change their preferences;
- a note tried before (its worker died between sending and marking, or the answer to its post
  was lost) is first looked up in the rep's Slack DM by the metadata every note message
  carries (`EVENT_TYPE`, the note ids): found, it is marked sent without sending. An e-mail
  cannot be looked up; sent again it carries the same Message-ID.

The acknowledgement link carries the note id and an HMAC of it (ACK_LINK_SECRET), served by the
HTTP MCP server at MCP_PUBLIC_URL/notes/ack: opening it shows a one-button page (a link
previewer or a mail scanner that opens links acknowledges nothing), the button records the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from common import notify
from common.config import Settings
from common.db import Db, transaction
from common.notify import NotifyError
from common.notify.slack import escape, link
from common.repnotes import outbox
from common.repnotes.outbox import Claimed, NoteAcknowledged

EVENT_TYPE = "coaching_note"  # Slack message metadata of every note message
LEASE_S = 300.0  # a sender's hold on the notes it claimed (sending takes seconds)
RETRY_BASE_S = 60.0
RETRY_MAX_S = 6 * 3600.0
BATCH = 200  # notes claimed per run
ACK_PATH = "/notes/ack"
log = logging.getLogger("sales_coach.repnotes")


class Delivered(BaseModel):
    claimed: int = 0
    messages: int = 0  # messages sent now (a digest is one)
    sent: int = 0  # notes delivered now
    already_sent: int = 0  # notes a lost attempt had delivered (found, not sent again)
    retrying: int = 0
    failed: int = 0


def deliver_due(
    s: Settings,
    db: Db,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    limit: int = BATCH,
    lease_s: float = LEASE_S,
) -> Delivered:
    """Send the notes due at `now` (default: the clock's now); see the module's docstring."""
    if not s.rep_notes:
        return Delivered()
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    start = clock()
    with transaction(db) as conn:
        claimed = outbox.claim(
            conn, s, now=start, worker=worker, until=start + timedelta(seconds=lease_s), limit=limit
        )
    report = Delivered(claimed=len(claimed))
    for group in groups(claimed):
        _deliver(s, db, group, worker, clock, report)
    return report


def groups(claimed: list[Claimed]) -> list[list[Claimed]]:
    """One group per message: a digest rep's notes together, else each note alone."""
    out: dict[str, list[Claimed]] = {}
    for n in claimed:
        digest = n.cadence in ("daily", "weekly")
        out.setdefault(f"{n.rep_id}:{n.channel}" if digest else f"note:{n.id}", []).append(n)
    return list(out.values())


def _deliver(
    s: Settings,
    db: Db,
    group: list[Claimed],
    worker: str,
    clock: Callable[[], datetime],
    report: Delivered,
) -> None:
    first = group[0]
    rest = group
    try:
        if any(n.attempts > 1 for n in group):  # tried before: did that attempt go out?
            found = _already_sent(s, group)
            done, rest = (
                [n for n in group if n.id in found],
                [n for n in group if n.id not in found],
            )
            if done:
                with transaction(db) as conn:
                    outbox.mark_sent(
                        conn, done, worker, now=clock(), ref=None, outcome="already_sent"
                    )
                report.already_sent += len(done)
        if not rest:
            return
        receipt = notify.send(s, first.channel, first.email, render(s, rest))
    except NotifyError as exc:
        _not_delivered(db, rest, worker, clock(), exc, report)
        return
    except Exception as exc:  # a surprise (an answer of another shape): the other reps go on
        log.exception("notes %s: sending failed", [n.id for n in rest])
        lost = NotifyError(type(exc).__name__, transient=True, uncertain=True)
        _not_delivered(db, rest, worker, clock(), lost, report)
        return
    with transaction(db) as conn:
        outbox.mark_sent(conn, rest, worker, now=clock(), ref=receipt.ref)
    report.messages += 1
    report.sent += len(rest)


def _already_sent(s: Settings, group: list[Claimed]) -> set[int]:
    """Ids of the group's notes found in the rep's DM (Slack); e-mail: none can be found."""
    first = group[0]
    since = min(n.created_at for n in group)
    payloads = notify.posted(s, first.channel, first.email, EVENT_TYPE, since)
    found: set[int] = set()
    for p in payloads:
        ids = p.get("note_ids") or [p.get("note_id")]
        found |= {int(i) for i in ids if isinstance(i, int | str) and str(i).isdigit()}
    return found & {n.id for n in group}


def _not_delivered(
    db: Db, notes: list[Claimed], worker: str, now: datetime, exc: NotifyError, report: Delivered
) -> None:
    error = str(exc)[:500]
    with transaction(db) as conn:
        if exc.transient:
            wait = min(RETRY_BASE_S * 2 ** (max(n.attempts for n in notes) - 1), RETRY_MAX_S)
            wait = max(wait, exc.retry_after_s or 0.0)
            outbox.mark_retry(
                conn, notes, worker, now=now, error=error, next_at=now + timedelta(seconds=wait)
            )
            report.retrying += len(notes)
        else:
            outbox.mark_failed(conn, notes, worker, now=now, error=error)
            report.failed += len(notes)
    log.warning(
        "notes %s of rep %s not delivered by %s (%s): %s",
        [n.id for n in notes],
        notes[0].rep_id,
        notes[0].channel,
        "will retry" if exc.transient else "failed",
        error,
    )


# -- the message -----------------------------------------------------------------------------


def render(s: Settings, notes: list[Claimed]) -> notify.Message:
    """One note's message, or a digest of several (one next action: the latest note's)."""
    ids = [n.id for n in notes]
    payload: dict[str, object] = {"note_id": ids[0], "note_ids": ids}
    if len(notes) == 1:
        return _single(s, notes[0], payload)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:12]
    latest = max(notes, key=lambda n: (n.started_at or n.created_at, n.id))
    text = [f"Your coaching notes: {len(notes)} calls", ""]
    slack = [f"*Your coaching notes: {len(notes)} calls*"]
    for i, n in enumerate(sorted(notes, key=lambda n: (n.started_at or n.created_at, n.id)), 1):
        text += [f'{i}. "{n.title}" ({_day(s, n)}): {n.body}', *_links_text(s, n), ""]
        slack += [
            f'{i}. *"{escape(n.title)}"* ({_day(s, n)}): {escape(n.body)}',
            _links_slack(s, n),
        ]
    text.append(f'Your one next action (from "{latest.title}"): {latest.action}')
    slack.append(f'*Your one next action* (from "{escape(latest.title)}"): {escape(latest.action)}')
    return notify.Message(
        key=f"rep-notes-{ids[0]}-{digest}",
        subject=f"Your coaching notes: {len(notes)} calls",
        text="\n".join(text),
        slack_text="\n".join(slack),
        event_type=EVENT_TYPE,
        event_payload=payload,
    )


def _single(s: Settings, n: Claimed, payload: dict[str, object]) -> notify.Message:
    head = f'Coaching note on "{n.title}" ({_day(s, n)})'
    text = [head, "", n.body, "", f"Next action: {n.action}", "", *_links_text(s, n)]
    slack = [
        f'*Coaching note on "{escape(n.title)}"* ({_day(s, n)})',
        escape(n.body),
        f"*Next action:* {escape(n.action)}",
        _links_slack(s, n),
    ]
    return notify.Message(
        key=f"rep-note-{n.id}",
        subject=f"Coaching note: {n.title}",
        text="\n".join(text),
        slack_text="\n".join(slack),
        event_type=EVENT_TYPE,
        event_payload=payload,
    )


def _moment(n: Claimed) -> tuple[str | None, str]:
    url = n.moment_link or n.call_url
    label = f"The moment at {n.moment_at} in Gong" if n.moment_at else "The call in Gong"
    return (url if url and url.startswith(("https://", "http://")) else None), label


def _links_text(s: Settings, n: Claimed) -> list[str]:
    url, label = _moment(n)
    lines = [f"{label}: {url}"] if url else []
    ack = ack_link(s, n.id)
    lines.append(
        f"Got it? One click: {ack}" if ack else f"Got it? Tell Claude: acknowledge note {n.id}"
    )
    return lines


def _links_slack(s: Settings, n: Claimed) -> str:
    url, label = _moment(n)
    ack = ack_link(s, n.id)
    parts = [link(url, label)] if url else []
    parts.append(link(ack, "Got it") if ack else f"Got it? Tell Claude: acknowledge note {n.id}")
    return "  ·  ".join(parts)


def _day(s: Settings, n: Claimed) -> str:
    when = n.started_at or n.created_at
    return f"{when.astimezone(ZoneInfo(s.report_timezone)):%a %d %b}"


# -- the acknowledgement link ----------------------------------------------------------------


def _signature(secret: str, note_id: int) -> str:
    mac = hmac.new(secret.encode(), f"rep-note-ack:{note_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def ack_link(s: Settings, note_id: int) -> str | None:
    """The note's one-click acknowledgement link; None without ACK_LINK_SECRET and
    MCP_PUBLIC_URL."""
    if not (s.ack_link_secret and s.mcp_public_url):
        return None
    sig = _signature(s.ack_link_secret.get_secret_value(), note_id)
    query = urlencode({"note": note_id, "sig": sig})
    return f"{s.mcp_public_url.rstrip('/')}{ACK_PATH}?{query}"


def verified_note(s: Settings, note: str | None, sig: str | None) -> int | None:
    """The note id a link names, when its signature holds."""
    if not (s.ack_link_secret and note and sig and note.isdigit()):
        return None
    expected = _signature(s.ack_link_secret.get_secret_value(), int(note))
    return int(note) if hmac.compare_digest(expected.encode(), sig.encode()) else None


def acknowledge_by_link(
    s: Settings, db: Db, note: str | None, sig: str | None, now: datetime | None = None
) -> NoteAcknowledged | None:
    """A click on the link: the note's acknowledgement (None: a bad link or no sent note)."""
    note_id = verified_note(s, note, sig)
    if note_id is None:
        return None
    with transaction(db) as conn:
        return outbox.acknowledge(conn, note_id, via="link", now=now or datetime.now(UTC))


def ack_page(done: NoteAcknowledged | None, *, confirm: bool) -> str:
    """The page the link opens: a button (`confirm`), or what the click recorded."""
    if confirm:
        body = (
            "<p>Confirm that you have read this coaching note.</p>"
            '<form method="post"><button type="submit">Got it</button></form>'
        )
    elif done is None:
        body = "<p>This link is not valid (or its note was not sent to you).</p>"
    else:
        when = f"{done.acknowledged_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        body = f"<p>Thanks: acknowledged at {html.escape(when)}.</p>"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Coaching note</title>'
        '<meta name="viewport" content="width=device-width"></head>'
        f"<body><h1>Coaching note</h1>{body}</body></html>"
    )
