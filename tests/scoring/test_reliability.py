"""Run-to-run agreement on synthetic worlds with a planted truth, and the gate's shares."""

from __future__ import annotations

import random

import psycopg
import pytest
from psycopg.rows import dict_row

from common.scoring.analysis import CriterionResult, DimensionResult, SampleScore
from common.scoring.reliability import MIN_UNITS, interval_alpha, publishing, run_to_run, within_sd
from common.scoring.sessions import NewSession, insert_session


def world(calls: int, truth_sd: float, noise_sd: float, k: int, seed: int) -> list[list[float]]:
    """`calls` units of `k` samples: a planted true score per call plus independent noise."""
    rng = random.Random(seed)
    units = []
    for _ in range(calls):
        truth = rng.gauss(3, truth_sd)
        units.append([truth + rng.gauss(0, noise_sd) for _ in range(k)])
    return units


def test_alpha_recovers_the_planted_reliability() -> None:
    # reliability = truth variance / (truth + noise variance) = 1 / (1 + 0.25) = 0.8
    alphas = [interval_alpha(world(300, 1.0, 0.5, 3, seed)) for seed in range(10)]
    assert all(a is not None and 0.72 < a < 0.88 for a in alphas)


def test_alpha_is_near_zero_in_a_null_world() -> None:
    # no true differences between calls: every spread is noise
    alphas = [interval_alpha(world(300, 0.0, 1.0, 3, seed)) for seed in range(10)]
    assert all(a is not None and abs(a) < 0.1 for a in alphas)


def test_identical_samples_agree_perfectly_and_missing_values_are_skipped() -> None:
    units: list[list[float | None]] = [[v, v, None] for v in (1, 2, 3, 4, 5) * 3]
    assert interval_alpha(units) == 1.0
    assert within_sd(units) == 0.0


def test_the_noise_sd_is_recovered() -> None:
    sd = within_sd(world(400, 1.0, 0.6, 3, seed=1))
    assert sd is not None and 0.55 < sd < 0.65


def test_too_few_calls_say_nothing() -> None:
    units = world(MIN_UNITS - 1, 1.0, 0.5, 3, seed=2)
    assert interval_alpha(units) is None and within_sd(units) is None
    assert interval_alpha(world(MIN_UNITS, 1.0, 0.5, 3, seed=2)) is not None


def _result(scores: list[float], state: str, escalated: bool) -> DimensionResult:
    median = sorted(scores)[len(scores) // 2]
    return DimensionResult(
        dimension="discovery",
        overall_score=median,
        weighted_score=median,
        criteria=[
            CriterionResult(
                criterion_id="pain", name="Pain", weight=1, score=median, rationale="", evidence=[]
            )
        ],
        strengths=[],
        improvements=[],
        coaching_note="",
        quotes_dropped=0,
        chunks=1,
        state=state,  # type: ignore[arg-type]
        escalated=escalated,
        samples=[
            SampleScore(stage=0, index=i, model="m", overall_score=v, criteria={"pain": v})
            for i, v in enumerate(scores)
        ],
    )


def test_run_to_run_and_publishing_read_the_current_sessions(db_url: str) -> None:
    rng = random.Random(5)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        for i in range(40):
            truth = rng.choice([1, 2, 3, 4, 5])
            scores = [float(min(5, max(1, truth + rng.choice([-1, 0, 0, 1])))) for _ in range(3)]
            state = "published" if i % 4 else "needs_review"
            insert_session(
                conn,
                NewSession(
                    call_id=f"c{i}",
                    rep_id="r1",
                    dimension="discovery",
                    model="m",
                    key=f"k{i}",
                    transcript_hash=f"h{i}",
                    rubric_version="1",
                    result=_result(scores, state, escalated=i % 5 == 0),
                ),
            )
        found = run_to_run(conn)["discovery"]
        shares = publishing(conn)["discovery"]
        mine = run_to_run(conn, rep_ids=["someone-else"])
    assert found["sessions"] == 40
    assert found["alpha"] is not None and 0.5 < found["alpha"] < 1
    assert found["criteria"]["pain"] == found["alpha"]
    assert shares["sessions"] == 40 and shares["held"] == 10
    assert shares["held_after_escalating"] == 2  # i = 0 and 20: held and escalated
    assert found["na_split_share"] == 0.0
    assert shares["published"] + shares["escalated"] == 30
    assert shares["shares"]["held"] == pytest.approx(0.25)
    assert mine == {}


def test_samples_that_split_on_na_are_counted_apart_from_alpha() -> None:
    from common.scoring.reliability import _splits_on_na

    same = [{"overall_score": 3, "criteria": {"a": 3, "b": None}} for _ in range(3)]
    split = [*same[:2], {"overall_score": 3, "criteria": {"a": 3, "b": 4}}]
    whole = [*same[:2], {"overall_score": None, "criteria": {"a": None, "b": None}}]
    assert (_splits_on_na(same), _splits_on_na(split), _splits_on_na(whole)) == (0, 1, 1)
    assert _splits_on_na(same[:1]) == 0
