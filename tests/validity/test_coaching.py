"""The coaching effect finds what a synthetic world plants, and nothing that only the common
trend (every rep improving) or a bad coached call would make a naive before/after report."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from common.validity.coaching import CoachingEffect, CoachingEvent, ScorePoint, estimate, line

START = date(2024, 1, 1)
KEYS = (("discovery", "discovery_1"), ("objections", "objections_0"))


def world(
    seed: int,
    reps: int = 40,
    weeks: int = 30,
    effect: float = 0.0,
    trend: float = 0.1,
    coached_call: float | None = None,
) -> tuple[list[ScorePoint], list[CoachingEvent]]:
    """Reps with their own level and a common trend (`trend` points a week, every rep), two
    calls a week each scored on both criteria. Half the reps are coached once on each
    criterion, at random days (not in the first or last five weeks); from the day after an
    event the rep scores `effect` higher on that criterion. `coached_call`: the coached call's
    score (the manager's, on a bad call picked for review), instead of one like the others."""
    rng = np.random.default_rng(seed)
    points: list[ScorePoint] = []
    events: list[CoachingEvent] = []
    for r in range(reps):
        rep, level = f"rep{r}", rng.normal(3.0, 0.5)
        days = np.sort(rng.choice(7 * weeks, size=2 * weeks, replace=False))
        coached = [(int(rng.integers(35, 7 * weeks - 35)), key) for key in KEYS if r % 2 == 0]
        for day in days:
            for key in KEYS:
                lift = effect * sum(1 for d, kk in coached if kk == key and d < day)
                score = level + trend * day / 7 + lift + rng.normal(0, 0.7)
                points.append(_point(rep, key, int(day), float(score)))
        for day, key in coached:
            call = int(days[days < day][-1])  # the rep's last call before: the one scored
            if coached_call is not None:
                _replace(points, rep, key, call, coached_call)
            events.append(_event(rep, key, day, call))
    return points, events


def _point(rep: str, key: tuple[str, str], day: int, score: float) -> ScorePoint:
    at = START + timedelta(days=day)
    return ScorePoint(rep_id=rep, dimension=key[0], criterion=key[1], at=at, score=score)


def _event(rep: str, key: tuple[str, str], day: int, call: int | None) -> CoachingEvent:
    at = START + timedelta(days=day)
    call_at = None if call is None else START + timedelta(days=call)
    return CoachingEvent(
        rep_id=rep, dimension=key[0], criterion=key[1], at=at, kind="override", call_at=call_at
    )


def _replace(
    points: list[ScorePoint], rep: str, key: tuple[str, str], day: int, score: float
) -> None:
    at = START + timedelta(days=day)
    for i, p in enumerate(points):
        if (p.rep_id, p.dimension, p.criterion, p.at) == (rep, *key, at):
            points[i] = p.model_copy(update={"score": score})


def brute_force(
    points: list[ScorePoint], events: list[CoachingEvent], weeks: int
) -> tuple[float, float, int]:
    """(mean coached change, mean control change, usable events) by plain loops over the
    documented rule, to check the vectorised estimate against."""
    busy = [(e.rep_id, e.at) for e in events]
    coached, control = [], []
    for e in events:
        end = e.call_at or e.at
        lo, hi = end - timedelta(weeks=weeks), e.at + timedelta(weeks=weeks)

        def change(
            rep: str, e: CoachingEvent = e, lo: date = lo, end: date = end, hi: date = hi
        ) -> float | None:
            mine = [
                p
                for p in points
                if (p.rep_id, p.dimension, p.criterion) == (rep, e.dimension, e.criterion)
            ]
            before = [p.score for p in mine if lo <= p.at < end]
            after = [p.score for p in mine if e.at < p.at <= hi]
            return float(np.mean(after) - np.mean(before)) if before and after else None

        mine = change(e.rep_id)
        others = {p.rep_id for p in points} - {r for r, at in busy if lo <= at <= hi}
        theirs = [c for r in sorted(others) if (c := change(r)) is not None]
        if mine is not None and theirs:
            coached.append(mine)
            control.append(float(np.mean(theirs)))
    return float(np.mean(coached)), float(np.mean(control)), len(coached)


def contains(result: CoachingEffect, value: float) -> bool:
    assert result.ci_low is not None and result.ci_high is not None
    return result.ci_low <= value <= result.ci_high


def test_a_planted_effect_is_found_with_an_interval_around_it() -> None:
    points, events = world(seed=1, effect=0.5)
    result = estimate(points, events, weeks=4, min_events=30)
    assert result.enough_events and result.events == 40
    assert result.usable_events == 40 and result.reps == 20
    assert result.ci_low is not None and result.ci_low > 0
    assert contains(result, 0.5), result
    assert result.effect == pytest.approx(result.coached_change - result.control_change)  # type: ignore[operator]
    assert [d.dimension for d in result.by_dimension] == ["discovery", "objections"]
    assert sum(d.usable_events for d in result.by_dimension) == 40
    assert line(result).startswith(f"Coaching effect: {result.effect:+.2f} points")
    assert "40 events, 20 reps" in line(result)


def test_the_estimate_is_the_documented_rule() -> None:
    points, events = world(seed=7, reps=12, weeks=20, effect=0.3)
    result = estimate(points, events, weeks=3, min_events=1, rounds=10)
    coached, control, usable = brute_force(points, events, weeks=3)
    assert result.usable_events == usable
    assert result.coached_change == pytest.approx(coached)
    assert result.control_change == pytest.approx(control)


def test_everyone_improving_is_no_effect_though_coached_reps_alone_improve() -> None:
    points, events = world(seed=2, effect=0.0, trend=0.1)
    result = estimate(points, events, weeks=4, min_events=30)
    assert result.coached_change is not None and result.coached_change > 0.25  # naive: "+0.4"
    assert contains(result, 0.0), result


def test_a_bad_coached_call_is_left_out_of_before() -> None:
    """The manager's 1 on a bad call replaces the AI's: counted, it lowers `before` alone."""
    points, events = world(seed=3, effect=0.0, coached_call=1.0)
    result = estimate(points, events, min_events=30)
    assert contains(result, 0.0), result
    without_calls = [e.model_copy(update={"call_at": None}) for e in events]
    naive = estimate(points, without_calls, min_events=30)
    assert naive.ci_low is not None and naive.ci_low > 0, naive


def test_null_worlds_cover_zero_at_about_the_nominal_rate() -> None:
    """No effect, a common trend: the 95% interval covers 0 in at least 90% of 200 worlds. The
    tolerance is 5 points below nominal: the percentile cluster bootstrap with 15 coached reps
    runs a little narrow, and 200 worlds put 1.5 points of chance on the rate."""
    seeds, covered = 200, 0
    for seed in range(1000, 1000 + seeds):
        points, events = world(seed, reps=30, weeks=20)
        result = estimate(points, events, weeks=3, min_events=20, rounds=400, seed=seed)
        assert result.enough_events, result
        covered += contains(result, 0.0)
    assert covered >= 0.90 * seeds, covered


def test_too_few_events_give_no_numbers_and_how_many_more() -> None:
    points, events = world(seed=4, reps=6)
    result = estimate(points, events, min_events=30)
    assert (result.enough_events, result.events, result.usable_events) == (False, 6, 6)
    assert result.more_needed == 24
    assert result.effect is None and result.ci_low is None and result.ci_high is None
    assert result.by_dimension == [] and result.coached_change is None
    assert line(result) == (
        "Coaching effect: too few coaching events: 6 of 30, 24 more needed (no numbers until then)"
    )
    assert estimate(points, events, min_events=6).enough_events


def test_an_event_without_scores_before_or_after_is_not_usable() -> None:
    points, events = world(seed=5, reps=10, weeks=20)
    key = KEYS[0]
    last = max(p.at for p in points)
    edge = [
        _event("rep1", key, -3, None),  # nothing of rep1 before its first week
        _event("rep3", key, (last - START).days + 2, None),  # nothing after the last call
        _event("ghost", key, 70, None),  # a rep with no scores at all
        CoachingEvent(
            rep_id="rep5", dimension="pricing", criterion="x", at=START + timedelta(70), kind="plan"
        ),  # a criterion never scored
    ]
    base = estimate(points, events, min_events=1, rounds=10)
    both = estimate(points, events + edge, min_events=1, rounds=10)
    assert both.events == base.events + 4
    assert both.usable_events == base.usable_events
    few = estimate(points, edge, min_events=1, rounds=10)
    assert (few.events, few.usable_events, few.enough_events) == (4, 0, False)
    assert "0 of 1, 1 more needed" in line(few) and "4 recorded" in line(few)


def test_same_day_events_are_one_and_controls_were_not_coached_at_all() -> None:
    points, events = world(seed=6, reps=8, weeks=20)
    twice = events + [e.model_copy(update={"kind": "confirmation"}) for e in events]
    assert estimate(points, twice, min_events=1, rounds=10).events == len(events)
    coached = _event("rep0", KEYS[0], 70, None)  # its windows: days 42 to 98
    assert estimate(points, [coached], min_events=1, rounds=10).usable_events == 1
    inside = [_event(f"rep{r}", KEYS[1], 98, None) for r in range(1, 8)]  # another criterion
    assert estimate(points, [coached, *inside], min_events=1, rounds=10).usable_events == 0
    outside = [_event(f"rep{r}", KEYS[1], 99, None) for r in range(1, 8)]
    result = estimate(points, [coached, *outside], min_events=1, rounds=10)
    assert (result.by_dimension[0].dimension, result.by_dimension[0].usable_events) == (
        "discovery",
        1,
    )
