"""The rep's note for one call, written from the rubric, the scores a person may see and their
evidence: no model call, so every word is either the rubric's or the call's.

The note is two or three sentences and one next action:

1. what went well: a clear improvement on a criterion against the rep's recent calls (at
   least `CLEAR_GAIN` points above their mean over the last `RECENT` calls, with at least
   `MIN_HISTORY` of them), else the strongest criterion at `STRONG` or above; left out when
   neither;
2. the focus: ONE criterion, with the moment that matters most (its evidence quote and Gong
   link). A rep with many low criteria still gets one: the previous note's focus while it is
   still low (one focus at a time, until it improves), else the low criterion with the most
   room to grow weighted by the rubric's weight;
3. what the rubric says the focus's score reads as (its nearest described level).

The action asks for what a 5 on the focus looks like, in the rubric's words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from statistics import fmean

from pydantic import BaseModel

from common.config import DIMENSIONS
from common.rubrics import Criterion

LOW = 3.0  # a criterion scored below this is low
STRONG = 4.0  # a criterion at or above this is worth naming as what went well
CLEAR_GAIN = 1.0  # points above the rep's recent mean that make an improvement clear
MIN_HISTORY = 3  # earlier calls with the criterion scored, at least, for a comparison
RECENT = 5  # earlier calls the recent mean is taken over
QUOTE_CHARS = 160  # longer quotes are shortened


class Moment(BaseModel):
    """An evidence quote and where it is in the call."""

    quote: str
    timestamp: str
    link: str | None = None
    said_by: str | None = None


class Shown(BaseModel):
    """A criterion score a person may see on this call, with its evidence."""

    dimension: str
    criterion_id: str
    name: str
    weight: float
    score: float
    evidence: list[Moment] = []

    @property
    def key(self) -> str:
        return f"{self.dimension}.{self.criterion_id}"


class CallFacts(BaseModel):
    call_id: str
    rep_id: str
    title: str
    url: str | None
    started_at: datetime | None
    criteria: list[Shown]  # shown criterion scores only (N/A and held ones are not here)


class Draft(BaseModel):
    sentences: list[str]  # two or three
    action: str  # the one next action
    moment_link: str | None
    moment_at: str | None
    focus: str  # dimension.criterion
    praise: str | None  # dimension.criterion clearly improved, if any

    @property
    def body(self) -> str:
        return " ".join(self.sentences)


def compose(
    call: CallFacts,
    history: Mapping[str, Sequence[float]],
    rubric: Mapping[str, Criterion],
    previous_focus: str | None = None,
) -> Draft | None:
    """The note for `call`; None when nothing of it may be shown yet.

    `history`: the rep's shown scores per `dimension.criterion` on earlier calls, newest
    first; `rubric`: the rubric's criteria by the same key; `previous_focus`: the focus of the
    rep's last note."""
    if not call.criteria:
        return None
    focus, kept = pick_focus(call.criteria, rubric, previous_focus)
    gain = improvement(call.criteria, history)
    sentences = [s for s in (_well(call.criteria, focus, gain, rubric),) if s]
    moment = best_moment(focus)
    sentences.append(_focus_sentence(focus, _name(focus, rubric), moment, kept))
    reads = _reads_as(focus, rubric.get(focus.key))
    if reads:
        sentences.append(reads)
    elif len(sentences) < 2:
        sentences.append(f'Every score and quote of "{call.title}" is in your coaching view.')
    return Draft(
        sentences=sentences,
        action=_action(focus, rubric.get(focus.key)),
        moment_link=moment.link if moment else call.url,
        moment_at=moment.timestamp if moment else None,
        focus=focus.key,
        praise=gain[0].key if gain else None,
    )


def pick_focus(
    criteria: Sequence[Shown], rubric: Mapping[str, Criterion], previous: str | None
) -> tuple[Shown, bool]:
    """The one criterion to work on, and whether it is the previous note's (kept while it is
    still low)."""
    by_key = {c.key: c for c in criteria}
    if previous in by_key and by_key[previous].score < LOW:
        return by_key[previous], True
    low = [c for c in criteria if c.score < LOW]
    return min(low or criteria, key=lambda c: _room(c, rubric)), False


