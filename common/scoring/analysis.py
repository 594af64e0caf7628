"""What Claude returns for a dimension, how it is checked, grounded and aggregated.

`DimensionAssessment` is the one structured-output schema shared by all four dimensions.
`Grounder` keeps only evidence quotes found in the transcript (whole words, case and
punctuation folded, numbers exact), stores the transcript's own words for them and attaches
the speaker and a link to the moment in Gong from our own transcript, not from the model.
`aggregate()` folds chunk results into one call-level result.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from common.calls.transcript import Utterance, Word, format_ts, normalise, words
from common.rubrics import Criterion, Rubric


class Evidence(BaseModel):
    quote: str = Field(description="Verbatim words from the transcript, one sentence or less.")
    timestamp: str = Field(description="The [mm:ss] or [h:mm:ss] of the line the quote is from.")
    said_by: Literal["rep", "customer"] = Field(
        description="Who said it: 'rep' for an internal speaker, 'customer' for an external one."
    )


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
    score: int | None = Field(
        ge=1,
        le=5,
        description=(
            "1 to 5, decided from the rationale above; null (N/A) only when the rubric gives"
            " this criterion an N/A condition and the rationale shows it holds."
        ),
    )


class DimensionAssessment(BaseModel):
    """Claude's structured output for one dimension (one chunk of one call): the criteria
    first, the dimension's overall after them, the coaching text last."""

    criteria: list[CriterionAssessment]
    overall_score: int | None = Field(
        ge=1,
        le=5,
        description=(
            "Overall 1 to 5 for this dimension, weighing the criteria above; null (N/A) only"
            " when the rubric lets the whole dimension be N/A and every criterion is null."
        ),
    )
    strengths: list[str] = Field(description="Up to three things the rep did well.")
    improvements: list[str] = Field(description="Up to three specific things to do differently.")
    coaching_note: str = Field(
        description="Two or three sentences a manager can read out; for an N/A dimension, why."
    )


def check_against_rubric(assessment: DimensionAssessment, rubric: Rubric) -> list[str]:
    """Problems that make the assessment unusable (an empty list when it is fine)."""
    expected = [c.id for c in rubric.criteria]
    got = [c.criterion_id for c in assessment.criteria]
    problems = []
    if sorted(got) != sorted(expected):
        problems.append(f"criteria must be exactly {expected} (each once); got {got}")
    may_be_na = set(rubric.may_be_na())
    if assessment.overall_score is None:
        if not rubric.not_applicable_when:
            problems.append("overall_score is null, but this dimension cannot be N/A")
        elif any(c.score is not None for c in assessment.criteria):
            problems.append("overall_score is null (N/A) but some criteria are scored")
        return problems
    if all(c.score is None for c in assessment.criteria):
        problems.append("every criterion is null (N/A) but overall_score is a number")
    wrong = [c.criterion_id for c in assessment.criteria if c.score is None]
    wrong = [c for c in wrong if c not in may_be_na]
    if wrong:
        problems.append(f"criteria {wrong} are null (N/A) but the rubric never allows it for them")
    return problems


class GroundedEvidence(BaseModel):
    quote: str
    timestamp: str
    speaker: str
    start_s: int
    link: str | None
    said_by: str | None = None  # rep | customer, checked against the transcript's speaker


class CriterionResult(BaseModel):
    criterion_id: str
    name: str
    weight: float
    score: float | None  # None: N/A (the rationale says why)
    rationale: str
    evidence: list[GroundedEvidence]


class SampleScore(BaseModel):
    """One paid sample of a dimension, as the gate read it (kept for run-to-run agreement)."""

    stage: int  # the cascade's stage (0: the first model)
    index: int  # the sample within its stage
    model: str
    overall_score: float | None  # its criteria weighted by the rubric (None: N/A)
    criteria: dict[str, float | None]


class DimensionResult(BaseModel):
    """One call-level result per dimension, as stored in coaching_sessions.result.

    A None score is N/A: the rubric allowed it and the model judged it so. N/A is left out
    of every average, trend, comparison and alert."""

    dimension: str
    overall_score: float | None  # the published score: weighted_score (None when N/A)
    weighted_score: float | None  # scored criteria weighted by the rubric's weights
    criteria: list[CriterionResult]
    strengths: list[str]
    improvements: list[str]
    coaching_note: str
    quotes_dropped: int  # not found verbatim, or found in the other side's mouth
    chunks: int
    scoring_version: str | None = None  # the scorer that made it (prompts.scoring_version)
    quotes_wrong_speaker: int = 0  # of quotes_dropped: said by the other side
    model_overall: float | None = None  # the model's own holistic overall, kept as a check
    review_reasons: list[str] = Field(default_factory=list)  # why a person should look
    # The publish gate (`common.scoring.gate`): published, or held for a person's review;
    # every paid sample behind it, and the cascade that drew them.
    state: Literal["published", "needs_review"] = "published"
    escalated: bool = False
    cascade: str | None = None
    samples: list[SampleScore] = Field(default_factory=list)

    @property
    def not_applicable(self) -> bool:
        return self.overall_score is None


