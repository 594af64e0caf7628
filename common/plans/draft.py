"""A rep's weekly plan, drafted from the rubric and the week's scores a person may see with
their evidence: no model call, so every word is either the rubric's or the rep's calls'.

- what is working (up to `WORKING`): the criteria with the highest mean this week, at
  `WORKING_MIN` or above (a weak week names fewer rather than praise a low score), each with
  its quote from the call where it scored best;
- what to tighten (up to `TIGHTEN`): of the rest, the most room to grow weighted by the
  rubric's weight (as the rep's note picks its focus), each with its quote from the call where
  it scored worst and what a 5 reads as;
- one exercise: a practice scenario on the first tighten item that has a customer's words at
  a scored moment (the situation, what the customer said with its Gong link, and what a strong
  answer covers: the rubric's top level of that criterion); when no tighten item has one, the
  first item's moment in the rep's own words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from common.config import DIMENSIONS
from common.repnotes.compose import CallFacts, Moment, Shown, best_moment
from common.rubrics import Criterion

WORKING = 3  # items of what is working, at most
TIGHTEN = 2  # items to tighten, at most
WORKING_MIN = 3.0  # a week's mean below this is not named as working
QUOTE_CHARS = 240  # longer quotes are shortened


class PlanMoment(BaseModel):
    """A scored moment of one of the rep's calls."""

    call_id: str
    call_title: str
    quote: str
    said_by: str | None = None  # rep | customer
    timestamp: str = ""
    link: str | None = None  # the moment in Gong


class PlanItem(BaseModel):
    criterion: str | None = None  # dimension.criterion it is about (None: a manager's own point)
    text: str
    moment: PlanMoment | None = None


class Exercise(BaseModel):
    """A practice scenario from a moment of the rep's own call."""

    criterion: str | None = None
    situation: str
    customer_said: str | None = None  # the customer's words at the moment
    rep_said: str | None = None  # the rep's, when no customer moment was scored
    timestamp: str | None = None
    link: str | None = None
    call_id: str | None = None
    call_title: str | None = None
    strong_answer: str  # what a strong answer covers


class PlanDraft(BaseModel):
    working: list[PlanItem]
    tighten: list[PlanItem]
    exercise: Exercise | None


@dataclass(frozen=True)
class _Seen:
    """One call's score of a criterion."""

    call: CallFacts
    shown: Shown


def draft_plan(
    calls: Sequence[CallFacts], rubric: Mapping[str, Criterion], tz: str
) -> PlanDraft | None:
    """The week's plan from the rep's `calls` (their shown criterion scores only); None when
    nothing of the week may be shown. `rubric`: criteria by `dimension.criterion`; `tz`: the
    report time zone the calls' days are named in."""
    seen = _by_criterion(calls)
    if not seen:
        return None
    means = {k: fmean(x.shown.score for x in v) for k, v in seen.items()}
    strong = [k for k in seen if means[k] >= WORKING_MIN]
    working = sorted(strong, key=lambda k: (-means[k], -len(seen[k]), _order(k), k))[:WORKING]
    rest = [k for k in seen if k not in working]
    tighten = sorted(rest, key=lambda k: _room(k, means[k], seen[k], rubric))[:TIGHTEN]
    return PlanDraft(
        working=[_working(seen[k], means[k], rubric) for k in working],
        tighten=[_tighten(seen[k], means[k], rubric) for k in tighten],
        exercise=_exercise(tighten, seen, rubric, tz),
    )


def coached(tighten: Sequence[PlanItem], ex: Exercise | None) -> list[str]:
    """The criteria the tighten items and the exercise name: what the plan coaches."""
    keys = {i.criterion for i in tighten} | {ex.criterion if ex else None}
    return sorted(k for k in keys if k)


def quoted_calls(
    working: Sequence[PlanItem], tighten: Sequence[PlanItem], ex: Exercise | None
) -> list[str]:
    """Every call the plan quotes."""
    ids = {i.moment.call_id for i in [*working, *tighten] if i.moment}
    return sorted(ids | ({ex.call_id} if ex and ex.call_id else set()))


def _by_criterion(calls: Sequence[CallFacts]) -> dict[str, list[_Seen]]:
    out: dict[str, list[_Seen]] = {}
    for call in calls:
        for c in call.criteria:
            out.setdefault(c.key, []).append(_Seen(call, c))
    return out


def _order(key: str) -> int:
    dimension = key.partition(".")[0]
    return DIMENSIONS.index(dimension) if dimension in DIMENSIONS else len(DIMENSIONS)