def _room(c: Shown, rubric: Mapping[str, Criterion]) -> tuple[float, float, int, str]:
    """Sort key: most weighted room to grow first, then the lower score, then a fixed order."""
    weight = rubric[c.key].weight if c.key in rubric else c.weight
    order = DIMENSIONS.index(c.dimension) if c.dimension in DIMENSIONS else len(DIMENSIONS)
    return (-(5.0 - c.score) * weight, c.score, order, c.criterion_id)


def improvement(
    criteria: Sequence[Shown], history: Mapping[str, Sequence[float]]
) -> tuple[Shown, float, int] | None:
    """The criterion most clearly above the rep's recent mean: (it, the mean, calls)."""
    found: list[tuple[float, str, Shown, float, int]] = []
    for c in criteria:
        past = list(history.get(c.key, ()))[:RECENT]
        if len(past) < MIN_HISTORY:
            continue
        mean = fmean(past)
        if c.score - mean >= CLEAR_GAIN:
            found.append((-(c.score - mean), c.key, c, mean, len(past)))
    if not found:
        return None
    _, _, best, mean, n = min(found, key=lambda f: (f[0], f[1]))
    return best, mean, n


def best_moment(c: Shown) -> Moment | None:
    """The criterion's first quote with a Gong link, else its first quote."""
    linked = [m for m in c.evidence if m.link]
    return (linked or c.evidence)[0] if c.evidence else None


def _well(
    criteria: Sequence[Shown],
    focus: Shown,
    gain: tuple[Shown, float, int] | None,
    rubric: Mapping[str, Criterion],
) -> str | None:
    if gain:
        c, mean, n = gain
        return (
            f"Clear progress on {_name(c, rubric)}: {_fmt(c.score)}/5 on this call, up from an average"
            f" of {mean:.1f} over your previous {n} calls."
        )
    strong = [c for c in criteria if c.score >= STRONG and c.key != focus.key]
    if not strong:
        return None
    best = min(strong, key=lambda c: (-c.score, -c.weight, c.key))
    moment = best_moment(best)
    said = f': "{_quote(moment.quote)}"' if moment else ""
    return f"{_name(best, rubric)} went well ({_fmt(best.score)}/5){said}."


def _focus_sentence(focus: Shown, name: str, moment: Moment | None, kept: bool) -> str:
    lead = "Your focus stays on" if kept else "The one thing to work on is"
    head = f"{lead} {name} ({_fmt(focus.score)}/5)"
    if moment is None:
        return f"{head}."
    return (
        f'{head}; the moment that matters most is at {moment.timestamp}: "{_quote(moment.quote)}".'
    )


def _reads_as(focus: Shown, criterion: Criterion | None) -> str | None:
    """What the rubric says the focus's score reads as: its nearest described level (1, 3
    or 5; halfway, the lower)."""
    if criterion is None:
        return None
    level = min(sorted(criterion.levels), key=lambda lv: abs(lv - focus.score))
    text = criterion.levels.get(level)
    return _sentence(f"The rubric reads a {level} as: {text.strip()}") if text else None


def _action(focus: Shown, criterion: Criterion | None) -> str:
    if criterion is None or 5 not in criterion.levels:
        return f"On your next call, work on {focus.name}."
    target = criterion.levels[5].strip()
    return _sentence(f"On your next call, aim for a 5 on {criterion.name}: {target}")


def _name(c: Shown, rubric: Mapping[str, Criterion]) -> str:
    return rubric[c.key].name if c.key in rubric else c.name


def _quote(text: str) -> str:
    flat = " ".join(text.replace('"', "'").split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1].rstrip() + "…"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _fmt(score: float) -> str:
    return f"{round(score, 1):g}"