@dataclass
class Grounder:
    """Finds quotes in a transcript; built once per call.

    The model's quote is only a pointer into the transcript: a grounded quote is stored as
    the words of the line it matched (`_Line.span`), so what a rep and a manager read as
    said on the call is what the transcript says, never the model's paraphrase of it."""

    utterances: list[Utterance]
    call_url: str | None
    moment_template: str

    def __post_init__(self) -> None:
        self._index = [(_Line(u.text), u) for u in self.utterances]

    def check(self, ev: Evidence, rep_only: bool = False) -> GroundedEvidence | WrongSpeaker | None:
        """The quote grounded in a line said by the side the model named (`said_by`); when
        `rep_only`, in a line Gong places on the rep's side (`internal` True). WrongSpeaker
        when lines hold it but none said by a side that fits; None when no line holds it.

        A speaker Gong does not place (`internal` None) fits either side the model names,
        except for a rep-only criterion: it scores the rep's own words, and an unplaced
        dial-in is as likely the customer as the rep, so it cannot prove them."""
        found = self._lines(ev.quote)
        if not found:
            return None
        wanted = {"rep": True, "customer": False}[ev.said_by]
        for utt, span in found:
            side = utt.speaker.internal
            if rep_only and side is not True:
                continue
            if side is None or side == wanted:
                return self._evidence(span, utt, ev.said_by)
        return WrongSpeaker(ev.quote)

    def _lines(self, quote: str) -> list[tuple[Utterance, str]]:
        """Each line holding the quote's words, with the span of the line they are (its
        first occurrence). At least seven folded characters: shorter proves nothing."""
        quote = quote.strip()
        needle = words(quote)
        if sum(len(w.text) for w in needle) < 7:
            return []
        key = _key(needle)
        lead = bool(quote[: needle[0].start].strip())
        trail = bool(quote[needle[-1].end :].strip())
        found = []
        for line, utt in self._index:
            span = line.span(key, len(needle), lead, trail)
            if span is not None:
                found.append((utt, span))
        return found

    def _evidence(self, quote: str, utt: Utterance, said_by: str | None) -> GroundedEvidence:
        start_s = utt.start_ms // 1000
        link = (
            self.moment_template.format(call_url=self.call_url, seconds=start_s)
            if self.call_url
            else None
        )
        return GroundedEvidence(
            quote=quote,
            timestamp=format_ts(utt.start_ms),
            speaker=utt.speaker.name,
            start_s=start_s,
            link=link,
            said_by=said_by,
        )


_SEP = "\x1f"  # never part of a word (`words` drops control characters)


def _key(ws: list[Word]) -> str:
    """What a quote is matched on: its `words`, each fenced by a separator, so a match
    starts and ends on word boundaries in spaced scripts (each character of Japanese or
    Chinese is a word, so there any position is a boundary) and a number only matches
    the same number with the same marks."""
    return _SEP + _SEP.join(w.text for w in ws) + _SEP


