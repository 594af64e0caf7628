"""The only writer of `rep_notes`, `rep_note_prefs` and `rep_note_deliveries`.

- Queueing: `queue_for_call` writes a call's note from the scores a person may see (one note
  per call and rep; rewritten while it is unsent, never after), due by the rep's cadence, held
  when their manager holds their notes (released by the manager's review of the call).
- Delivery's states: `claim` (due notes, and notes whose sender's lease expired, under a
  lease; each attempt logged), `mark_sent`, `mark_retry`, `mark_failed` (only the lease's
  owner may mark).
- A person's word: `acknowledge` (the rep, by link or tool; the first time is kept),
  `set_preferences` (the rep's own), `hold_notes` (their manager).

Scores are read as `common.validity.source` reads them: a dimension's shown score, the AI's
criterion scores of a dimension published or confirmed by a person, a manager's own criterion
scores in their place; nothing held for review.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import psycopg
from pydantic import BaseModel

from common import rubrics as rubric_files
from common.access import Caller, find_rep, require_role
from common.config import Settings
from common.db import Row
from common.errors import AccessDenied, InvalidRequest
from common.notify import Channel, configured
from common.repnotes import prefs
from common.repnotes.compose import CallFacts, Draft, Moment, Shown, compose
from common.rubrics import Criterion, RubricSet
from common.validity.source import call_scores

log = logging.getLogger("sales_coach.repnotes")
UNSENT = ("pending", "held")

# -- queueing --------------------------------------------------------------------------------

_DIMENSIONS = """
SELECT s.dimension, s.state, s.not_applicable, coalesce(m.confirms_ai, false) AS confirmed,
       s.result, cs.rubric_version