def _room(
    key: str, mean: float, seen: Sequence[_Seen], rubric: Mapping[str, Criterion]
) -> tuple[float, float, int, str]:
    """Sort key: most weighted room to grow first, then the lower mean, then a fixed order."""
    weight = rubric[key].weight if key in rubric else seen[0].shown.weight
    return (-(5.0 - mean) * weight, mean, _order(key), key)


def _when(x: _Seen) -> str:
    return x.call.started_at.isoformat() if x.call.started_at else ""


def _best(seen: Sequence[_Seen]) -> _Seen:
    """The call where the criterion scored best (the latest of equals)."""
    return max(seen, key=lambda x: (x.shown.score, _when(x), x.call.call_id))


def _worst(seen: Sequence[_Seen]) -> list[_Seen]:
    """The calls by the criterion's score, worst first (the earliest of equals)."""
    return sorted(seen, key=lambda x: (x.shown.score, _when(x), x.call.call_id))


def _moment(x: _Seen, m: Moment | None) -> PlanMoment | None:
    if m is None:
        return None
    return PlanMoment(
        call_id=x.call.call_id,
        call_title=x.call.title,
        quote=_quote(m.quote),
        said_by=m.said_by,
        timestamp=m.timestamp,
        link=m.link or x.call.url,
    )


def _working(seen: Sequence[_Seen], mean: float, rubric: Mapping[str, Criterion]) -> PlanItem:
    best = _best(seen)
    name = _name(best.shown, rubric)
    text = f"{name}: {_fmt(mean)}/5 over {_calls(len(seen))} this week."
    return PlanItem(
        criterion=best.shown.key, text=text, moment=_moment(best, best_moment(best.shown))
    )


def _tighten(seen: Sequence[_Seen], mean: float, rubric: Mapping[str, Criterion]) -> PlanItem:
    worst = _worst(seen)[0]
    key = worst.shown.key
    text = f"{_name(worst.shown, rubric)}: {_fmt(mean)}/5 over {_calls(len(seen))} this week."
    if key in rubric:
        text += f" Aim for: {_sentence(rubric[key].levels[5])}"
    return PlanItem(criterion=key, text=text, moment=_moment(worst, best_moment(worst.shown)))


def _exercise(
    tighten: Sequence[str],
    seen: Mapping[str, Sequence[_Seen]],
    rubric: Mapping[str, Criterion],
    tz: str,
) -> Exercise | None:
    """The practice scenario: the first tighten criterion with a customer's words at one of
    its scored moments (its worst call first), else the first one's worst moment."""
    for key in tighten:
        for x in _worst(seen[key]):
            said = [m for m in x.shown.evidence if m.said_by == "customer"]
            if said:
                return _scenario(x, min(said, key=lambda m: m.link is None), rubric, tz)
    for key in tighten[:1]:
        for x in _worst(seen[key]):
            m = best_moment(x.shown)
            if m is not None:
                return _scenario(x, m, rubric, tz)
    return None


def _scenario(x: _Seen, m: Moment, rubric: Mapping[str, Criterion], tz: str) -> Exercise:
    key, name = x.shown.key, _name(x.shown, rubric)
    day = f" ({x.call.started_at.astimezone(ZoneInfo(tz)):%a %d %b})" if x.call.started_at else ""
    at = f", at {m.timestamp}" if m.timestamp else ""
    customer = m.said_by == "customer"
    practice = "answer the customer again" if customer else "say it again, better"
    situation = f'On "{x.call.title}"{day}{at}, {name} scored {_fmt(x.shown.score)}/5: {practice}.'
    strong = (
        _sentence(rubric[key].levels[5])
        if key in rubric
        else f"What the rubric's top level of {name} describes."
    )
    return Exercise(
        criterion=key,
        situation=situation,
        customer_said=_quote(m.quote) if customer else None,
        rep_said=None if customer else _quote(m.quote),
        timestamp=m.timestamp or None,
        link=m.link or x.call.url,
        call_id=x.call.call_id,
        call_title=x.call.title,
        strong_answer=strong,
    )


def _name(c: Shown, rubric: Mapping[str, Criterion]) -> str:
    return rubric[c.key].name if c.key in rubric else c.name


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def _quote(text: str) -> str:
    flat = " ".join(text.replace('"', "'").split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1].rstrip() + "…"


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _fmt(score: float) -> str:
    return f"{round(score, 1):g}"
