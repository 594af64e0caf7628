"""The only writer of `weekly_plans`, `weekly_plan_edits` and `weekly_plan_deliveries`.

- Drafting: `draft_week` writes each rep's draft for a week from the scores a person may see
  (read as the rep's note reads a call: `common.repnotes.outbox.call_facts`; nothing held for
  review). A later run rewrites a draft no manager has touched; never an edited, approved or
  sent plan.
- A manager's word: `list_plans`, `edit_plan` (each change kept with before and after; an
  approved plan edited is a draft again, to be approved again), `approve_plan` (due to be sent
  at once). Managers and admins, for their team's plans, never their own; a plan outside the
  caller's scope is refused as one that does not exist.
- Delivery's states: `claim` (due plans, and plans whose sender's lease expired, under a lease;
  each attempt logged), `mark_sent`, `mark_retry` (only the lease's owner may mark). Due: an
  approved plan at once; a draft only with PLANS_SEND_UNAPPROVED, `UNAPPROVED_WAIT` after its
  drafting or a manager's last edit, if no manager approved it by then.
- The rep's word: `acknowledge_plan` (their own sent plan; the first time is kept).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from common import rubrics as rubric_files
from common.access import Caller, require_role
from common.access.scope import in_scope, visible_reps
from common.config import Settings
from common.db import Row
from common.errors import AccessDenied, InvalidRequest
from common.insights.week import monday, week_bounds
from common.notify import Channel
from common.plans.draft import (
    TIGHTEN,
    WORKING,
    Exercise,
    PlanDraft,
    PlanItem,
    coached,
    draft_plan,
    quoted_calls,
)
from common.repnotes import prefs
from common.repnotes.compose import CallFacts
from common.repnotes.outbox import call_facts
from common.rubrics import Criterion, RubricSet

UNAPPROVED_WAIT = timedelta(days=1)  # with PLANS_SEND_UNAPPROVED: a draft's time to be approved
log = logging.getLogger("sales_coach.plans")

# -- drafting --------------------------------------------------------------------------------

_WEEK_CALLS = """
SELECT c.id, c.title, c.url, c.started_at, c.primary_user_id
FROM calls c JOIN users u ON u.id = c.primary_user_id
WHERE c.started_at >= %s AND c.started_at < %s AND u.deleted_at IS NULL AND u.active
  AND EXISTS (SELECT 1 FROM shown_scores s WHERE s.call_id = c.id AND NOT s.held)