FROM shown_scores s
LEFT JOIN manager_scores m ON m.id = s.manager_score_id
JOIN current_sessions cs ON cs.id = s.session_id AND cs.call_id = s.call_id
WHERE s.call_id = %s AND NOT s.held
ORDER BY s.dimension
"""

_MANAGER_CRITERIA = """
SELECT DISTINCT ON (dimension, criterion) dimension, criterion, score
FROM manager_scores WHERE call_id = %s AND criterion <> 'overall'
ORDER BY dimension, criterion, scored_at DESC, id DESC
"""


def queue_for_call(
    conn: psycopg.Connection[Row],
    call_id: str,
    s: Settings,
    *,
    looked: bool = False,
    now: datetime | None = None,
    rubric_set: RubricSet | None = None,
) -> int | None:
    """Queue (or rewrite, while unsent) the rep's note for this call; `looked`: a manager has
    just given their word on the call, which releases a held note. Returns the note's id, or
    None when nothing was queued (notes off, nothing shown yet, already sent)."""
    if not s.rep_notes:
        return None
    now = now or datetime.now(UTC)
    call = conn.execute(  # the rep: a known, active user
        "SELECT c.id, c.title, c.url, c.started_at, c.primary_user_id FROM calls c"
        " JOIN users u ON u.id = c.primary_user_id"
        " WHERE c.id = %s AND u.deleted_at IS NULL AND u.active",
        (call_id,),
    ).fetchone()
    if call is None:
        return None
    rep_id = call["primary_user_id"]
    chosen = prefs.load(conn, rep_id, s)
    if chosen.cadence == "off":
        return None
    facts, rubric = call_facts(conn, call, rubric_set or rubric_files.load(s.rubrics_dir))
    draft = compose(
        facts, history(conn, rep_id, call), rubric, previous_focus(conn, rep_id, call_id)
    )
    if draft is None:
        return None
    status = "held" if chosen.manager_hold and not looked else "pending"
    due = prefs.due_at(chosen.cadence, now, s.report_timezone)
    return _upsert(conn, call_id, rep_id, draft, status, due, looked)


def call_facts(
    conn: psycopg.Connection[Row], call: Row, rubric_set: RubricSet
) -> tuple[CallFacts, dict[str, Criterion]]:
    """The call's criterion scores a person may see, with their evidence, and the rubric's
    criteria they were scored with (by `dimension.criterion`)."""
    shown: dict[str, Shown] = {}
    rubric: dict[str, Criterion] = {}
    for d in conn.execute(_DIMENSIONS, (call["id"],)).fetchall():
        rubric |= _rubric_of(rubric_set, d["dimension"], d["rubric_version"])
        if d["not_applicable"] or not (d["state"] == "published" or d["confirmed"]):
            continue
        for c in (d["result"] or {}).get("criteria") or []:
            if isinstance(c.get("score"), int | float):
                item = _shown(d["dimension"], c)
                shown[item.key] = item
    for m in conn.execute(_MANAGER_CRITERIA, (call["id"],)).fetchall():
        key = f"{m['dimension']}.{m['criterion']}"
        if m["score"] is None:  # the manager says N/A
            shown.pop(key, None)
            continue
        known = shown.get(key)
        criterion = rubric.get(key)
        shown[key] = Shown(
            dimension=m["dimension"],
            criterion_id=m["criterion"],
            name=known.name if known else (criterion.name if criterion else m["criterion"]),
            weight=known.weight if known else (criterion.weight if criterion else 0.25),
            score=float(m["score"]),
            evidence=known.evidence if known else [],
        )
    facts = CallFacts(
        call_id=call["id"],
        rep_id=call["primary_user_id"],
        title=call["title"] or call["id"],
        url=call["url"],
        started_at=call["started_at"],
        criteria=list(shown.values()),
    )
    return facts, rubric


def _shown(dimension: str, c: dict[str, Any]) -> Shown:
    return Shown(
        dimension=dimension,
        criterion_id=str(c.get("criterion_id")),
        name=str(c.get("name") or c.get("criterion_id")),
        weight=float(c.get("weight") or 0.25),
        score=float(c["score"]),
        evidence=[
            Moment(
                quote=str(e.get("quote") or ""),
                timestamp=str(e.get("timestamp") or ""),
                link=_http(e.get("link")),
                said_by=e.get("said_by"),
            )
            for e in c.get("evidence") or []
            if e.get("quote")
        ],
    )


def _http(url: object) -> str | None:
    text = str(url or "").strip()
    return text if text.startswith(("https://", "http://")) else None


def _rubric_of(rubric_set: RubricSet, dimension: str, version: str | None) -> dict[str, Criterion]:
    """The criteria of the rubric (or the variant its version names) a session was scored
    with, as they are in rubrics/ now."""
    variant = (version or "").partition("+variant.")[2] or None
    if variant in rubric_set.variants:
        rubric = rubric_set.variants[variant]
    elif dimension in rubric_set.rubrics:
        rubric = rubric_set.rubrics[dimension]
    else:
        return {}
    return {f"{dimension}.{c.id}": c for c in rubric.criteria}


def history(conn: psycopg.Connection[Row], rep_id: str, call: Row) -> dict[str, list[float]]:
    """The rep's shown criterion scores on calls before this one, newest first."""
    before = call["started_at"]
    rows = [
        r
        for r in call_scores(conn, {rep_id})
        if r.criterion != "overall"
        and r.call_id != call["id"]
        and (before is None or r.started_at < before)
    ]
    out: dict[str, list[float]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.started_at, reverse=True):
        out[f"{r.dimension}.{r.criterion}"].append(r.score)
    return dict(out)


def previous_focus(conn: psycopg.Connection[Row], rep_id: str, call_id: str) -> str | None:
    row = conn.execute(
        "SELECT focus FROM rep_notes WHERE rep_id = %s AND call_id <> %s"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (rep_id, call_id),
    ).fetchone()
    return row["focus"] if row else None


