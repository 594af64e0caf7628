"""The validity report read for people (`common/insights/validity.py`): each criterion's unit
and plain-words reading, when an association is called clear, the caveat or how many more
deals are needed, and which criteria the weekly report names first."""

from __future__ import annotations

from common.insights.validity import read_report, strongest
from common.validity import CriterionResult, Report


def result(
    criterion: str,
    odds: float | None,
    low: float | None,
    high: float | None,
    q: float | None,
    dimension: str = "discovery",
    deals: int = 120,
) -> CriterionResult:
    return CriterionResult(
        dimension=dimension,
        criterion=criterion,
        odds_ratio=odds,
        ci_low=low,
        ci_high=high,
        q_value=q,
        deals=deals,
    )


REPORT = Report(
    enough_deals=True,
    deals=130,
    won=61,
    more_needed=0,
    criteria=[
        result("quantify_pain", 1.8, 1.2, 2.6, 0.01),
        result("agenda", 1.1, 0.8, 1.5, 0.60),
        result("next_steps", 1.4, 1.02, 1.9, 0.16),  # interval above 1, but q too high
        result("talk_ratio", 0.4, 0.25, 0.64, 0.002, dimension="conversation"),
        result("questions", None, None, None, None, dimension="conversation", deals=40),
        result("overall", None, None, None, None, deals=125),  # enough deals, no fit
    ],
)


def test_each_criterion_reads_in_plain_words_with_its_unit() -> None:
    answer = read_report(REPORT, reps=20, min_deals=100, scope="team")
    by = {c.criterion: c for c in answer.criteria}
    assert by["quantify_pain"].clear and by["quantify_pain"].reading == (
        "each score point more goes with 1.80x the odds of winning (95% interval 1.20-2.60)"
    )
    assert not by["agenda"].clear and by["agenda"].reading.startswith("no clear association")
    assert not by["next_steps"].clear and "could be chance" in by["next_steps"].reading
    talk = by["talk_ratio"]
    assert talk.clear and talk.unit == "per 10 points of the rep's share of talk"
    assert talk.reading.startswith("each 10 points more of the rep's share of talk goes with 0.40x")
    assert by["questions"].reading == "no numbers: scored on 40 closed deals, 100 needed"
    assert "no stable fit" in by["overall"].reading and not by["overall"].clear
    assert "not proof of cause" in answer.caveat and "within reps and stages" in answer.caveat
    assert "per 10 points of the rep's share of talk" in answer.units
    assert (answer.scope, answer.deals, answer.won, answer.min_deals) == ("team", 130, 61, 100)


def test_a_dimension_keeps_its_criteria_and_their_q_values() -> None:
    answer = read_report(REPORT, reps=20, min_deals=100, scope="company", dimension="conversation")
    assert [c.criterion for c in answer.criteria] == ["talk_ratio", "questions"]
    assert answer.criteria[0].q_value == 0.002


def test_too_few_deals_says_how_many_more_and_has_no_numbers() -> None:
    few = Report(enough_deals=False, deals=37, won=20, criteria=[], more_needed=63)
    answer = read_report(few, reps=4, min_deals=100, scope="team")
    assert not answer.enough_deals and answer.criteria == []
    assert "37 of 100, 63 more needed" in answer.caveat


def test_the_strongest_clear_criteria_come_first_either_way() -> None:
    """Furthest from 1 on the log scale: 0.40 (a factor 2.5 toward losing) before 1.80; the
    criteria not clearly associated are never named."""
    answer = read_report(REPORT, reps=20, min_deals=100, scope="team")
    assert [c.criterion for c in strongest(answer)] == ["talk_ratio", "quantify_pain"]
    assert [c.criterion for c in strongest(answer, top=1)] == ["talk_ratio"]