ORDER BY c.primary_user_id, c.started_at, c.id
"""


def draft_week(
    conn: psycopg.Connection[Row],
    s: Settings,
    week: date,
    *,
    now: datetime | None = None,
    rubric_set: RubricSet | None = None,
) -> list[int]:
    """Draft (or rewrite, while no manager has touched it) the plan of every rep with calls
    scored and shown in the week of `week` (any day of it). Returns the plan ids written."""
    now = now or datetime.now(UTC)
    start, end = week_bounds(week, s.report_timezone)
    by_rep: dict[str, list[Row]] = {}
    for call in conn.execute(_WEEK_CALLS, (start, end)).fetchall():
        by_rep.setdefault(call["primary_user_id"], []).append(call)
    chosen = rubric_set or rubric_files.load(s.rubrics_dir)
    written = []
    for rep_id, calls in by_rep.items():
        facts: list[CallFacts] = []
        rubric: dict[str, Criterion] = {}
        for call in calls:
            f, r = call_facts(conn, call, chosen)
            facts.append(f)
            rubric |= r
        plan = draft_plan(facts, rubric, s.report_timezone)
        if plan is None or not (plan.working or plan.tighten):
            continue
        plan_id = _upsert_draft(conn, rep_id, monday(start.date()), plan, now)
        if plan_id is not None:
            written.append(plan_id)
    return written


def _upsert_draft(
    conn: psycopg.Connection[Row], rep_id: str, week: date, plan: PlanDraft, now: datetime
) -> int | None:
    row = conn.execute(
        """
        INSERT INTO weekly_plans AS p (rep_id, week_start, working, tighten, exercise, coached,
                                       call_ids, next_attempt_at, created_at, updated_at)
        VALUES (%(rep)s, %(week)s, %(working)s, %(tighten)s, %(exercise)s, %(coached)s,
                %(calls)s, %(due)s, %(now)s, %(now)s)
        ON CONFLICT (rep_id, week_start) DO UPDATE SET
            working = excluded.working, tighten = excluded.tighten,
            exercise = excluded.exercise, coached = excluded.coached,
            call_ids = excluded.call_ids, updated_at = excluded.updated_at
        WHERE p.status = 'draft' AND p.edited_by IS NULL AND p.lease_owner IS NULL
        RETURNING p.id
        """,
        {
            "rep": rep_id,
            "week": week,
            **_contents(plan.working, plan.tighten, plan.exercise),
            "due": now + UNAPPROVED_WAIT,
            "now": now,
        },
    ).fetchone()
    return int(row["id"]) if row else None


def _contents(
    working: list[PlanItem], tighten: list[PlanItem], exercise: Exercise | None
) -> dict[str, Any]:
    return {
        "working": Jsonb([i.model_dump() for i in working]),
        "tighten": Jsonb([i.model_dump() for i in tighten]),
        "exercise": Jsonb(exercise.model_dump()) if exercise else None,
        "coached": coached(tighten, exercise),
        "calls": quoted_calls(working, tighten, exercise),
    }


# -- what a manager and a rep see ------------------------------------------------------------


class PlanEdit(BaseModel):
    editor_id: str
    edited_at: datetime
    field: str  # working | tighten | exercise
    before: Any
    after: Any


class Plan(BaseModel):
    id: int
    rep_id: str
    rep_name: str
    week_start: date
    status: str  # draft | approved | sent | acknowledged
    working: list[PlanItem]
    tighten: list[PlanItem]
    exercise: Exercise | None
    edited_by: str | None
    edited_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    sent_unapproved: bool
    acknowledged_at: datetime | None
    history: list[PlanEdit] = []


class PlanList(BaseModel):
    week_start: date
    plans: list[Plan]


class PlanAcknowledged(BaseModel):
    plan_id: int
    week_start: date
    acknowledged_at: datetime  # the first acknowledgement's time (kept)
    first: bool  # this acknowledgement was the first


class ItemEdit(BaseModel):
    """A manager's text for one item; `criterion` (dimension.criterion): what it is about
    (default: the item's at the same place)."""

    text: str = Field(min_length=1, max_length=600)
    criterion: str | None = Field(default=None, max_length=100)


class ExerciseEdit(BaseModel):
    """A manager's change to the exercise; a field left out is kept."""

    situation: str | None = Field(default=None, min_length=1, max_length=1000)
    customer_said: str | None = Field(default=None, min_length=1, max_length=1000)
    strong_answer: str | None = Field(default=None, min_length=1, max_length=1000)
    criterion: str | None = Field(default=None, max_length=100)


_PLAN = """
SELECT p.*, coalesce(nullif(u.name, ''), u.id) AS rep_name
FROM weekly_plans p JOIN users u ON u.id = p.rep_id
"""


def _plans(conn: psycopg.Connection[Row], rows: list[Row]) -> list[Plan]:
    """The plans of `rows`, each with its edit history (one query for all)."""
    history: dict[int, list[PlanEdit]] = {r["id"]: [] for r in rows}
    for h in conn.execute(
        "SELECT plan_id, editor_id, edited_at, field, before, after FROM weekly_plan_edits"
        " WHERE plan_id = ANY(%s) ORDER BY id",
        (list(history),),
    ).fetchall():
        history[h["plan_id"]].append(PlanEdit.model_validate(h))
    return [
        Plan(
            **{k: r[k] for k in Plan.model_fields if k not in ("working", "tighten", "history")},
            working=[PlanItem.model_validate(i) for i in r["working"]],
            tighten=[PlanItem.model_validate(i) for i in r["tighten"]],
            history=history[r["id"]],
        )
        for r in rows
    ]


def _plan(conn: psycopg.Connection[Row], row: Row) -> Plan:
    return _plans(conn, [row])[0]


def list_plans(conn: psycopg.Connection[Row], caller: Caller, week: date) -> PlanList:
    """The plans of the week of `week` of the reps in the caller's team (not their own)."""
    require_role(caller, "manager", "admin")
    visible = visible_reps(conn, caller)
    rows = conn.execute(
        _PLAN + " WHERE p.week_start = %(week)s AND p.rep_id <> %(me)s"
        " AND (%(all)s OR p.rep_id = ANY(%(visible)s)) ORDER BY rep_name, p.rep_id",
        {
            "week": monday(week),
            "me": caller.id,
            "all": visible is None,
            "visible": sorted(visible or ()),
        },
    ).fetchall()
    return PlanList(week_start=monday(week), plans=_plans(conn, rows))


def _managed(conn: psycopg.Connection[Row], caller: Caller, plan_id: int) -> Row:
    """The plan, locked, when it is of a rep in the caller's team (not the caller's own);
    refused alike whether it exists elsewhere or not at all."""
    require_role(caller, "manager", "admin")
    row = conn.execute(_PLAN + " WHERE p.id = %s FOR UPDATE OF p", (plan_id,)).fetchone()
    if row is None or row["rep_id"] == caller.id or not in_scope(conn, caller, row["rep_id"]):
        log.warning("access denied: %s (%s) asked for plan %s", caller.id, caller.role, plan_id)
        raise AccessDenied(f"no plan {plan_id} in your scope")
    return row


def _unsent(row: Row, now: datetime) -> None:
    if row["status"] in ("sent", "acknowledged"):
        raise InvalidRequest(f"plan {row['id']} was sent already; it can no longer change")
    if row["lease_until"] is not None and row["lease_until"] > now:
        raise InvalidRequest(f"plan {row['id']} is being sent right now")


def edit_plan(
    conn: psycopg.Connection[Row],
    caller: Caller,
    plan_id: int,
    *,
    known: frozenset[str],
    working: list[ItemEdit] | None = None,
    tighten: list[ItemEdit] | None = None,
    exercise: ExerciseEdit | None = None,
    now: datetime | None = None,
) -> Plan:
    """A manager's edit of an unsent plan (None: a part unchanged); `known`: the rubric's
    `dimension.criterion` keys an item may name. An approved plan is a draft again."""
    now = now or datetime.now(UTC)
    row = _managed(conn, caller, plan_id)
    _unsent(row, now)
    old_working = [PlanItem.model_validate(i) for i in row["working"]]
    old_tighten = [PlanItem.model_validate(i) for i in row["tighten"]]
    old_exercise = Exercise.model_validate(row["exercise"]) if row["exercise"] else None
    new_working = _items(old_working, working, WORKING, known) if working else old_working
    new_tighten = _items(old_tighten, tighten, TIGHTEN, known) if tighten else old_tighten
    new_exercise = _exercise(old_exercise, exercise, known) if exercise else old_exercise
    changes = [
        (name, before, after)
        for name, before, after in (
            ("working", _dump(old_working), _dump(new_working)),
            ("tighten", _dump(old_tighten), _dump(new_tighten)),
            ("exercise", _dump(old_exercise), _dump(new_exercise)),
        )
        if before != after
    ]
    if not changes:
        return _plan(conn, row)
    for name, before, after in changes:
        conn.execute(
            "INSERT INTO weekly_plan_edits (plan_id, editor_id, edited_at, field, before, after)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (plan_id, caller.id, now, name, Jsonb(before), Jsonb(after)),
        )
    conn.execute(
        "UPDATE weekly_plans SET working = %(working)s, tighten = %(tighten)s,"
        " exercise = %(exercise)s, coached = %(coached)s, call_ids = %(calls)s,"
        " edited_by = %(by)s, edited_at = %(now)s, status = 'draft', approved_by = NULL,"
        " approved_at = NULL, next_attempt_at = %(due)s, updated_at = %(now)s WHERE id = %(id)s",
        {
            **_contents(new_working, new_tighten, new_exercise),
            "by": caller.id,
            "now": now,
            "due": now + UNAPPROVED_WAIT,
            "id": plan_id,
        },
    )
    log.info("plan %s edited by %s: %s", plan_id, caller.id, [c[0] for c in changes])
    return _reload(conn, plan_id)


def _dump(value: list[PlanItem] | Exercise | None) -> Any:
    if isinstance(value, list):
        return [i.model_dump() for i in value]
    return value.model_dump() if value else None


def _criterion(key: str | None, known: frozenset[str]) -> str | None:
    if key is not None and key not in known:
        raise InvalidRequest(
            f"unknown criterion {key!r}: name one as dimension.criterion_id (the rubric resource)"
        )
    return key


def _items(
    old: list[PlanItem], edits: list[ItemEdit], most: int, known: frozenset[str]
) -> list[PlanItem]:
    """The manager's items; each keeps the criterion and moment of the item at its place
    unless it names another criterion."""
    if len(edits) > most:
        raise InvalidRequest(f"at most {most} items here")
    out = []
    for i, e in enumerate(edits):
        was = old[i] if i < len(old) else None
        key = _criterion(e.criterion, known) or (was.criterion if was else None)
        moment = was.moment if was is not None and was.criterion == key else None
        out.append(PlanItem(criterion=key, text=e.text, moment=moment))
    return out


def _exercise(old: Exercise | None, edit: ExerciseEdit, known: frozenset[str]) -> Exercise:
    changed = edit.model_dump(exclude_none=True)
    _criterion(changed.get("criterion"), known)
    if old is None:
        if not (edit.situation and edit.strong_answer):
            raise InvalidRequest(
                "this plan has no exercise yet: give its situation and strong_answer"
            )
        return Exercise.model_validate(changed)
    return old.model_copy(update=changed)


def _reload(conn: psycopg.Connection[Row], plan_id: int) -> Plan:
    row = conn.execute(_PLAN + " WHERE p.id = %s", (plan_id,)).fetchone()
    assert row is not None
    return _plan(conn, row)


def approve_plan(
    conn: psycopg.Connection[Row], caller: Caller, plan_id: int, now: datetime | None = None
) -> Plan:
    """A manager approves an unsent plan as it reads now: it is sent at once (the next
    delivery run). Approving it again changes nothing."""
    now = now or datetime.now(UTC)
    row = _managed(conn, caller, plan_id)
    if row["status"] == "approved":
        return _plan(conn, row)
    _unsent(row, now)
    conn.execute(
        "UPDATE weekly_plans SET status = 'approved', approved_by = %(by)s,"
        " approved_at = %(now)s, next_attempt_at = %(now)s, updated_at = %(now)s"
        " WHERE id = %(id)s",
        {"by": caller.id, "now": now, "id": plan_id},
    )
    log.info("plan %s approved by %s", plan_id, caller.id)
    return _reload(conn, plan_id)


def acknowledge_plan(
    conn: psycopg.Connection[Row], caller: Caller, plan_id: int, now: datetime | None = None
) -> PlanAcknowledged:
    """The rep says they read one of their own sent plans (the first time is kept)."""
    now = now or datetime.now(UTC)
    row = conn.execute(
        "SELECT id, rep_id, week_start, acknowledged_at FROM weekly_plans"
        " WHERE id = %s AND status IN ('sent', 'acknowledged') FOR UPDATE",
        (plan_id,),
    ).fetchone()
    if row is None or row["rep_id"] != caller.id:
        log.warning("access denied: %s acknowledged plan %s", caller.id, plan_id)
        raise AccessDenied(f"no plan {plan_id} was sent to you")
    first = row["acknowledged_at"] is None
    if first:
        conn.execute(
            "UPDATE weekly_plans SET status = 'acknowledged', acknowledged_at = %s,"
            " updated_at = %s WHERE id = %s",
            (now, now, plan_id),
        )
    return PlanAcknowledged(
        plan_id=plan_id,
        week_start=row["week_start"],
        acknowledged_at=now if first else row["acknowledged_at"],
        first=first,
    )


# -- delivery --------------------------------------------------------------------------------


class Claimed(BaseModel):
    """A plan a worker holds the lease of, with what sending it needs."""

    id: int
    delivery_id: int
    rep_id: str
    rep_name: str
    email: str | None
    week_start: date
    working: list[PlanItem]
    tighten: list[PlanItem]
    exercise: Exercise | None
    approved_by_name: str | None  # None: sent unapproved
    attempts: int  # including this one
    created_at: datetime
    channel: Channel


_CLAIM = """
WITH due AS (
    SELECT p.id FROM weekly_plans p JOIN users u ON u.id = p.rep_id
    WHERE (p.status = 'approved' OR (p.status = 'draft' AND %(unapproved)s))
      AND p.next_attempt_at <= %(now)s
      AND (p.lease_until IS NULL OR p.lease_until <= %(now)s)
      AND u.deleted_at IS NULL AND u.active
    ORDER BY p.next_attempt_at, p.id
    LIMIT %(limit)s
    FOR UPDATE OF p SKIP LOCKED
)
UPDATE weekly_plans p SET attempts = p.attempts + 1, lease_owner = %(worker)s,
       lease_until = %(until)s, updated_at = %(now)s
FROM due WHERE p.id = due.id
RETURNING p.id
"""

_CLAIMED = """
SELECT p.id, p.rep_id, coalesce(nullif(u.name, ''), u.id) AS rep_name, u.email, p.week_start,
       p.working, p.tighten, p.exercise, p.attempts, p.created_at,
       CASE WHEN p.status = 'approved' THEN coalesce(nullif(a.name, ''), a.id, p.approved_by)
       END AS approved_by_name
FROM weekly_plans p
JOIN users u ON u.id = p.rep_id
LEFT JOIN users a ON a.id = p.approved_by
WHERE p.id = ANY(%s)
ORDER BY p.id
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
    """Lease the due plans (and those whose sender's lease ran out) to `worker`; the attempt
    of a sender that died is logged `unknown`, and each new attempt is logged."""
    params = {
        "unapproved": s.plans_send_unapproved,
        "now": now,
        "worker": worker,
        "until": until,
        "limit": limit,
    }
    ids = [r["id"] for r in conn.execute(_CLAIM, params).fetchall()]
    if not ids:
        return []
    conn.execute(
        "UPDATE weekly_plan_deliveries SET outcome = 'unknown', finished_at = %s,"
        " detail = 'the sender stopped before it recorded the outcome'"
        " WHERE plan_id = ANY(%s) AND outcome IS NULL",
        (now, ids),
    )
    claimed = []
    for r in conn.execute(_CLAIMED, (ids,)).fetchall():
        channel = prefs.load(conn, r["rep_id"], s).channel
        delivery = conn.execute(
            "INSERT INTO weekly_plan_deliveries (plan_id, attempt, channel, worker, started_at)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (r["id"], r["attempts"], channel, worker, now),
        ).fetchone()
        assert delivery is not None
        claimed.append(
            Claimed(
                **{k: r[k] for k in Claimed.model_fields if k not in ("delivery_id", "channel")},
                delivery_id=delivery["id"],
                channel=channel,
            )
        )
    return claimed


def mark_sent(
    conn: psycopg.Connection[Row],
    plan: Claimed,
    worker: str,
    *,
    now: datetime,
    ref: str | None,
    outcome: str = "sent",
) -> bool:
    """The plan went out (`already_sent`: a lost attempt had sent it). False when another
    worker had taken its lease."""
    marked = conn.execute(
        "UPDATE weekly_plans SET sent_unapproved = (status = 'draft'), status = 'sent',"
        " sent_at = %s, channel = %s, lease_owner = NULL, lease_until = NULL,"
        " next_attempt_at = NULL, last_error = NULL, updated_at = %s"
        " WHERE id = %s AND lease_owner = %s AND status IN ('draft', 'approved')",
        (now, plan.channel, now, plan.id, worker),
    ).rowcount
    _log(conn, plan, now, outcome, None, ref)
    return bool(marked)


def mark_retry(
    conn: psycopg.Connection[Row],
    plan: Claimed,
    worker: str,
    *,
    now: datetime,
    error: str,
    next_at: datetime,
    outcome: str = "retry",
) -> None:
    """Not delivered, for now: due again at `next_at` (`failed`: the rep cannot be reached
    this way; tried again then, as they may have chosen another channel)."""
    conn.execute(
        "UPDATE weekly_plans SET next_attempt_at = %s, last_error = %s, lease_owner = NULL,"
        " lease_until = NULL, updated_at = %s WHERE id = %s AND lease_owner = %s",
        (next_at, error, now, plan.id, worker),
    )
    _log(conn, plan, now, outcome, error, None)


def _log(
    conn: psycopg.Connection[Row],
    plan: Claimed,
    now: datetime,
    outcome: str,
    detail: str | None,
    ref: str | None,
) -> None:
    conn.execute(
        "UPDATE weekly_plan_deliveries SET outcome = %s, finished_at = %s, detail = %s,"
        " message_ref = %s WHERE id = %s AND outcome IS NULL",
        (outcome, now, detail, ref, plan.delivery_id),
    )