def _upsert(
    conn: psycopg.Connection[Row],
    call_id: str,
    rep_id: str,
    d: Draft,
    status: str,
    due: datetime,
    looked: bool,
) -> int | None:
    row = conn.execute(
        """
        INSERT INTO rep_notes AS n (call_id, rep_id, body, action, moment_link, moment_at, focus,
                                    praise, status, next_attempt_at)
        VALUES (%(call)s, %(rep)s, %(body)s, %(action)s, %(link)s, %(at)s, %(focus)s,
                %(praise)s, %(status)s, %(due)s)
        ON CONFLICT (call_id, rep_id) DO UPDATE SET
            body = excluded.body, action = excluded.action, moment_link = excluded.moment_link,
            moment_at = excluded.moment_at, focus = excluded.focus, praise = excluded.praise,
            status = CASE WHEN %(looked)s THEN 'pending' ELSE n.status END,
            updated_at = now()
        WHERE n.status IN ('pending', 'held')
        RETURNING n.id
        """,
        {
            "call": call_id,
            "rep": rep_id,
            "body": d.body,
            "action": d.action,
            "link": d.moment_link,
            "at": d.moment_at,
            "focus": d.focus,
            "praise": d.praise,
            "status": status,
            "due": due,
            "looked": looked,
        },
    ).fetchone()
    return int(row["id"]) if row else None


# -- delivery --------------------------------------------------------------------------------


class Claimed(BaseModel):
    """A note a worker holds the lease of, with what sending it needs."""

    id: int
    delivery_id: int  # its attempt's row in the delivery log
    call_id: str
    rep_id: str
    body: str
    action: str
    moment_link: str | None
    moment_at: str | None
    attempts: int  # including this one
    created_at: datetime
    title: str
    call_url: str | None
    started_at: datetime | None
    email: str | None
    rep_name: str
    channel: Channel
    cadence: prefs.Cadence


_CLAIM = """
WITH due AS (
    SELECT id FROM rep_notes
    WHERE (status = 'pending' AND next_attempt_at <= %(now)s)
       OR (status = 'sending' AND lease_until <= %(now)s)
    ORDER BY rep_id, next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE rep_notes n SET status = 'sending', attempts = n.attempts + 1,
       lease_owner = %(worker)s, lease_until = %(until)s, updated_at = now()
FROM due WHERE n.id = due.id
RETURNING n.id
"""

_DECIDED = ("delivery_id", "channel", "cadence")  # not columns of the claimed row
_CLAIMED = """
SELECT n.id, n.call_id, n.rep_id, n.body, n.action, n.moment_link, n.moment_at, n.attempts,
       n.created_at, coalesce(nullif(c.title, ''), c.id) AS title, c.url AS call_url,
       c.started_at, u.email, u.name AS rep_name, p.channel, p.cadence, p.manager_hold,
       p.hold_set_by, p.hold_set_at
FROM rep_notes n
JOIN calls c ON c.id = n.call_id
JOIN users u ON u.id = n.rep_id
LEFT JOIN rep_note_prefs p ON p.rep_id = n.rep_id
WHERE n.id = ANY(%s)
ORDER BY n.rep_id, n.id
"""


def claim(
    conn: psycopg.Connection[Row],
    s: Settings,
    *,
    now: datetime,
    worker: str,
    until: datetime,
    limit: int,
) -> list[Claimed]:
    """Lease the due notes (and those whose sender's lease ran out) to `worker`; the attempt
    of a sender that died is logged `unknown`, and each new attempt is logged."""
    ids = [
        r["id"]
        for r in conn.execute(
            _CLAIM, {"now": now, "worker": worker, "until": until, "limit": limit}
        ).fetchall()
    ]
    if not ids:
        return []
    conn.execute(
        "UPDATE rep_note_deliveries SET outcome = 'unknown', finished_at = %s,"
        " detail = 'the sender stopped before it recorded the outcome'"
        " WHERE note_id = ANY(%s) AND outcome IS NULL",
        (now, ids),
    )
    claimed = []
    for r in conn.execute(_CLAIMED, (ids,)).fetchall():
        chosen = prefs.from_row(r["rep_id"], r, s)
        delivery = conn.execute(
            "INSERT INTO rep_note_deliveries (note_id, attempt, channel, worker, started_at)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (r["id"], r["attempts"], chosen.channel, worker, now),
        ).fetchone()
        assert delivery is not None
        own = {k: r[k] for k in Claimed.model_fields if k not in _DECIDED}
        claimed.append(
            Claimed(
                **own, delivery_id=delivery["id"], channel=chosen.channel, cadence=chosen.cadence
            )
        )
    return claimed


