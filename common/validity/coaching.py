"""Did coaching change anything: the rep's scores on the coached criterion after a coaching
event against before, beyond the change of reps not coached in the same weeks.

A coaching event (`CoachingEvent`) is a manager's word on one criterion of one of the rep's
calls (an override, a confirmation, a resolved dispute; later the rep's plan) on day `at`.
Events of one rep on the same criterion and day are one event (its coached call the earliest).

Per event, on the event's (dimension, criterion):

- windows, the same for every rep: `before` is the `weeks` weeks before the coached call's
  day (`call_at`; the event's day when there is none, as for a plan), `after` the `weeks` weeks
  after the event's day. The days from the coached call to the event are in neither: the
  coached call's score is the manager's (it replaced the AI's), and a call picked for review
  or disputed is often an unusually bad one, so counting it would read regression to the mean
  as an effect; a call on the event's day may be before or after the talk. Leaving the gap out
  for everyone, not only the coached call, keeps a common trend from reading as an effect.
  Days are whole dates (UTC).
- the coached rep's change: their mean score in `after` minus their mean in `before`.
- the control change: the mean over control reps of the same change over the same windows. A
  control rep has at least one score on the criterion in each window and no coaching event of
  any kind, on any criterion, from the start of `before` to the end of `after`: coaching on one
  criterion may move the others, so a rep coached on anything then is no control.
- the event is usable when the coached rep has a score in each window and there is at least
  one control rep; its difference in differences is its change minus the control change.

The effect is the mean over usable events (each event weighs the same; overlapping events of a
rep each count). The 95% interval is a percentile cluster bootstrap over reps: the reps in any
usable event (coached or control) are drawn with replacement, `rounds` times; a rep drawn k
times weighs k as coached rep of each of its events and as control rep in each control mean.
Reps are the unit because one rep's calls, and the events of one rep, are not independent.

Minimum: below `min_events` usable events (30 by default) there are no numbers, only how many
more are needed; a dimension with fewer usable events than that is listed without numbers.
Few coached reps make the interval unreliable however many events they had: the line says how
many reps. This is before against after with a comparison group, not a randomised trial: a
manager who coaches reps just before they would improve anyway is not ruled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
from pydantic import BaseModel

MIN_EVENTS = 30
CHUNK = 250  # bootstrap rounds per matrix product (bounds memory with many reps and events)
Key = tuple[str, str]  # (dimension, criterion)
Kind = Literal["override", "confirmation", "dispute", "plan", "note"]


class ScorePoint(BaseModel):
    """One published (or person-confirmed) score of a rep on one call."""

    rep_id: str
    dimension: str
    criterion: str  # "overall": the dimension's score
    at: date  # the call's day (UTC)
    score: float


class CoachingEvent(BaseModel):
    rep_id: str
    dimension: str
    criterion: str
    at: date  # the day the manager's word was recorded (UTC)
    kind: Kind
    call_at: date | None = None  # the day of the call scored or disputed (UTC)


class DimensionEffect(BaseModel):
    dimension: str
    usable_events: int
    effect: float | None  # None: fewer usable events than the minimum
    ci_low: float | None
    ci_high: float | None


class CoachingEffect(BaseModel):
    enough_events: bool
    events: int  # coaching events given (one per rep, criterion and day)
    usable_events: int  # with scores on both sides and at least one control rep
    reps: int  # coached reps of the usable events
    control_reps: int  # reps that were a control for at least one usable event
    effect: float | None  # mean difference in differences, in score points
    ci_low: float | None
    ci_high: float | None
    coached_change: float | None  # the naive after minus before of coached reps alone
    control_change: float | None  # the same over the same windows for control reps
    more_needed: int  # usable events still needed to reach the minimum (0 when enough)
    weeks: int
    by_dimension: list[DimensionEffect]

    def public(self) -> dict[str, object]:
        """The `--json` shape."""
        return self.model_dump()


@dataclass(frozen=True)
class _Event:
    rep: int
    key: Key
    day: int
    call_day: int  # the coached call's day (the event's day when there is none)


@dataclass(frozen=True)
class _Series:
    """The scores of one criterion: rep index, day and score of each."""

    rep: np.ndarray
    day: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class _World:
    reps: int
    series: dict[Key, _Series]
    event_rep: np.ndarray  # every event's rep and day, for who was coached when
    event_day: np.ndarray


@dataclass(frozen=True)
class _Usable:
    rep: int
    dimension: str
    treated: float  # the coached rep's after minus before
    change: np.ndarray  # after minus before of every rep (0 where not a control)
    controls: np.ndarray  # bool: a control rep of this event


def estimate(
    points: Iterable[ScorePoint],
    events: Iterable[CoachingEvent],
    weeks: int = 4,
    min_events: int = MIN_EVENTS,
    rounds: int = 2000,
    seed: int = 0,
) -> CoachingEffect:
    """The coaching effect of `events` on the scores `points` (see the module's docstring)."""
    if weeks < 1 or rounds < 1:
        raise ValueError("weeks and rounds must be at least 1")
    points, events = list(points), list(events)
    reps = {
        r: i for i, r in enumerate(sorted({p.rep_id for p in points} | {e.rep_id for e in events}))
    }
    coached = _dedupe(events, reps)
    world = _world(points, coached, reps)
    usable = [u for e in coached if (u := _usable(world, e, weeks)) is not None]
    if len(usable) < max(min_events, 1):
        return _too_few(len(coached), len(usable), max(min_events, 1), weeks)
    return _effect(len(coached), usable, weeks, min_events, rounds, seed)


def _dedupe(events: Sequence[CoachingEvent], reps: dict[str, int]) -> list[_Event]:
    """One event per rep, criterion and day, from its earliest coached call (never after it)."""
    grouped: dict[tuple[int, Key, int], int] = {}
    for e in events:
        day = _day(e.at)
        call_day = min(day, _day(e.call_at)) if e.call_at else day
        group = (reps[e.rep_id], (e.dimension, e.criterion), day)
        grouped[group] = min(grouped.get(group, call_day), call_day)
    return [_Event(rep, key, day, call_day) for (rep, key, day), call_day in grouped.items()]


def _day(at: date) -> int:
    return at.toordinal()


def _world(
    points: Sequence[ScorePoint],
    coached: Sequence[_Event],
    reps: dict[str, int],
) -> _World:
    by_key: dict[Key, list[ScorePoint]] = {}
    for p in points:
        by_key.setdefault((p.dimension, p.criterion), []).append(p)
    series = {
        key: _Series(
            rep=np.array([reps[p.rep_id] for p in ps], dtype=np.int64),
            day=np.array([_day(p.at) for p in ps], dtype=np.int64),
            score=np.array([p.score for p in ps], dtype=np.float64),
        )
        for key, ps in by_key.items()
    }
    return _World(
        reps=len(reps),
        series=series,
        event_rep=np.array([e.rep for e in coached], dtype=np.int64),
        event_day=np.array([e.day for e in coached], dtype=np.int64),
    )


def _usable(world: _World, event: _Event, weeks: int) -> _Usable | None:
    """The event's changes, or None when the coached rep lacks a side or no rep can compare."""
    s = world.series.get(event.key)
    if s is None:
        return None
    low, high = event.call_day - 7 * weeks, event.day + 7 * weeks
    before = _means(s, (s.day >= low) & (s.day < event.call_day), world.reps)
    after = _means(s, (s.day > event.day) & (s.day <= high), world.reps)
    change = after - before  # nan where either side has no score
    if np.isnan(change[event.rep]):
        return None
    busy = np.zeros(world.reps, dtype=bool)  # coached on anything in the combined window
    busy[world.event_rep[(world.event_day >= low) & (world.event_day <= high)]] = True
    controls = ~np.isnan(change) & ~busy
    if not controls.any():
        return None
    treated = float(change[event.rep])
    return _Usable(event.rep, event.key[0], treated, np.where(controls, change, 0.0), controls)


def _means(s: _Series, mask: np.ndarray, reps: int) -> np.ndarray:
    """Each rep's mean score where `mask` (nan for a rep with none)."""
    n = np.bincount(s.rep[mask], minlength=reps).astype(np.float64)
    total = np.bincount(s.rep[mask], weights=s.score[mask], minlength=reps)
    means: np.ndarray = np.divide(total, n, out=np.full(reps, np.nan), where=n > 0)
    return means


def _too_few(events: int, usable: int, minimum: int, weeks: int) -> CoachingEffect:
    return CoachingEffect(
        enough_events=False,
        events=events,
        usable_events=usable,
        reps=0,
        control_reps=0,
        effect=None,
        ci_low=None,
        ci_high=None,
        coached_change=None,
        control_change=None,
        more_needed=minimum - usable,
        weeks=weeks,
        by_dimension=[],
    )


@dataclass(frozen=True)
class _Design:
    """Usable events over the involved reps only (the clusters resampled)."""

    treated: np.ndarray  # (events,) the coached rep's change
    rep: np.ndarray  # (events,) the coached rep's column
    change: np.ndarray  # (events, reps) control reps' change, 0 elsewhere
    controls: np.ndarray  # (events, reps) 1.0 for a control rep
    groups: np.ndarray  # (events, 1 + dimensions) one-hot: all events, then each dimension


def _design(usable: Sequence[_Usable], dimensions: Sequence[str]) -> _Design:
    controls = np.array([u.controls for u in usable])
    coached = np.zeros(controls.shape[1], dtype=bool)
    coached[[u.rep for u in usable]] = True
    involved = np.flatnonzero(controls.any(axis=0) | coached)
    column = {int(r): i for i, r in enumerate(involved)}
    groups = np.column_stack(
        [np.ones(len(usable))] + [[u.dimension == d for u in usable] for d in dimensions]
    ).astype(np.float64)
    return _Design(
        treated=np.array([u.treated for u in usable]),
        rep=np.array([column[u.rep] for u in usable], dtype=np.int64),
        change=np.array([u.change for u in usable])[:, involved],
        controls=controls[:, involved].astype(np.float64),
        groups=groups,
    )


def _weighted(d: _Design, weights: np.ndarray) -> np.ndarray:
    """(rounds, groups) effects under rep weights (rounds, reps): nan where a group has no
    event with its coached rep drawn and a control rep drawn."""
    n = weights @ d.controls.T
    control = np.divide(weights @ d.change.T, n, out=np.zeros_like(n), where=n > 0)
    w = weights[:, d.rep] * (n > 0)
    total, count = (w * (d.treated - control)) @ d.groups, w @ d.groups
    effects: np.ndarray = np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
    return effects


def _bootstrap(d: _Design, rounds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = d.controls.shape[1]
    out = []
    for start in range(0, rounds, CHUNK):
        size = min(CHUNK, rounds - start)
        draws = rng.multinomial(n, np.full(n, 1 / n), size=size).astype(np.float64)
        out.append(_weighted(d, draws))
    return np.concatenate(out)


def _interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _effect(
    events: int, usable: Sequence[_Usable], weeks: int, min_events: int, rounds: int, seed: int
) -> CoachingEffect:
    dimensions = sorted({u.dimension for u in usable})
    d = _design(usable, dimensions)
    point = _weighted(d, np.ones((1, d.controls.shape[1])))[0]
    draws = _bootstrap(d, rounds, seed)
    low, high = _interval(draws[:, 0])
    coached = float(d.treated.mean())
    return CoachingEffect(
        enough_events=True,
        events=events,
        usable_events=len(usable),
        reps=len({u.rep for u in usable}),
        control_reps=int(d.controls.any(axis=0).sum()),
        effect=float(point[0]),
        ci_low=low,
        ci_high=high,
        coached_change=coached,
        control_change=coached - float(point[0]),
        more_needed=0,
        weeks=weeks,
        by_dimension=[
            _dimension(dim, usable, point[g + 1], draws[:, g + 1], min_events)
            for g, dim in enumerate(dimensions)
        ],
    )


def _dimension(
    dimension: str, usable: Sequence[_Usable], point: float, draws: np.ndarray, min_events: int
) -> DimensionEffect:
    n = sum(u.dimension == dimension for u in usable)
    if n < min_events:
        return DimensionEffect(
            dimension=dimension, usable_events=n, effect=None, ci_low=None, ci_high=None
        )
    low, high = _interval(draws)
    return DimensionEffect(
        dimension=dimension, usable_events=n, effect=float(point), ci_low=low, ci_high=high
    )


def line(result: CoachingEffect) -> str:
    """The result for people, in one line."""
    if not result.enough_events or result.effect is None:
        needed = result.usable_events + result.more_needed
        recorded = (
            f"; {result.events} recorded, {result.usable_events} with scores before and after"
            " and uncoached reps to compare"
            if result.events != result.usable_events
            else ""
        )
        return (
            f"Coaching effect: too few coaching events: {result.usable_events} of {needed},"
            f" {result.more_needed} more needed (no numbers until then{recorded})"
        )
    interval = (
        f"95% interval {result.ci_low:.2f} to {result.ci_high:.2f}"
        if result.ci_low is not None and result.ci_high is not None
        else "no interval"
    )
    return (
        f"Coaching effect: {result.effect:+.2f} points on the coached criterion in the"
        f" {result.weeks} weeks after vs before, beyond reps not coached ({interval};"
        f" {result.usable_events} events, {result.reps} reps)"
    )
