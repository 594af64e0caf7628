"""Run-to-run noise (`common/insights/noise.py`): the scorer's own spread, measured from the
samples every session keeps, and the check that tells a real week-on-week change from one
that re-scoring the same calls could show.

The synthetic worlds are the scorer's noise only: each call has one true score, and every
sample of it is that score plus the model's run-to-run error (the published score is the
median of three samples). What a week's mix of calls does is a different question; this
check answers "could the scorer alone have done this?"."""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.insights import noise

SIGMA = 0.6  # the planted run-to-run SD of one sample
K = 3  # samples per session


def score(rng: random.Random, truth: float) -> tuple[float, list[float]]:
    """One call scored: its published score (the median of K samples) and the samples."""
    samples = [min(5.0, max(1.0, rng.gauss(truth, SIGMA))) for _ in range(K)]
    return statistics.median(samples), samples


def week_on_week(rng: random.Random, before: float, now: float, n1: int, n2: int) -> bool | None:
    """A rep's n2 calls of four weeks at `before`, n1 this week at `now`, scored; the SD
    measured from this world's own samples. Is the change of the mean within noise?"""
    then = [score(rng, before) for _ in range(n2)]
    this = [score(rng, now) for _ in range(n1)]
    sd = noise.pooled_sd([s for _, s in then + this])
    change = statistics.fmean(p for p, _ in this) - statistics.fmean(p for p, _ in then)
    return noise.within(change, sd, n1, n2)


def test_the_pooled_sd_recovers_the_planted_noise_and_needs_enough_sessions() -> None:
    rng = random.Random(7)
    groups = [score(rng, rng.uniform(2.0, 4.0))[1] for _ in range(400)]
    sd = noise.pooled_sd(groups)
    assert sd is not None and abs(sd - SIGMA) < 0.1 * SIGMA
    assert noise.pooled_sd(groups[: noise.MIN_SESSIONS - 1]) is None  # too few to say
    assert noise.pooled_sd([[3.0]] * 50) is None  # one sample a session measures nothing


def test_a_null_world_is_within_noise_and_a_planted_change_is_a_change() -> None:
    """No change, noisy samples: within noise in at least 90% of seeded runs (the planted
    noise would give 95% for one-sample scores; medians of three are steadier). A change
    well beyond the noise for that many calls is called a change as often."""
    runs = 200
    null = [week_on_week(random.Random(i), 3.0, 3.0, 5, 15) for i in range(runs)]
    assert sum(1 for w in null if w is True) >= 0.9 * runs
    planted = [week_on_week(random.Random(1000 + i), 2.5, 3.5, 5, 15) for i in range(runs)]
    assert sum(1 for w in planted if w is False) >= 0.9 * runs


def test_the_margin_shrinks_with_more_calls_and_is_unknown_without_noise() -> None:
    wide, narrow = noise.margin(0.6, 3, 3), noise.margin(0.6, 30, 30)
    assert wide and narrow and narrow < wide
    assert noise.within(0.5, 0.6, 3, 3) is True and noise.within(0.5, 0.6, 30, 30) is False
    assert noise.within(0.5, None, 3, 3) is None and noise.within(0.5, 0.6, 0, 3) is None


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        yield c


def session(
    conn: psycopg.Connection[Any], call_id: str, dimension: str, samples: list[Any]
) -> None:
    result = {"criteria": [], "strengths": [], "improvements": [], "coaching_note": ""}
    conn.execute(
        "INSERT INTO coaching_sessions (call_id, rep_id, dimension, model, cache_key,"
        " transcript_hash, rubric_version, status, overall_score, result)"
        " VALUES (%s, 'r1', %s, 'm', 'k', 'h', 'v', 'completed', 3.0, %s)",
        (call_id, dimension, json.dumps(result | {"samples": samples})),
    )


def sample(stage: int, index: int, value: float | None, model: str = "haiku") -> dict[str, Any]:
    return {"stage": stage, "index": index, "model": model, "overall_score": value, "criteria": {}}


def test_measured_from_the_first_stage_samples_sessions_keep(
    conn: psycopg.Connection[Any],
) -> None:
    rng = random.Random(3)
    planted: list[list[float]] = []
    for i in range(30):
        values = score(rng, rng.uniform(2.0, 4.0))[1]
        planted.append(values)
        stage_0 = [sample(0, j, v) for j, v in enumerate(values)]
        # a stronger stage's sample and an N/A sample are not the first model's spread
        session(
            conn, f"c{i}", "discovery", [*stage_0, sample(1, 0, 5.0, "sonnet"), sample(0, 3, None)]
        )
    for i in range(noise.MIN_SESSIONS - 1):  # engagement: too few sessions to say
        session(conn, f"e{i}", "engagement", [sample(0, 0, 2.0), sample(0, 1, 4.0)])
    session(conn, "one", "objections", [sample(0, 0, 2.0)])  # one sample: nothing to compare
    measured = noise.measure(conn)
    discovery = measured.by_dimension["discovery"]
    assert discovery.sessions == 30 and discovery.samples == 90
    assert discovery.sd == pytest.approx(noise.pooled_sd(planted), abs=1e-4)
    engagement = measured.by_dimension["engagement"]
    assert engagement.sd is None and engagement.sessions == noise.MIN_SESSIONS - 1
    assert (
        measured.sd("objections") is None
        and measured.sd_of_mean(["discovery", "engagement"]) is None
    )
