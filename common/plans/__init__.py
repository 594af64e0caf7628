"""The rep's weekly plan (issue 30, item 2): what is working (3), what to tighten (2) and one
exercise built from a moment of the rep's own calls that week; drafted each week, edited and
approved by their manager, only then sent (unapproved drafts only with PLANS_SEND_UNAPPROVED),
acknowledged by the rep. Approved, sent plans are coaching events
(`common.validity.coaching_source`).

- `draft`: the plan, written from the rubric and the week's shown scores and their evidence
  (pure; no model call).
- `store`: the only writer of the plans, their edit history and delivery log: drafting a
  week, a manager's list, edit and approval, the rep's acknowledgement, delivery's states.
- `send`: the deliverer (leases, retries, no double send) by the rep's note channel
  (`common.repnotes.prefs`) through `common.notify`.
"""

from __future__ import annotations

from common.plans.draft import Exercise, PlanDraft, PlanItem, PlanMoment, draft_plan
from common.plans.send import EVENT_TYPE, PlansDelivered, deliver_plans, render
from common.plans.store import (
    UNAPPROVED_WAIT,
    ExerciseEdit,
    ItemEdit,
    Plan,
    PlanAcknowledged,
    PlanEdit,
    PlanList,
    acknowledge_plan,
    approve_plan,
    draft_week,
    edit_plan,
    list_plans,
)

__all__ = [
    "EVENT_TYPE",
    "UNAPPROVED_WAIT",
    "Exercise",
    "ExerciseEdit",
    "ItemEdit",
    "Plan",
    "PlanAcknowledged",
    "PlanDraft",
    "PlanEdit",
    "PlanItem",
    "PlanList",
    "PlanMoment",
    "PlansDelivered",
    "acknowledge_plan",
    "approve_plan",
    "deliver_plans",
    "draft_plan",
    "draft_week",
    "edit_plan",
    "list_plans",
    "render",
]
