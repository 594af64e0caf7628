"""What Claude returns for a dimension, how it is checked, grounded and aggregated.

`DimensionAssessment` is the one structured-output schema shared by all four dimensions.
`ground()` keeps only evidence quotes found in the transcript (after normalising whitespace
and punctuation) and attaches the speaker and a link to the moment in Gong from our own
transcript, not from the model. `aggregate()` folds chunk results into one call-level result.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from common.calls.transcript import Utterance, format_ts, normalise
from common.rubrics import Rubric


class Evidence(BaseModel):
    quote: str = Field(description="Verbatim words from the transcript, one sentence or less.")
    timestamp: str = Field(description="The [mm:ss] or [h:mm:ss] of the line the quote is from.")


class CriterionAssessment(BaseModel):
    """One criterion, in the order the model writes it: the evidence, then the reasoning from
    it, and only then the number (output follows the schema's order, so a score written
    first would be a guess the reasons then defend)."""

    criterion_id: str = Field(description="The criterion id exactly as listed in the rubric.")
    evidence: list[Evidence] = Field(
        description="Up to three quotes of what the rep said or did, found before judging."
    )
    rationale: str = Field(
        description=(
            "Your reasoning from the evidence to a level of the rubric, in two or three"
            " sentences, written before you decide the score."
        )
    )
    score: int = Field(ge=1, le=5, description="1 to 5, decided from the rationale above.")


class DimensionAssessment(BaseModel):
    """Claude's structured output for one dimension (one chunk of one call): the criteria
    first, the dimension's overall after them, the coaching text last."""

    criteria: list[CriterionAssessment]
    overall_score: int = Field(
        ge=1, le=5, description="Overall 1 to 5 for this dimension, weighing the criteria above."
    )
    strengths: list[str] = Field(description="Up to three things the rep did well.")
    improvements: list[str] = Field(description="Up to three specific things to do differently.")
    coaching_note: str = Field(description="Two or three sentences a manager can read out.")


def check_against_rubric(assessment: DimensionAssessment, rubric: Rubric) -> list[str]:
    """Problems that make the assessment unusable (an empty list when it is fine)."""
    expected = [c.id for c in rubric.criteria]
    got = [c.criterion_id for c in assessment.criteria]
    problems = []
    if sorted(got) != sorted(expected):
        problems.append(f"criteria must be exactly {expected} (each once); got {got}")
    return problems


class GroundedEvidence(BaseModel):
    quote: str
    timestamp: str
    speaker: str
    start_s: int
    link: str | None


class CriterionResult(BaseModel):
    criterion_id: str
    name: str
    weight: float
    score: float
    rationale: str
    evidence: list[GroundedEvidence]


class DimensionResult(BaseModel):
    """One call-level result per dimension, as stored in coaching_sessions.result."""

    dimension: str
    overall_score: float
    weighted_score: float  # criteria scores weighted by the rubric's weights
    criteria: list[CriterionResult]
    strengths: list[str]
    improvements: list[str]
    coaching_note: str
    quotes_dropped: int
    chunks: int
    scoring_version: str | None = None  # the scorer that made it (prompts.scoring_version)


@dataclass
class Grounder:
    """Finds quotes in a transcript; built once per call."""

    utterances: list[Utterance]
    call_url: str | None
    moment_template: str

    def __post_init__(self) -> None:
        self._index = [(normalise(u.text), u) for u in self.utterances]

    def find(self, quote: str) -> GroundedEvidence | None:
        needle = normalise(quote)
        if len(needle) < 8:
            return None
        for text, utt in self._index:
            if needle in text:
                start_s = utt.start_ms // 1000
                link = (
                    self.moment_template.format(call_url=self.call_url, seconds=start_s)
                    if self.call_url
                    else None
                )
                return GroundedEvidence(
                    quote=quote.strip(),
                    timestamp=format_ts(utt.start_ms),
                    speaker=utt.speaker.name,
                    start_s=start_s,
                    link=link,
                )
        return None


@dataclass
class ChunkResult:
    assessment: DimensionAssessment
    weight: int  # new tokens this chunk covers


def aggregate(
    dimension: str, rubric: Rubric, parts: list[ChunkResult], grounder: Grounder
) -> DimensionResult:
    """Fold chunk assessments into one result: scores weighted by coverage, quotes grounded.

    Evidence repeated in the overlap of two chunks is counted once.
    """
    total = sum(p.weight for p in parts) or 1
    dropped = 0
    seen: set[str] = set()
    criteria = []
    for crit in rubric.criteria:
        score = 0.0
        evidence: list[GroundedEvidence] = []
        rationale, best_weight = "", -1
        for p in parts:
            item = next(c for c in p.assessment.criteria if c.criterion_id == crit.id)
            score += item.score * p.weight / total
            if p.weight > best_weight:
                rationale, best_weight = item.rationale, p.weight
            for ev in item.evidence:
                found = grounder.find(ev.quote)
                if found is None:
                    dropped += 1
                elif normalise(found.quote) not in seen:
                    seen.add(normalise(found.quote))
                    evidence.append(found)
        criteria.append(
            CriterionResult(
                criterion_id=crit.id,
                name=crit.name,
                weight=crit.weight,
                score=round(score, 2),
                rationale=rationale,
                evidence=evidence,
            )
        )
    main = max(parts, key=lambda p: p.weight).assessment
    return DimensionResult(
        dimension=dimension,
        overall_score=round(sum(p.assessment.overall_score * p.weight for p in parts) / total, 2),
        weighted_score=round(sum(c.score * c.weight for c in criteria), 2),
        criteria=criteria,
        strengths=_unique(s for p in parts for s in p.assessment.strengths)[:5],
        improvements=_unique(s for p in parts for s in p.assessment.improvements)[:5],
        coaching_note=main.coaching_note,
        quotes_dropped=dropped,
        chunks=len(parts),
    )


def _unique(items: object) -> list[str]:
    out, seen = [], set()
    for item in items:  # type: ignore[attr-defined]
        key = normalise(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out