class _Line:
    """One transcript line, folded once for matching."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = words(text)
        self.key = _key(self.words)

    def span(self, key: str, count: int, lead: bool, trail: bool) -> str | None:
        """The line's own text for the first match of `key` (`count` words), mapped back
        from folded words to the original characters; widened over the marks right before
        or after it when the quote had marks there too (a closing "?" or "。")."""
        at = self.key.find(key)
        if at < 0:
            return None
        first = self.key.count(_SEP, 0, at)
        start, end = self.words[first].start, self.words[first + count - 1].end
        if lead:
            while start > 0 and _is_mark(self.text[start - 1]):
                start -= 1
        if trail:
            while end < len(self.text) and _is_mark(self.text[end]):
                end += 1
        return self.text[start:end]


def _is_mark(c: str) -> bool:
    return not c.isspace() and unicodedata.category(c)[0] not in "LNM"


@dataclass(frozen=True)
class WrongSpeaker:
    """A quote found verbatim, but only in the mouth of the other side."""

    quote: str


@dataclass
class ChunkResult:
    assessment: DimensionAssessment
    weight: int  # new tokens this chunk covers


def aggregate(
    dimension: str, rubric: Rubric, parts: list[ChunkResult], grounder: Grounder
) -> DimensionResult:
    """Fold chunk assessments into one result: scores weighted by coverage (a criterion that
    happens once per call, `once_per_call`, by its best part instead), quotes grounded.

    A criterion N/A in one part is left out of that criterion's aggregate (the parts that
    scored it are re-weighted) instead of pulling it down; N/A in every part stays N/A.
    Evidence repeated in the overlap of two chunks is counted once.

    The published score follows the reasons: the scored criteria weighted by the rubric's
    weights. The model's holistic overall is only a check (`model_overall`): a dimension
    it calls N/A stays N/A, and a gap of more than one point marks it for review.
    """
    tally = _Tally()
    criteria = [_criterion(crit, parts, grounder, tally) for crit in rubric.criteria]
    main = max(parts, key=lambda p: p.weight).assessment
    model_overall = _weighted((p.assessment.overall_score, p.weight) for p in parts)
    scored = [(c.score, c.weight) for c in criteria if c.score is not None]
    weighted = _weighted(scored) if model_overall is not None else None
    return DimensionResult(
        dimension=dimension,
        overall_score=weighted,
        weighted_score=weighted,
        model_overall=model_overall,
        review_reasons=_overall_check(weighted, model_overall),
        criteria=criteria,
        strengths=_unique(s for p in parts for s in p.assessment.strengths)[:5],
        improvements=_unique(s for p in parts for s in p.assessment.improvements)[:5],
        coaching_note=main.coaching_note,
        quotes_dropped=tally.dropped,
        chunks=len(parts),
        quotes_wrong_speaker=tally.wrong_speaker,
    )


MAX_OVERALL_GAP = 1.0  # points between the weighted criteria and the model's overall


def _overall_check(weighted: float | None, model_overall: float | None) -> list[str]:
    """A reason to review when the model's overall disagrees with its own criteria by more
    than `MAX_OVERALL_GAP` (the number does not follow the reasons); none otherwise."""
    if weighted is None or model_overall is None:
        return []
    if round(abs(weighted - model_overall), 2) <= MAX_OVERALL_GAP:
        return []
    return [
        f"overall check: the model's overall {model_overall:g} is more than"
        f" {MAX_OVERALL_GAP:g} point from its criteria's weighted {weighted:g}"
    ]


@dataclass
class _Tally:
    dropped: int = 0
    wrong_speaker: int = 0
    seen: set[str] = field(default_factory=set)


def _criterion(
    crit: Criterion, parts: list[ChunkResult], grounder: Grounder, tally: _Tally
) -> CriterionResult:
    items = [
        (next(c for c in p.assessment.criteria if c.criterion_id == crit.id), p.weight)
        for p in parts
    ]
    scored = [(item, w) for item, w in items if item.score is not None] or items
    if crit.once_per_call:
        score, rationale = _best_part(scored)
    else:
        score = _weighted((item.score, w) for item, w in items)
        rationale = max(scored, key=lambda x: x[1])[0].rationale
    evidence: list[GroundedEvidence] = []
    for item, _ in items:
        for ev in item.evidence:
            found = grounder.check(ev, rep_only=crit.rep_words_only)
            if not isinstance(found, GroundedEvidence):
                tally.dropped += 1
                tally.wrong_speaker += isinstance(found, WrongSpeaker)
            elif normalise(found.quote) not in tally.seen:
                tally.seen.add(normalise(found.quote))
                evidence.append(found)
    return CriterionResult(
        criterion_id=crit.id,
        name=crit.name,
        weight=crit.weight,
        score=score,
        rationale=rationale,
        evidence=evidence,
    )


def _best_part(scored: list[tuple[CriterionAssessment, int]]) -> tuple[float | None, str]:
    """A behaviour that happens once per call is judged where it happened: the best part's
    score and reasons (an agenda in the last part is not diluted by the parts before it).
    `scored` holds the parts that scored it, or every part when none did (N/A)."""
    best = max(scored, key=lambda x: (x[0].score or 0, x[1]))[0]
    return (float(best.score) if best.score is not None else None), best.rationale


def _weighted(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    """The weighted mean of the values that are not None (N/A); None when all are."""
    known = [(v, w) for v, w in pairs if v is not None]
    total = sum(w for _, w in known)
    if not known:
        return None
    if total <= 0:
        return round(sum(v for v, _ in known) / len(known), 2)
    return round(sum(v * w for v, w in known) / total, 2)


def _unique(items: object) -> list[str]:
    out, seen = [], set()
    for item in items:  # type: ignore[attr-defined]
        key = normalise(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def weighted_mean(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    """The weighted mean of the values that are not None (N/A); None when all are."""
    return _weighted(pairs)


def overall_check(weighted: float | None, model_overall: float | None) -> list[str]:
    """Why a person should look when the model's overall is over a point from its criteria."""
    return _overall_check(weighted, model_overall)
