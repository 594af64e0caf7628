"""A person's word on the AI's scores: the review queue, a manager's answer, the held notice.

The queue lists, for the calls a manager may see, the current sessions the publish gate held
(`state` 'needs_review': the AI's score is only a suggestion) and a stable random sample of
published ones (the audit, `AUDIT_SHARE` of them, drawn by a hash of the session id), each
without a person's word yet. A manager answers an item by confirming the AI's score or
changing it; either is written as manager scores (`manager_scores`, ref
`review:<session>:<criterion>` or `audit:<session>:<criterion>`), never over the session: the
latest manager score is what the rep sees, and the AI's stays beside it (the session, and the
row's `ai_score`). A confirmation records the AI's score on the 1-5 scale with `confirms_ai`,
which `calibrate` reads as an agreement a person checked.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from pydantic import BaseModel

from common.access import Caller, find_call, require_role
from common.accuracy import manager_scores
from common.config import Settings
from common.db import Row
from common.errors import AccessDenied, InvalidRequest
from common.monitoring.alerts import deliver
from common.repnotes import follow_review

log = logging.getLogger("sales_coach.reviews")
AUDIT_DAYS = 28  # the audit draws from sessions scored this recently (older ones are history)
Kind = Literal["review", "audit"]  # held by the gate / drawn from the published for the audit
Answer = int | Literal["na"]  # a manager's score: 1-5, or not applicable


class ReviewCriterion(BaseModel):
    criterion_id: str
    name: str | None
    ai_score: float | None  # None: the AI said N/A
    links: list[str]  # Gong links of its evidence


class ReviewItem(BaseModel):
    kind: Kind  # review: held for review; audit: published, drawn for a manager to confirm
    session_id: int
    call_id: str
    call_title: str | None
    call_url: str | None
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    dimension: str
    rubric_version: str
    ai_score: float | None  # the AI's suggestion (None: N/A); shown to the rep only once answered
    criteria: list[ReviewCriterion]
    review_reasons: list[str]  # why the gate held it (empty for an audit item)
    scored_at: datetime


class ReviewQueue(BaseModel):
    items: list[ReviewItem]  # held first, then audit; newest call first
    held: int  # items held for review in the caller's scope (all, not only this page)
    audit: int  # audit items in the caller's scope
    audit_share: float


class ReviewRecorded(BaseModel):
    kind: Kind
    call_id: str
    rep_id: str | None
    dimension: str
    confirmed: bool
    ai_score: float | None  # the AI's score, kept beside the manager's
    score: int | None  # the manager's word on the dimension, now the score shown (None: N/A)
    criteria: dict[str, int | None]  # the criteria the manager scored (None: N/A)
    rubric_version: str


def audit_draw(session_id: int) -> float:
    """Where a session falls in [0, 1) for the audit; the same as SQL's `audit_draw` (0020)."""
    digest = hashlib.md5(f"audit:{session_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) / 2**32


# Current sessions held, or drawn for the audit, on calls in scope with no person's word on the
# dimension yet; `reps` NULL: every rep's (admins).
_ITEMS = """
SELECT s.id AS session_id, s.call_id, s.dimension, s.rubric_version, s.overall_score,
       s.result, s.created_at AS scored_at, s.state, c.title AS call_title, c.url AS call_url,
       c.started_at, c.primary_user_id AS rep_id, u.name AS rep_name,
       CASE WHEN s.state = 'needs_review' THEN 'review' ELSE 'audit' END AS kind
FROM current_sessions s
JOIN calls c ON c.id = s.call_id
LEFT JOIN users u ON u.id = c.primary_user_id
WHERE (%(reps)s::text[] IS NULL OR c.primary_user_id = ANY(%(reps)s::text[]))
  AND c.primary_user_id IS DISTINCT FROM %(caller)s
  AND (s.state = 'needs_review'
       OR (s.state = 'published' AND audit_draw(s.id) < %(share)s
           AND s.created_at >= %(since)s))
  AND NOT EXISTS (SELECT 1 FROM manager_scores m WHERE m.call_id = s.call_id
                  AND m.dimension = s.dimension AND m.criterion = 'overall')
"""


def queue(
    conn: psycopg.Connection[Row],
    caller: Caller,
    reps: frozenset[str] | set[str] | None,
    *,
    audit_share: float,
    limit: int = 50,
    now: datetime | None = None,
) -> ReviewQueue:
    """The caller's review queue: `reps` are the reps they may see (None: everyone)."""
    require_role(caller, "manager", "admin")
    since = (now or datetime.now(UTC)) - timedelta(days=AUDIT_DAYS)
    params = {
        "reps": sorted(reps) if reps is not None else None,
        "caller": caller.id,
        "share": audit_share,
        "since": since,
        "limit": limit,
    }
    rows = conn.execute(
        f"{_ITEMS} ORDER BY s.state <> 'needs_review', c.started_at DESC NULLS LAST,"
        " s.call_id, s.dimension LIMIT %(limit)s",
        params,
    ).fetchall()
    counts = conn.execute(
        f"SELECT count(*) FILTER (WHERE kind = 'review') AS held,"
        f" count(*) FILTER (WHERE kind = 'audit') AS audit FROM ({_ITEMS}) q",
        params,
    ).fetchone()
    assert counts is not None
    return ReviewQueue(
        items=[_item(r) for r in rows],
        held=counts["held"],
        audit=counts["audit"],
        audit_share=audit_share,
    )


def _item(r: Row) -> ReviewItem:
    result: dict[str, Any] = r["result"] or {}
    return ReviewItem(
        kind=r["kind"],
        session_id=r["session_id"],
        call_id=r["call_id"],
        call_title=r["call_title"],
        call_url=r["call_url"],
        started_at=r["started_at"],
        rep_id=r["rep_id"],
        rep_name=r["rep_name"],
        dimension=r["dimension"],
        rubric_version=r["rubric_version"],
        ai_score=_float(r["overall_score"]),
        criteria=[
            ReviewCriterion(
                criterion_id=str(c.get("criterion_id")),
                name=c.get("name"),
                ai_score=_float(c.get("score")),
                links=[e["link"] for e in c.get("evidence") or [] if e.get("link")],
            )
            for c in result.get("criteria") or []
        ],
        review_reasons=[str(x) for x in result.get("review_reasons") or []],
        scored_at=r["scored_at"],
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def review(
    conn: psycopg.Connection[Row],
    caller: Caller,
    *,
    call_id: str,
    dimension: str,
    confirm: bool,
    score: Answer | None,
    criteria: dict[str, Answer] | None,
    note: str,
    s: Settings | None = None,
) -> ReviewRecorded:
    """A manager's word on the call's current session of the dimension: `confirm` the AI's
    score (written as theirs), or change it to `score`; `criteria` are their scores of
    criteria of that session's rubric (a variant's too). Managers and admins, for calls in
    their scope, not their own; one answer per session (a later change of mind is
    `record_manager_score`). Given the settings `s`, the rep's note on the call follows
    (`common.repnotes.follow_review`)."""
    require_role(caller, "manager", "admin")
    rep_id = find_call(conn, caller, call_id)
    if rep_id == caller.id:
        raise AccessDenied("you cannot review scores of your own calls")
    if confirm == (score is not None):
        raise InvalidRequest("either confirm the AI's score, or give your score (1-5 or 'na')")
    # one answer at a time per (call, dimension): a second waits, then finds the first's
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"review:{call_id}:{dimension}",))
    session = conn.execute(
        "SELECT id, state, overall_score, result, rubric_version FROM current_sessions"
        " WHERE call_id = %s AND dimension = %s ORDER BY created_at DESC LIMIT 1",
        (call_id, dimension),
    ).fetchone()
    if session is None:
        raise InvalidRequest(f"call {call_id} has no {dimension} score to review")
    ai_criteria = {
        str(c.get("criterion_id")): _float(c.get("score"))
        for c in (session["result"] or {}).get("criteria") or []
    }
    unknown = sorted(set(criteria or {}) - set(ai_criteria))
    if unknown:
        raise InvalidRequest(
            f"{dimension} on this call has no criterion {unknown[0]!r};"
            f" its criteria are {sorted(ai_criteria)}"
        )
    if _answered(conn, call_id, dimension):
        raise InvalidRequest(
            f"{dimension} of call {call_id} already has a manager's score;"
            " use record_manager_score to change it"
        )
    kind: Kind = "review" if session["state"] == "needs_review" else "audit"
    ai = _float(session["overall_score"])
    overall = manager_scores.ai_on_scale(ai) if confirm else _value(score)
    written: dict[str, int | None] = {}
    for criterion, value, confirms in (
        ("overall", overall, confirm),
        *((c, _value(v), False) for c, v in sorted((criteria or {}).items())),
    ):
        manager_scores.record(
            conn,
            call_id=call_id,
            rep_id=rep_id,
            reviewer_id=caller.id,
            dimension=dimension,
            criterion=criterion,
            score=value,
            note=note,
            rubric_version=session["rubric_version"],
            source_ref=f"{kind}:{session['id']}:{criterion}",
            confirms_ai=confirms,
        )
        written[criterion] = value
    if s is not None:
        follow_review(conn, call_id, s)
    return ReviewRecorded(
        kind=kind,
        call_id=call_id,
        rep_id=rep_id,
        dimension=dimension,
        confirmed=confirm,
        ai_score=ai,
        score=overall,
        criteria={c: v for c, v in written.items() if c != "overall"},
        rubric_version=session["rubric_version"],
    )


