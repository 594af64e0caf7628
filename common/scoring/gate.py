"""The publish gate: whether a dimension's samples hold, and what a person sees when not.

A dimension is scored by the stages of its cascade (`common.cascade`). Each stage's samples
are aggregated on their own (`analysis.aggregate`: chunks folded, quotes grounded), then
judged together here. The samples **hold** when

- every sample's score of every criterion is within `tolerance` points of the samples' median
  (the lower median for an even count, so two samples must be within `tolerance` of each
  other); a lone sample at a later stage must be within `tolerance` of the earlier stage's
  median, which it arbitrates;
- N/A is unanimous: a criterion (or the dimension) is N/A in every sample or in none;
- every scored criterion has at least one grounded quote (the transcript's own words);
- the model's holistic overall is within a point of its criteria (`analysis.overall_check`);
- the call carries no flag (a line addressing the AI reviewer): a stronger model cannot
  clear that, so a flag goes to a person at once.

The published score is the median of the samples per criterion, weighted by the rubric.
When the samples do not hold, the next stage is asked; when the last does not hold, the
combined result is kept as the AI's *suggestion*, held (`needs_review`) with the reasons,
until a person confirms or changes it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from common.calls.transcript import normalise
from common.config import Settings
from common.rubrics import Criterion, Rubric
from common.scoring import prompts
from common.scoring.analysis import (
    CriterionResult,
    DimensionResult,
    GroundedEvidence,
    SampleScore,
    overall_check,
    weighted_mean,
)

GATE_VERSION = 2  # bump when what holds or a sample's marker changes: in every cache key
NO_QUOTE = "no quote found in the transcript"


@dataclass(frozen=True)
class Sample:
    """One paid sample's aggregated result."""

    stage: int
    index: int
    model: str
    result: DimensionResult

    def score(self) -> SampleScore:
        r = self.result
        return SampleScore(
            stage=self.stage,
            index=self.index,
            model=self.model,
            overall_score=r.overall_score,
            criteria={c.criterion_id: c.score for c in r.criteria},
        )


@dataclass(frozen=True)
class Verdict:
    result: DimensionResult  # the combined result: published, or the suggestion held
    holds: bool
    escalate: bool  # whether a stronger stage could change the outcome (not for a flag)

    @property
    def lacks_only_evidence(self) -> bool:
        """Held only because some scored criterion has no grounded quote: worth asking the
        same model once more before a person is asked."""
        reasons = self.result.review_reasons
        return bool(reasons) and all(r.endswith(NO_QUOTE) for r in reasons)


def judge(
    rubric: Rubric,
    stage: list[Sample],
    *,
    tolerance: float,
    earlier: DimensionResult | None = None,
    flags: tuple[str, ...] = (),
    failed: int = 0,
) -> Verdict:
    """The stage's samples combined and judged (`earlier`: the previous stage's combined
    result, which a single sample arbitrates; `failed`: samples of this stage whose output
    stayed invalid after a repair)."""
    reasons: list[str] = []
    if failed:
        reasons.append(f"{failed} of {len(stage) + failed} samples gave no valid answer")
    criteria = [_criterion(c, stage, tolerance, earlier, reasons) for c in rubric.criteria]
    results = [s.result for s in stage]
    all_na = all(r.not_applicable for r in results)
    if not all_na and any(r.not_applicable for r in results):
        n = sum(r.not_applicable for r in results)
        reasons.append(f"the dimension is N/A in {n} of {len(results)} samples")
    if earlier is not None and len(results) == 1 and all_na != earlier.not_applicable:
        reasons.append("the dimension is N/A in one stage and scored in the other")
    overall = None if all_na else weighted_mean((c.score, c.weight) for c in criteria)
    model_overall = _median([r.model_overall for r in results])
    reasons += overall_check(overall, model_overall)
    if flags:
        reasons.append(f"the call is flagged: {flags[0]}"[:300])
    main = _representative(stage, overall)
    combined = DimensionResult(
        dimension=main.dimension,
        overall_score=overall,
        weighted_score=overall,
        model_overall=model_overall,
        review_reasons=reasons,
        criteria=criteria,
        strengths=main.strengths,
        improvements=main.improvements,
        coaching_note=main.coaching_note,
        quotes_dropped=main.quotes_dropped,
        quotes_wrong_speaker=main.quotes_wrong_speaker,
        chunks=main.chunks,
        state="published" if not reasons else "needs_review",
    )
    return Verdict(combined, holds=not reasons, escalate=not flags)


def _criterion(
    crit: Criterion,
    stage: list[Sample],
    tolerance: float,
    earlier: DimensionResult | None,
    reasons: list[str],
) -> CriterionResult:
    items = [next(c for c in s.result.criteria if c.criterion_id == crit.id) for s in stage]
    scores = [c.score for c in items if c.score is not None]
    if scores and len(scores) < len(items):
        reasons.append(f"{crit.id}: N/A in {len(items) - len(scores)} of {len(items)} samples")
    median = _median(scores)
    if len(scores) > 1 and max(abs(v - statistics.median_low(scores)) for v in scores) > tolerance:
        listed = ", ".join(f"{v:g}" for v in sorted(scores))
        reasons.append(f"{crit.id}: samples disagree ({listed})")
    if len(items) == 1 and earlier is not None:
        before = next((c.score for c in earlier.criteria if c.criterion_id == crit.id), None)
        if (median is None) != (before is None):  # an N/A the earlier samples did not give
            said = [("N/A" if v is None else f"{v:g}") for v in (median, before)]
            reasons.append(f"{crit.id}: {said[0]} against the first samples' {said[1]}")
        elif median is not None and before is not None and abs(median - before) > tolerance:
            reasons.append(f"{crit.id}: {median:g} against the first samples' {before:g}")
    evidence = _evidence(items)
    if median is not None and not evidence:
        reasons.append(f"{crit.id}: {NO_QUOTE}")
    closest = min(items, key=lambda c: abs((c.score or 0) - (median or 0)))
    return CriterionResult(
        criterion_id=crit.id,
        name=crit.name,
        weight=crit.weight,
        score=round(median, 2) if median is not None else None,
        rationale=closest.rationale,
        evidence=evidence,
    )


def _evidence(items: list[CriterionResult]) -> list[GroundedEvidence]:
    """The grounded quotes of the samples that scored the criterion, each once."""
    seen, out = set(), []
    for item in items:
        if item.score is None:
            continue
        for ev in item.evidence:
            key = normalise(ev.quote)
            if key not in seen:
                seen.add(key)
                out.append(ev)
    return out[:5]


def _representative(stage: list[Sample], overall: float | None) -> DimensionResult:
    """The sample nearest the combined score: its coaching text goes with the number."""
    return min(
        (s.result for s in stage),
        key=lambda r: abs((r.overall_score or 0) - (overall or 0)),
    )


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(statistics.median(known)), 2) if known else None


def scoring_version_for(s: Settings, dimension: str) -> str:
    """The scorer part of the tier-1 cache key: the prompt and output version of the models
    asked, the gate's version (`GATE_VERSION`: what holds, and the samples' marker text),
    and for a cascade its stages, samples and tolerance."""
    cascade = s.cascade_for(dimension)
    if len(cascade.stages) == 1 and cascade.first.samples == 1:
        setup = f"{cascade.first.model}|gate={GATE_VERSION}"
    else:
        setup = f"{cascade}|tolerance={s.publish_tolerance:g}|gate={GATE_VERSION}"
    return prompts.scoring_version(
        setup, s.coaching_language, max_tokens=s.claude_max_output_tokens
    )
