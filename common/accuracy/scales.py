"""A Gong scorecard answer on the rubric's 1-5 scale, or the reason it cannot be.

Each question of a Gong scorecard has its own scale, read from `GET /v2/settings/scorecards`:
a RANGE question is scored `minRange`..`maxRange` (1-5, 1-10, 0-50, ...); a select question
(single choice, yes/no) has `answerOptions`, and its answers name `selectedOptions`. A range is
mapped linearly onto 1-5 (its minimum to 1, its maximum to 5, rounded half up, in exact
arithmetic); options are mapped through the values the mapping file gives them (by option text
or id). Nothing else is guessed: a question or an answer that cannot be put on 1-5 gets an
`Unmapped` with its reason, for the import to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import floor

from common.gong import ScorecardAnswer, ScorecardQuestion

LOW, HIGH = 1, 5  # the rubric's scale


@dataclass(frozen=True)
class Unmapped:
    reason: str


@dataclass(frozen=True)
class RangeScale:
    low: int
    high: int

    def describe(self) -> str:
        if (self.low, self.high) == (LOW, HIGH):
            return f"{LOW}-{HIGH}"
        return f"{self.low}-{self.high}, linear onto {LOW}-{HIGH}"

    def rubric_score(self, answer: ScorecardAnswer) -> int | Unmapped:
        score = answer.score
        if score is None:
            return Unmapped(f"no score on the {self.low}-{self.high} scale")
        if not self.low <= score <= self.high:
            return Unmapped(f"score {score} is outside {self.low}-{self.high}")
        return linear(score, self.low, self.high)


@dataclass(frozen=True)
class OptionScale:
    texts: Mapping[str, str]  # option id -> its text, every option of the question
    values: Mapping[str, int]  # option id -> 1-5, the options the mapping file gives a value

    def describe(self) -> str:
        return ", ".join(
            f"{text!r} -> {self.values.get(oid, 'no value')}" for oid, text in self.texts.items()
        )

    def rubric_score(self, answer: ScorecardAnswer) -> int | Unmapped:
        chosen = list(dict.fromkeys(answer.selectedOptions or []))
        if not chosen:
            return Unmapped("no option selected")
        if len(chosen) > 1:
            return Unmapped(f"{len(chosen)} options selected, one value is needed")
        option = chosen[0]
        if option not in self.texts:
            return Unmapped(f"option {option} is not one of the question's")
        if option not in self.values:
            return Unmapped(f"option {self.texts[option]!r} has no value in the mapping file")
        return self.values[option]


Scale = RangeScale | OptionScale


def linear(score: int, low: int, high: int) -> int:
    """`score` of low..high onto 1..5: low -> 1, high -> 5, the nearest step, halves up."""
    exact = LOW + Fraction(score - low, high - low) * (HIGH - LOW)
    return floor(exact + Fraction(1, 2))


def read_scale(question: ScorecardQuestion, option_values: Mapping[str, int]) -> Scale | Unmapped:
    """The question's scale from Gong's settings. `option_values` are the mapping file's values
    for its options, keyed by option id or by option text in lower case."""
    kind = question.questionType or "untyped"
    if question.answerOptions:
        texts = {o.id: o.text for o in question.answerOptions if o.id is not None}
        values = {}
        for oid, text in texts.items():
            value = option_values.get(oid, option_values.get(text.strip().lower()))
            if value is not None:
                values[oid] = value
        if not values:
            names = ", ".join(repr(t) for t in texts.values())
            return Unmapped(
                f"{kind} question with options {names}: give each a 1-5 value under"
                " `options` in the mapping file"
            )
        return OptionScale(texts, values)
    if question.minRange is not None and question.maxRange is not None:
        if question.maxRange <= question.minRange:
            return Unmapped(f"empty range {question.minRange}-{question.maxRange}")
        return RangeScale(question.minRange, question.maxRange)
    return Unmapped(f"{kind} question has neither a range nor answer options in Gong's settings")