def _value(answer: Answer | None) -> int | None:
    if answer is None or answer == "na":
        return None
    if not 1 <= answer <= 5:
        raise InvalidRequest("a score is 1 to 5, or 'na'")
    return answer


def _answered(conn: psycopg.Connection[Row], call_id: str, dimension: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM manager_scores WHERE call_id = %s AND dimension = %s"
        " AND criterion = 'overall' LIMIT 1",
        (call_id, dimension),
    ).fetchone()
    return row is not None


# -- the held notice -------------------------------------------------------------------------


def held_notice(conn: psycopg.Connection[Row], call_id: str) -> str | None:
    """The text telling the rep's manager that scores of this call wait for their word (each
    held dimension with the AI's suggestion and why it was held); None when nothing of the
    call is held without a person's word. Names and the gate's reasons only, no transcript."""
    rows = conn.execute(
        """
        SELECT s.dimension, s.overall_score, s.result -> 'review_reasons' AS reasons,
               c.title, c.started_at, u.name AS rep_name
        FROM current_sessions s
        JOIN calls c ON c.id = s.call_id
        LEFT JOIN users u ON u.id = c.primary_user_id
        WHERE s.call_id = %s AND s.state = 'needs_review'
          AND NOT EXISTS (SELECT 1 FROM manager_scores m WHERE m.call_id = s.call_id
                          AND m.dimension = s.dimension AND m.criterion = 'overall')
        ORDER BY s.dimension
        """,
        (call_id,),
    ).fetchall()
    if not rows:
        return None
    first = rows[0]
    when = f" of {first['started_at']:%Y-%m-%d}" if first["started_at"] else ""
    lines = [
        f'{first["rep_name"] or "A rep"}\'s call "{first["title"] or call_id}"{when}'
        f" ({call_id}) has {len(rows)} score{'s' if len(rows) > 1 else ''} held for your"
        " review: the AI was not sure enough to publish. The rep sees them once you confirm"
        " or change them (review_queue, then review_score, in Claude Desktop)."
    ]
    for r in rows:
        ai = _float(r["overall_score"])
        suggestion = "N/A" if ai is None else f"{ai:.1f}"
        reasons = "; ".join(str(x) for x in r["reasons"] or []) or "no reason recorded"
        lines.append(f"- {r['dimension']}: the AI suggests {suggestion}; held because: {reasons}")
    return "\n".join(lines)


def notify_held(s: Settings, conn: psycopg.Connection[Row], call_id: str) -> list[str]:
    """Send `held_notice` to the rep's manager (e-mail, and Slack naming them); returns where
    it went ([] when nothing is held). The log names the call and the manager only."""
    text = held_notice(conn, call_id)
    if text is None:
        return []
    manager = conn.execute(
        "SELECT m.id, m.email FROM calls c JOIN users r ON r.id = c.primary_user_id"
        " JOIN users m ON m.id = r.manager_id WHERE c.id = %s",
        (call_id,),
    ).fetchone()
    manager_id = manager["id"] if manager else None
    log.info("held-for-review notice for call %s to manager %s", call_id, manager_id)
    slack_text = f"For {manager_id or 'the team'}: {text}"
    subject = "Sales coach: scores held for your review"
    return ["log", *deliver(s, subject, text, slack_text, manager["email"] if manager else None)]
