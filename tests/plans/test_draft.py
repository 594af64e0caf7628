"""Drafting a plan from a week's shown scores (pure): three things working, two to tighten
(most weighted room to grow), and one exercise from a moment of the rep's own call where the
customer spoke, with its Gong link and the rubric's top level as what a strong answer covers."""

from __future__ import annotations

from datetime import UTC, datetime

from common.config import ROOT
from common.plans import draft_plan
from common.plans.draft import coached, quoted_calls
from common.repnotes.compose import CallFacts, Moment, Shown
from common.rubrics import load

RUBRICS = load(ROOT / "rubrics")
RUBRIC = {f"{d}.{c.id}": c for d, r in RUBRICS.rubrics.items() for c in r.criteria}


def shown(key: str, score: float, call: str, said_by: str = "rep") -> Shown:
    dimension, _, criterion = key.partition(".")
    c = RUBRIC[key]
    url = f"https://app.gong.io/call?id={call}"
    return Shown(
        dimension=dimension,
        criterion_id=criterion,
        name=c.name,
        weight=c.weight,
        score=score,
        evidence=[
            Moment(
                quote=f"{call}: {said_by} on {criterion}",
                timestamp="02:10",
                link=f"{url}&t=130",
                said_by=said_by,
            )
        ],
    )


def call(call_id: str, day: int, scores: dict[str, float], customer: set[str]) -> CallFacts:
    return CallFacts(
        call_id=call_id,
        rep_id="u-a",
        title=f"Call {call_id}",
        url=f"https://app.gong.io/call?id={call_id}",
        started_at=datetime(2026, 2, day, 15, tzinfo=UTC),
        criteria=[
            shown(k, v, call_id, "customer" if k in customer else "rep") for k, v in scores.items()
        ],
    )


WEEK = {  # means: pain 4.75, interactivity 4, next steps 3.5, relevance 3.25, patience 3,
    # substantive response 1.75 (rep's words only), listening 1.5
    "discovery.pain_and_impact": (4.5, 5.0),
    "engagement.interactivity": (4.0, 4.0),
    "objections.next_steps": (4.0, 3.0),
    "product_knowledge.relevance": (3.5, 3.0),
    "engagement.patience": (3.0, 3.0),
    "objections.substantive_response": (1.5, 2.0),
    "discovery.listening": (2.0, 1.0),
}


def week(customer: set[str]) -> list[CallFacts]:
    return [
        call("a", 24, {k: v[0] for k, v in WEEK.items()}, customer),
        call("b", 26, {k: v[1] for k, v in WEEK.items()}, customer),
    ]


def test_three_working_two_to_tighten_and_one_exercise_from_the_customers_words() -> None:
    plan = draft_plan(week({"discovery.listening"}), RUBRIC, "UTC")
    assert plan is not None
    assert [i.criterion for i in plan.working] == [
        "discovery.pain_and_impact",
        "engagement.interactivity",
        "objections.next_steps",
    ]
    assert plan.working[0].text == "Pain and business impact: 4.8/5 over 2 calls this week."
    best = plan.working[0].moment
    assert best is not None and best.call_id == "b"  # where it scored best (5 > 4.5)
    # most weighted room: substantive (3.25 x 0.3) before listening (3.5 x 0.2) before relevance
    assert [i.criterion for i in plan.tighten] == [
        "objections.substantive_response",
        "discovery.listening",
    ]
    worst = plan.tighten[0].moment
    assert worst is not None and worst.call_id == "a"  # where it scored worst (1.5 < 2)
    assert RUBRIC["objections.substantive_response"].levels[5] in plan.tighten[0].text
    ex = plan.exercise
    assert ex is not None  # substantive response has the rep's words only: listening's moment
    assert ex.criterion == "discovery.listening" and ex.call_id == "b"  # its worst call
    assert ex.customer_said == "b: customer on listening" and ex.rep_said is None
    assert ex.link == "https://app.gong.io/call?id=b&t=130"
    assert ex.strong_answer == RUBRIC["discovery.listening"].levels[5].strip()
    name = RUBRIC["discovery.listening"].name
    assert ex.situation == (
        f'On "Call b" (Thu 26 Feb), at 02:10, {name} scored 1/5: answer the customer again.'
    )
    assert coached(plan.tighten, ex) == ["discovery.listening", "objections.substantive_response"]
    assert quoted_calls(plan.working, plan.tighten, ex) == ["a", "b"]


def test_without_a_customer_moment_the_exercise_is_the_reps_own_words() -> None:
    plan = draft_plan(week(set()), RUBRIC, "UTC")
    assert plan is not None and plan.exercise is not None
    ex = plan.exercise
    assert ex.criterion == "objections.substantive_response" and ex.call_id == "a"
    assert (ex.customer_said, ex.rep_said) == (None, "a: rep on substantive_response")


def test_a_weak_week_names_no_low_score_as_working() -> None:
    low = [call("a", 24, {k: min(v[0], 2.5) for k, v in WEEK.items()}, set())]
    plan = draft_plan(low, RUBRIC, "UTC")
    assert plan is not None and plan.working == [] and len(plan.tighten) == 2


def test_a_week_with_nothing_shown_is_no_plan() -> None:
    assert draft_plan([], RUBRIC, "UTC") is None
    assert draft_plan([call("a", 24, {}, set())], RUBRIC, "UTC") is None
