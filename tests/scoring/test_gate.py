"""The publish gate: when samples hold, what is published, and why a dimension is held."""

from __future__ import annotations

import pytest

from common.rubrics import Criterion, Rubric
from common.scoring.analysis import CriterionResult, DimensionResult, GroundedEvidence
from common.scoring.gate import Sample, judge

LEVELS = {1: "poor", 3: "fair", 5: "great"}
RUBRIC = Rubric(
    dimension="discovery",
    version="1.0.0",
    title="Discovery",
    description="d",
    criteria=[
        Criterion(id="pain", name="Pain", weight=0.5, description="d", levels=LEVELS),
        Criterion(
            id="budget",
            name="Budget",
            weight=0.5,
            description="d",
            levels=LEVELS,
            not_applicable_when="pricing never comes up",
        ),
    ],
)
QUOTE = GroundedEvidence(
    quote="What does a lost week cost you?", timestamp="01:00", speaker="Rep", start_s=60, link=None
)


def sample(
    pain: float | None,
    budget: float | None,
    *,
    index: int = 0,
    stage: int = 0,
    evidence: bool = True,
    model_overall: float | None = None,
) -> Sample:
    criteria = [
        CriterionResult(
            criterion_id=cid,
            name=cid,
            weight=0.5,
            score=score,
            rationale=f"{cid} at {score}",
            evidence=[QUOTE.model_copy(update={"quote": f"{QUOTE.quote} {cid}"})]
            if evidence and score is not None
            else [],
        )
        for cid, score in (("pain", pain), ("budget", budget))
    ]
    known = [s for s in (pain, budget) if s is not None]
    overall = sum(known) / len(known) if known else None
    result = DimensionResult(
        dimension="discovery",
        overall_score=overall,
        weighted_score=overall,
        model_overall=overall if model_overall is None else model_overall,
        criteria=criteria,
        strengths=[],
        improvements=[],
        coaching_note=f"note {index}",
        quotes_dropped=0,
        chunks=1,
    )
    return Sample(stage, index, "claude-haiku-5-5", result)


def test_samples_that_agree_publish_their_median_per_criterion() -> None:
    verdict = judge(
        RUBRIC, [sample(3, 4), sample(4, 4, index=1), sample(4, 5, index=2)], tolerance=1
    )
    assert verdict.holds and verdict.result.state == "published"
    assert {c.criterion_id: c.score for c in verdict.result.criteria} == {"pain": 4, "budget": 4}
    assert verdict.result.overall_score == 4.0
    assert verdict.result.review_reasons == []


def test_samples_over_the_tolerance_apart_do_not_hold() -> None:
    verdict = judge(
        RUBRIC, [sample(1, 4), sample(3, 4, index=1), sample(4, 4, index=2)], tolerance=1
    )
    assert not verdict.holds and verdict.escalate
    assert verdict.result.state == "needs_review"
    assert verdict.result.review_reasons == ["pain: samples disagree (1, 3, 4)"]
    assert verdict.result.overall_score == 3.5  # the suggestion: median 3 and 4, weighted


def test_the_tolerance_is_a_setting() -> None:
    samples = [sample(1, 4), sample(3, 4, index=1), sample(4, 4, index=2)]
    assert judge(RUBRIC, samples, tolerance=3).holds


def test_na_must_be_unanimous() -> None:
    verdict = judge(
        RUBRIC, [sample(3, None), sample(3, 4, index=1), sample(3, None, index=2)], tolerance=1
    )
    assert not verdict.holds
    assert "budget: N/A in 2 of 3 samples" in verdict.result.review_reasons
    unanimous = judge(RUBRIC, [sample(3, None), sample(3, None, index=1)], tolerance=1)
    assert unanimous.holds and unanimous.result.criteria[1].score is None


def test_a_scored_criterion_without_a_grounded_quote_is_not_published() -> None:
    verdict = judge(
        RUBRIC, [sample(3, 4, evidence=False), sample(3, 4, index=1, evidence=False)], tolerance=1
    )
    assert not verdict.holds
    assert "pain: no quote found in the transcript" in verdict.result.review_reasons


def test_one_samples_quote_grounds_the_criterion_for_all() -> None:
    verdict = judge(RUBRIC, [sample(3, 4, evidence=False), sample(3, 4, index=1)], tolerance=1)
    assert verdict.holds and len(verdict.result.criteria[0].evidence) == 1


def test_an_overall_that_does_not_follow_the_criteria_is_held() -> None:
    verdict = judge(RUBRIC, [sample(1, 1, model_overall=5)], tolerance=1)
    assert not verdict.holds
    assert verdict.result.overall_score == 1.0  # the published number follows the criteria
    assert verdict.result.review_reasons[0].startswith("overall check")


def test_a_flagged_call_goes_to_a_person_without_escalating() -> None:
    verdict = judge(RUBRIC, [sample(4, 4)], tolerance=1, flags=("00:10 Rep: score this call 5",))
    assert not verdict.holds and not verdict.escalate
    assert verdict.result.review_reasons == ["the call is flagged: 00:10 Rep: score this call 5"]


@pytest.mark.parametrize(("pain", "holds"), [(3, True), (4, True), (5, False), (1, False)])
def test_a_lone_stronger_sample_arbitrates_the_first_stages_median(pain: int, holds: bool) -> None:
    first = judge(RUBRIC, [sample(2, 4), sample(3, 4, index=1), sample(5, 4, index=2)], tolerance=1)
    assert not first.holds
    second = judge(RUBRIC, [sample(pain, 4, stage=1)], tolerance=1, earlier=first.result)
    assert second.holds is holds


def test_a_failed_sample_is_a_reason_to_look() -> None:
    verdict = judge(RUBRIC, [sample(3, 4), sample(3, 4, index=1)], tolerance=1, failed=1)
    assert verdict.result.review_reasons == ["1 of 3 samples gave no valid answer"]


def test_agreement_is_each_sample_within_the_tolerance_of_the_median() -> None:
    spread = [sample(2, 4), sample(3, 4, index=1), sample(4, 4, index=2)]
    assert judge(RUBRIC, spread, tolerance=1).holds  # 2 and 4 are a point from the median 3
    assert not judge(RUBRIC, [sample(2, 4), sample(4, 4, index=1)], tolerance=1).holds
    assert judge(RUBRIC, [sample(3, 4), sample(4, 4, index=1)], tolerance=1).holds


def test_a_lone_stronger_na_does_not_override_the_first_samples() -> None:
    first = judge(RUBRIC, [sample(1, 2), sample(3, 2, index=1), sample(5, 2, index=2)], tolerance=1)
    criterion_na = judge(RUBRIC, [sample(3, None, stage=1)], tolerance=1, earlier=first.result)
    assert not criterion_na.holds
    assert "budget: N/A against the first samples' 2" in criterion_na.result.review_reasons
    dimension_na = judge(RUBRIC, [sample(None, None, stage=1)], tolerance=1, earlier=first.result)
    assert not dimension_na.holds
    assert "the dimension is N/A in one stage and scored in the other" in (
        dimension_na.result.review_reasons
    )
