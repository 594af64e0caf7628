from __future__ import annotations

from common.calls.transcript import Speaker, Utterance
from common.config import ROOT
from common.rubrics import load
from common.scoring.analysis import (
    ChunkResult,
    CriterionAssessment,
    DimensionAssessment,
    Evidence,
    Grounder,
    aggregate,
    check_against_rubric,
)

RUBRIC = load(ROOT / "rubrics").rubrics["objections"]
REP = Speaker("1", "Dana Lee", "AE", True)
UTTS = [
    Utterance(
        REP, 61_000, 70_000, ("I hear you on price.", "Can I ask what you're comparing it against?")
    ),
    Utterance(REP, 3_700_000, 3_710_000, ("Let's agree on the steps and owners now.",)),
]
GROUNDER = Grounder(UTTS, "https://app.gong.io/call?id=42", "{call_url}&t={seconds}")


def assessment(score: int, quotes: list[str], overall: int | None = None) -> DimensionAssessment:
    return DimensionAssessment(
        overall_score=overall or score,
        criteria=[
            CriterionAssessment(
                criterion_id=c.id,
                score=score,
                rationale=f"r{score}",
                evidence=[Evidence(quote=q, timestamp="00:00") for q in quotes],
            )
            for c in RUBRIC.criteria
        ],
        strengths=["Acknowledged the concern"],
        improvements=["Trade concessions"],
        coaching_note="n",
    )


def test_quotes_are_grounded_with_our_speaker_time_and_link() -> None:
    found = GROUNDER.find("can i ask what YOU'RE comparing it against")
    assert found is not None
    assert (found.speaker, found.timestamp, found.start_s) == ("Dana Lee", "01:01", 61)
    assert found.link == "https://app.gong.io/call?id=42&t=61"
    assert GROUNDER.find("We guarantee a 40% uplift") is None
    assert GROUNDER.find("price") is None  # too short to prove anything


def test_aggregate_weights_by_coverage_and_counts_overlap_evidence_once() -> None:
    shared = "Let's agree on the steps and owners now."
    parts = [
        ChunkResult(assessment(2, ["I hear you on price.", shared]), weight=3),
        ChunkResult(assessment(5, [shared, "A sentence nobody said at all."]), weight=1),
    ]
    result = aggregate("objections", RUBRIC, parts, GROUNDER)
    assert result.overall_score == 2.75 and result.chunks == 2
    crit = result.criteria[0]
    assert crit.score == 2.75 and crit.rationale == "r2"
    assert [e.quote for e in crit.evidence] == ["I hear you on price.", shared]
    assert result.quotes_dropped == len(RUBRIC.criteria)  # the invented quote, once per criterion
    assert result.strengths == ["Acknowledged the concern"]
    assert result.weighted_score == 2.75


def test_rubric_check_demands_each_criterion_once() -> None:
    good = assessment(3, [])
    assert check_against_rubric(good, RUBRIC) == []
    bad = good.model_copy(update={"criteria": [*good.criteria[:-1], good.criteria[0]]})
    assert "each once" in check_against_rubric(bad, RUBRIC)[0]
