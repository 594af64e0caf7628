"""Plans on real Postgres: a draft per rep from last week's shown scores only (nothing held for
review, nothing from another week), rewritten until a manager touches it; a manager's edits
kept with before and after; approval; scope (another team's plan, or the manager's own, is
refused as one that does not exist); erasing a quoted call removes the plan."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from common.access import Caller
from common.config import Settings
from common.db import transaction
from common.errors import AccessDenied, InvalidRequest
from common.plans import (
    ExerciseEdit,
    ItemEdit,
    Plan,
    approve_plan,
    draft_week,
    edit_plan,
    list_plans,
)
from tests.plans.world import (
    ANA,
    MANAGER,
    OTHER_MANAGER,
    WEEK,
    add_week,
    at,
    drafted,
    plan_row,
)
from tests.repnotes.world import NOW, RUBRICS, add_call, connect, quote

KNOWN = frozenset(f"{d}.{c.id}" for d, r in RUBRICS.rubrics.items() for c in r.criteria)
LEVEL_5 = RUBRICS.rubrics["objections"].criteria[2].levels[5].strip()


def test_a_draft_per_rep_from_the_weeks_shown_scores(s: Settings) -> None:
    add_week(s)
    plans = drafted(s)
    assert set(plans) == {"u-a", "u-b", "u-c"}
    p = plan_row(s, plans["u-a"])
    assert (p["status"], p["week_start"], p["approved_at"], p["sent_at"]) == (
        "draft",
        WEEK,
        None,
        None,
    )
    assert [i["criterion"] for i in p["working"]] == [
        "discovery.pain_and_impact",
        "objections.next_steps",
        "engagement.interactivity",
    ]
    # engagement of a2 is held for review: interactivity counts a1 alone (a2's 1.0 is unseen)
    assert p["working"][2]["text"].endswith("4.5/5 over 1 call this week.")
    assert [i["criterion"] for i in p["tighten"]] == [
        "objections.confirm_resolution",
        "discovery.listening",
    ]
    ex = p["exercise"]
    assert ex["criterion"] == "objections.confirm_resolution" and ex["call_id"] == "a1"
    assert ex["customer_said"] == "We still are not sure about SSO."
    assert ex["link"].startswith("https://app.gong.io/call?id=a1&t=")  # the rep's own call
    assert ex["strong_answer"] == LEVEL_5
    assert p["coached"] == ["discovery.listening", "objections.confirm_resolution"]
    assert p["call_ids"] == ["a1", "a2"]
    text = json.dumps([p["working"], p["tighten"], p["exercise"]])
    assert "a0" not in text  # last week's plan, not the week before's
    assert quote("a2", "engagement.interactivity") not in text  # nothing held
    assert quote("a2", "engagement.patience") not in text


def test_a_rerun_rewrites_an_untouched_draft_and_never_an_edited_one(s: Settings) -> None:
    add_week(s)
    plans = drafted(s)
    with connect(s) as conn:
        edit_plan(conn, MANAGER, plans["u-a"], known=KNOWN, working=[ItemEdit(text="Mine.")])
    add_call(s, "b2", "u-b", at(WEEK + timedelta(days=4)), {"objections.next_steps": 5.0})
    add_call(s, "a3", "u-a", at(WEEK + timedelta(days=4)), {"objections.next_steps": 1.0})
    assert drafted(s) == plans  # the same plans, rewritten in place
    assert "b2" in plan_row(s, plans["u-b"])["call_ids"]
    ana = plan_row(s, plans["u-a"])
    assert "a3" not in ana["call_ids"] and ana["working"][0]["text"] == "Mine."


def test_edits_are_kept_with_before_and_after(s: Settings) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    before = plan_row(s, plan_id)
    with connect(s) as conn:
        plan = edit_plan(
            conn,
            MANAGER,
            plan_id,
            known=KNOWN,
            tighten=[
                ItemEdit(text="Confirm each concern is settled."),
                ItemEdit(
                    text="Ask about the budget owner.", criterion="discovery.decision_process"
                ),
            ],
            exercise=ExerciseEdit(situation="The SSO question on Tuesday's call."),
            now=NOW,
        )
    assert plan.edited_by == "u-m" and plan.status == "draft"
    assert [(h.field, h.editor_id, h.edited_at) for h in plan.history] == [
        ("tighten", "u-m", NOW),
        ("exercise", "u-m", NOW),
    ]
    assert plan.history[0].before == before["tighten"]
    assert [i["text"] for i in plan.history[0].after] == [
        "Confirm each concern is settled.",
        "Ask about the budget owner.",
    ]
    assert plan.history[1].before["situation"] == before["exercise"]["situation"]
    first, second = plan.tighten
    assert first.criterion == "objections.confirm_resolution"
    assert first.moment is not None
    assert first.moment.model_dump() == before["tighten"][0]["moment"]  # kept at its place
    assert second.criterion == "discovery.decision_process" and second.moment is None
    ex = plan.exercise
    assert ex is not None and ex.situation == "The SSO question on Tuesday's call."
    assert ex.customer_said == "We still are not sure about SSO." and ex.strong_answer == LEVEL_5
    row = plan_row(s, plan_id)
    assert row["coached"] == ["discovery.decision_process", "objections.confirm_resolution"]
    with connect(s) as conn:  # the same words again: no change, no history
        same = edit_plan(conn, MANAGER, plan_id, known=KNOWN, tighten=[ItemEdit(text=first.text)])
        assert len(same.history) == 3  # the second item was dropped: a change
        again = edit_plan(conn, MANAGER, plan_id, known=KNOWN, tighten=[ItemEdit(text=first.text)])
        assert len(again.history) == 3


def test_a_bad_edit_is_refused_and_changes_nothing(s: Settings) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    before = plan_row(s, plan_id)
    with connect(s) as conn:
        with pytest.raises(InvalidRequest, match="unknown criterion"):
            edit_plan(
                conn, MANAGER, plan_id, known=KNOWN, working=[ItemEdit(text="x", criterion="x.y")]
            )
        with pytest.raises(InvalidRequest, match="at most 2"):
            edit_plan(conn, MANAGER, plan_id, known=KNOWN, tighten=[ItemEdit(text="x")] * 3)
    assert plan_row(s, plan_id) == before


def test_an_approved_plan_edited_needs_approving_again(s: Settings) -> None:
    add_week(s)
    plan_id = drafted(s)["u-a"]
    with connect(s) as conn:
        approved = approve_plan(conn, MANAGER, plan_id, now=NOW)
        assert (approved.status, approved.approved_by, approved.approved_at) == (
            "approved",
            "u-m",
            NOW,
        )
        assert approve_plan(conn, MANAGER, plan_id, now=NOW + timedelta(hours=1)).approved_at == NOW
        edited = edit_plan(conn, MANAGER, plan_id, known=KNOWN, working=[ItemEdit(text="New.")])
    assert (edited.status, edited.approved_by, edited.approved_at) == ("draft", None, None)


def test_another_teams_plan_is_refused_as_one_that_does_not_exist(s: Settings) -> None:
    add_week(s)
    add_call(s, "m1", "u-m", at(WEEK + timedelta(days=1)), {})  # the manager's own call
    plans = drafted(s)
    listed = {p.rep_id for p in _listed(s, MANAGER)}
    assert listed == {"u-a", "u-b"}  # not Cat (another team), not the manager's own
    assert {p.rep_id for p in _listed(s, OTHER_MANAGER)} == {"u-c"}
    admin = Caller("u-admin", "Ada Admin", "admin")
    assert {p.rep_id for p in _listed(s, admin)} == {"u-a", "u-b", "u-c", "u-m"}
    for caller, plan_id in ((OTHER_MANAGER, plans["u-a"]), (MANAGER, plans["u-m"])):
        refusals = []
        for wanted in (plan_id, 999_999):
            for act in (_approve, _edit):
                with pytest.raises(AccessDenied) as refused:
                    act(s, caller, wanted)
                refusals.append(str(refused.value).replace(str(wanted), "?"))
        assert len(set(refusals)) == 1, refusals
    with pytest.raises(AccessDenied, match="manager or admin"):
        _approve(s, ANA, plans["u-a"])
    assert plan_row(s, plans["u-a"])["status"] == "draft"


def _listed(s: Settings, caller: Caller) -> list[Plan]:
    with connect(s) as conn:
        return list(list_plans(conn, caller, WEEK + timedelta(days=3)).plans)  # any day


def _approve(s: Settings, caller: Caller, plan_id: int) -> None:
    with connect(s) as conn:
        approve_plan(conn, caller, plan_id)


def _edit(s: Settings, caller: Caller, plan_id: int) -> None:
    with connect(s) as conn:
        edit_plan(conn, caller, plan_id, known=KNOWN, working=[ItemEdit(text="x")])


def test_erasing_a_quoted_call_removes_its_plan(s: Settings) -> None:
    add_week(s)
    plans = drafted(s)
    with transaction(s.database_url) as conn:
        conn.execute("DELETE FROM calls WHERE id = 'a2'")
    with connect(s) as conn:
        left = {r["rep_id"] for r in conn.execute("SELECT rep_id FROM weekly_plans").fetchall()}
    assert left == {"u-b", "u-c"} and plans["u-a"] not in left


def test_nothing_shown_drafts_nothing(s: Settings) -> None:
    add_call(
        s,
        "h1",
        "u-a",
        at(WEEK + timedelta(days=1)),
        {},
        held=frozenset({"product_knowledge", "discovery", "objections", "engagement"}),
    )
    with transaction(s.database_url) as conn:
        assert draft_week(conn, s, WEEK, now=NOW) == []
