"""A Gong scorecard answer on the rubric's 1-5: ranges linearly, options by the mapping file's
values, anything else unmapped with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from common.accuracy.scales import OptionScale, RangeScale, Unmapped, linear, read_scale
from common.gong import ScorecardAnswer, ScorecardQuestion


def question(**fields: Any) -> ScorecardQuestion:
    return ScorecardQuestion.model_validate({"questionId": 8172645300000000101, **fields})


def answer(**fields: Any) -> ScorecardAnswer:
    return ScorecardAnswer.model_validate({"questionId": 8172645300000000101, **fields})


YES_NO = question(
    questionType="YES_NO", answerOptions=[{"id": 1, "text": "Yes"}, {"id": 2, "text": "No"}]
)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (1, 5, [1, 2, 3, 4, 5]),
        (1, 10, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        (0, 4, [1, 2, 3, 4, 5]),
        (1, 3, [1, 3, 5]),
        (0, 1, [1, 5]),
    ],
)
def test_a_range_maps_linearly_min_to_one_max_to_five(
    low: int, high: int, expected: list[int]
) -> None:
    assert [linear(s, low, high) for s in range(low, high + 1)] == expected


def test_halves_round_up_exactly_on_wide_ranges() -> None:
    """0-50: 6.25 points a step; 25 is exactly 3, 37.5 would be 4 (halves up), no float drift."""
    assert [linear(s, 0, 50) for s in (0, 6, 7, 25, 37, 38, 50)] == [1, 1, 2, 3, 4, 4, 5]
    assert linear(2**62, 0, 2**63 - 1) == 3  # int64 ends: exact arithmetic


def test_a_range_question_reads_its_scale_from_the_settings() -> None:
    scale = read_scale(question(questionType="RANGE", minRange=1, maxRange=10), {})
    assert scale == RangeScale(1, 10)
    assert isinstance(scale, RangeScale)
    assert scale.rubric_score(answer(score=10)) == 5
    assert scale.rubric_score(answer(score=0)) == Unmapped("score 0 is outside 1-10")
    assert scale.rubric_score(answer(score=11)) == Unmapped("score 11 is outside 1-10")
    assert scale.rubric_score(answer()) == Unmapped("no score on the 1-10 scale")


def test_yes_no_maps_through_the_mapping_files_values_by_text_or_id() -> None:
    by_text = read_scale(YES_NO, {"yes": 5, "no": 1})
    by_id = read_scale(YES_NO, {"1": 4, "2": 2})
    assert isinstance(by_text, OptionScale) and isinstance(by_id, OptionScale)
    assert by_text.rubric_score(answer(selectedOptions=["1"])) == 5
    assert by_text.rubric_score(answer(selectedOptions=[2])) == 1  # an id sent as a number
    assert by_id.rubric_score(answer(selectedOptions=["1"])) == 4


def test_an_option_answer_that_cannot_be_valued_says_why() -> None:
    scale = read_scale(YES_NO, {"yes": 5})
    assert isinstance(scale, OptionScale)
    assert scale.rubric_score(answer(selectedOptions=["2"])) == Unmapped(
        "option 'No' has no value in the mapping file"
    )
    assert scale.rubric_score(answer(selectedOptions=["1", "2"])) == Unmapped(
        "2 options selected, one value is needed"
    )
    assert scale.rubric_score(answer(selectedOptions=["9"])) == Unmapped(
        "option 9 is not one of the question's"
    )
    assert scale.rubric_score(answer()) == Unmapped("no option selected")


@pytest.mark.parametrize(
    ("q", "values", "reason"),
    [
        (YES_NO, {}, "give each a 1-5 value under `options`"),
        (question(questionType="TEXT"), {}, "TEXT question has neither a range nor answer"),
        (question(), {}, "untyped question has neither a range nor answer options"),
        (question(questionType="RANGE", minRange=5, maxRange=5), {}, "empty range 5-5"),
    ],
)
def test_a_question_without_a_usable_scale_is_unmapped_with_its_reason(
    q: ScorecardQuestion, values: dict[str, int], reason: str
) -> None:
    scale = read_scale(q, values)
    assert isinstance(scale, Unmapped) and reason in scale.reason