def mark_sent(
    conn: psycopg.Connection[Row],
    notes: list[Claimed],
    worker: str,
    *,
    now: datetime,
    ref: str | None,
    outcome: str = "sent",
) -> int:
    """The notes went out (`already_sent`: a lost attempt had sent them). Returns how many
    were marked (a note whose lease another worker took is not)."""
    ids = [n.id for n in notes]
    marked = conn.execute(
        "UPDATE rep_notes SET status = 'sent', sent_at = %s, channel = %s, lease_owner = NULL,"
        " lease_until = NULL, last_error = NULL, updated_at = now()"
        " WHERE id = ANY(%s) AND status = 'sending' AND lease_owner = %s",
        (now, notes[0].channel if notes else None, ids, worker),
    ).rowcount
    _log(conn, notes, now, outcome, None, ref)
    return marked


def mark_retry(
    conn: psycopg.Connection[Row],
    notes: list[Claimed],
    worker: str,
    *,
    now: datetime,
    error: str,
    next_at: datetime,
) -> None:
    """Not delivered, for now: due again at `next_at`."""
    conn.execute(
        "UPDATE rep_notes SET status = 'pending', next_attempt_at = %s, last_error = %s,"
        " lease_owner = NULL, lease_until = NULL, updated_at = now()"
        " WHERE id = ANY(%s) AND status = 'sending' AND lease_owner = %s",
        (next_at, error, [n.id for n in notes], worker),
    )
    _log(conn, notes, now, "retry", error, None)


def mark_failed(
    conn: psycopg.Connection[Row], notes: list[Claimed], worker: str, *, now: datetime, error: str
) -> None:
    """The rep cannot be reached this way (no address, unknown to Slack, refused): kept as
    failed, queued again when the rep changes their preferences."""
    conn.execute(
        "UPDATE rep_notes SET status = 'failed', last_error = %s, lease_owner = NULL,"
        " lease_until = NULL, updated_at = now()"
        " WHERE id = ANY(%s) AND status = 'sending' AND lease_owner = %s",
        (error, [n.id for n in notes], worker),
    )
    _log(conn, notes, now, "failed", error, None)


def _log(
    conn: psycopg.Connection[Row],
    notes: list[Claimed],
    now: datetime,
    outcome: str,
    detail: str | None,
    ref: str | None,
) -> None:
    conn.execute(
        "UPDATE rep_note_deliveries SET outcome = %s, finished_at = %s, detail = %s,"
        " message_ref = %s WHERE id = ANY(%s) AND outcome IS NULL",
        (outcome, now, detail, ref, [n.delivery_id for n in notes]),
    )


# -- a person's word -------------------------------------------------------------------------


class NoteAcknowledged(BaseModel):
    note_id: int
    call_id: str
    acknowledged_at: datetime  # the first acknowledgement's time (kept)
    via: str  # link | mcp
    first: bool  # this acknowledgement was the first


def acknowledge(
    conn: psycopg.Connection[Row],
    note_id: int,
    *,
    via: str,
    now: datetime,
    rep_id: str | None = None,
) -> NoteAcknowledged | None:
    """Record that the rep read a sent note (the first time is kept); `rep_id`: only if it is
    theirs. None when there is no such sent note."""
    row = conn.execute(
        "SELECT id, call_id, rep_id, acknowledged_at, acknowledged_via FROM rep_notes"
        " WHERE id = %s AND status = 'sent' FOR UPDATE",
        (note_id,),
    ).fetchone()
    if row is None or (rep_id is not None and row["rep_id"] != rep_id):
        return None
    first = row["acknowledged_at"] is None
    if first:
        conn.execute(
            "UPDATE rep_notes SET acknowledged_at = %s, acknowledged_via = %s, updated_at = now()"
            " WHERE id = %s",
            (now, via, note_id),
        )
    return NoteAcknowledged(
        note_id=note_id,
        call_id=row["call_id"],
        acknowledged_at=now if first else row["acknowledged_at"],
        via=via if first else row["acknowledged_via"],
        first=first,
    )


def acknowledge_as(
    conn: psycopg.Connection[Row], caller: Caller, note_id: int, now: datetime | None = None
) -> NoteAcknowledged:
    """The caller acknowledges one of their own sent notes (the acknowledge_note tool)."""
    done = acknowledge(conn, note_id, via="mcp", now=now or datetime.now(UTC), rep_id=caller.id)
    if done is None:
        raise AccessDenied(f"no note {note_id} was sent to you")
    return done


def set_preferences(
    conn: psycopg.Connection[Row],
    caller: Caller,
    s: Settings,
    *,
    channel: Channel | None,
    cadence: prefs.Cadence | None,
    now: datetime | None = None,
) -> prefs.NotePreferences:
    """The caller's own channel and cadence (None: leave as is). Their unsent notes follow:
    rescheduled to the new cadence, skipped when off; notes that could not be delivered are
    queued again."""
    now = now or datetime.now(UTC)
    if channel is not None and channel not in configured(s):
        raise InvalidRequest(f"{channel} is not set up here; choose one of {configured(s)}")
    conn.execute(
        "INSERT INTO rep_note_prefs AS p (rep_id, channel, cadence, updated_at)"
        " VALUES (%(rep)s, %(channel)s, %(cadence)s, %(now)s)"
        " ON CONFLICT (rep_id) DO UPDATE SET channel = coalesce(%(channel)s, p.channel),"
        " cadence = coalesce(%(cadence)s, p.cadence), updated_at = %(now)s",
        {"rep": caller.id, "channel": channel, "cadence": cadence, "now": now},
    )
    chosen = prefs.load(conn, caller.id, s)
    if chosen.cadence == "off":
        conn.execute(
            "UPDATE rep_notes SET status = 'skipped', updated_at = now()"
            " WHERE rep_id = %s AND status IN ('pending', 'held')",
            (caller.id,),
        )
        return chosen
    due = prefs.due_at(chosen.cadence, now, s.report_timezone)
    conn.execute(
        "UPDATE rep_notes SET next_attempt_at = %s, status = CASE WHEN status = 'failed'"
        " THEN 'pending' ELSE status END, updated_at = now()"
        " WHERE rep_id = %s AND status IN ('pending', 'held', 'failed')",
        (due, caller.id),
    )
    return chosen


def hold_notes(
    conn: psycopg.Connection[Row],
    caller: Caller,
    s: Settings,
    rep: str,
    hold: bool,
    now: datetime | None = None,
) -> prefs.NotePreferences:
    """A manager holds a rep's notes until they have looked at each call (their review of it
    releases its note), or lifts the hold (every held note goes out by the rep's cadence).
    Managers and admins, for reps in their scope, not themselves."""
    require_role(caller, "manager", "admin")
    rep_id, _ = find_rep(conn, caller, rep)
    if rep_id == caller.id:
        raise AccessDenied("you cannot hold notes about your own calls")
    now = now or datetime.now(UTC)
    conn.execute(
        "INSERT INTO rep_note_prefs AS p (rep_id, manager_hold, hold_set_by, hold_set_at,"
        " updated_at) VALUES (%(rep)s, %(hold)s, %(by)s, %(now)s, %(now)s)"
        " ON CONFLICT (rep_id) DO UPDATE SET manager_hold = %(hold)s, hold_set_by = %(by)s,"
        " hold_set_at = %(now)s, updated_at = %(now)s",
        {"rep": rep_id, "hold": hold, "by": caller.id, "now": now},
    )
    before, after = ("pending", "held") if hold else ("held", "pending")
    conn.execute(
        "UPDATE rep_notes SET status = %s, updated_at = now() WHERE rep_id = %s AND status = %s",
        (after, rep_id, before),
    )
    log.info("notes of rep %s %s by %s", rep_id, "held" if hold else "released", caller.id)
    return prefs.load(conn, rep_id, s)
