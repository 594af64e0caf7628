"""A weekly review's numbers (`common/reports/numbers.py`) from the read model on real Postgres:
this week against the four before, the eight-week trend, conversation metrics against their
benchmarks, best and weakest calls, and who had calls in the week."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.reports.numbers import (
    Validity,
    read_validity,
    rep_report,
    reps_with_calls,
    team_report,
)
from common.validity import Spread, WonDealFigures
from local.seed import seed
from tests.insights.won_deals import close_every_call

WEEK = date(2026, 11, 16)
TZ = "UTC"
AT = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday of WEEK


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        c.execute("INSERT INTO users (id, name, role) VALUES ('m1', 'Mia', 'manager')")
        c.execute(
            "INSERT INTO users (id, name, role, manager_id) VALUES ('r1', 'Rae', 'rep', 'm1'),"
            " ('r2', 'Gone', 'rep', 'm1')"
        )
        yield c


def call(
    conn: psycopg.Connection[Any],
    call_id: str,
    at: datetime,
    discovery: float,
    title: str = "Renewal",
    metrics: dict[str, float] | None = None,
    rep: str = "r1",
) -> None:
    conn.execute(
        "INSERT INTO calls (id, title, primary_user_id, started_at, metrics)"
        " VALUES (%s, %s, %s, %s, %s)",
        (call_id, title, rep, at, json.dumps(metrics or {})),
    )
    result = {"coaching_note": "", "strengths": [], "improvements": [], "criteria": []}
    conn.execute(
        "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
        " cache_key, transcript_hash, rubric_version, status, overall_score, result)"
        " VALUES (now(), %s, %s, 'discovery', 'm', 'k', 'h', 'v', 'completed', %s, %s)",
        (call_id, rep, discovery, json.dumps(result)),
    )


def test_a_reps_week_against_the_four_before(conn: psycopg.Connection[Any]) -> None:
    call(conn, "c1", AT, 4.0, "Acme discovery", {"talk_ratio_rep": 0.40, "rep_questions": 12})
    call(conn, "c2", AT + timedelta(days=1), 2.5, "Acme pricing", {"talk_ratio_rep": 0.70})
    call(conn, "c3", AT - timedelta(weeks=2), 2.0)
    call(conn, "c4", AT - timedelta(weeks=6), 1.0)  # in the trend, not in the baseline
    call(conn, "c5", AT + timedelta(weeks=1), 5.0)  # next week: in neither
    report = rep_report(conn, {"id": "r1", "name": "Rae", "manager_id": "m1"}, WEEK, TZ)
    assert report.calls == 2 and report.scores == {"discovery": 3.25}
    assert report.previous == {"discovery": 2.0}
    assert report.change["discovery"] == 1.25 and report.change["engagement"] is None
    trend = dict(report.trend["discovery"])
    assert len(report.trend["discovery"]) == 8 and report.trend["discovery"][-1] == ("16 Nov", 3.25)
    assert trend["02 Nov"] == 2.0 and trend["05 Oct"] == 1.0 and trend["09 Nov"] is None
    checks = {m.name: (m.value, m.within) for m in report.metrics}
    assert checks["Talk ratio (rep share)"] == (0.55, False)  # the mean of 40% and 70%
    assert checks["Questions per discovery call"] == (12, True)  # the discovery call only
    assert checks["Longest monologue (s)"] == (None, None)  # not measured: no verdict
    assert report.best_call and report.best_call.call_id == "c1"
    assert report.weakest_call and report.weakest_call.call_id == "c2"


def test_who_had_calls_in_the_week(conn: psycopg.Connection[Any]) -> None:
    call(conn, "c1", AT, 3.0)
    call(conn, "c2", AT, 3.0, rep="r2")
    conn.execute("UPDATE users SET deleted_at = now() WHERE id = 'r2'")
    assert [r["id"] for r in reps_with_calls(conn, WEEK, TZ)] == ["r1"]
    assert reps_with_calls(conn, WEEK - timedelta(weeks=1), TZ) == []


def scored(
    conn: psycopg.Connection[Any],
    call_id: str,
    at: datetime,
    discovery: float,
    state: str = "published",
    reasons: list[str] | None = None,
) -> None:
    """A discovery session of three samples a point apart (run-to-run SD 1.0)."""
    conn.execute(
        "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES (%s, %s, 'r1', %s)",
        (call_id, f"Call {call_id}", at),
    )
    samples = [
        {"stage": 0, "index": i, "model": "m", "overall_score": discovery + d, "criteria": {}}
        for i, d in enumerate((-1.0, 0.0, 1.0))
    ]
    result = {
        "coaching_note": "",
        "strengths": [],
        "improvements": [],
        "criteria": [],
        "samples": samples,
        "review_reasons": reasons or [],
    }
    conn.execute(
        "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
        " cache_key, transcript_hash, rubric_version, status, overall_score, result, state)"
        " VALUES (now(), %s, 'r1', 'discovery', 'm', 'k', 'h', 'v', 'completed', %s, %s, %s)",
        (call_id, discovery, json.dumps(result), state),
    )


def test_a_change_within_noise_is_marked_and_held_scores_count_nowhere(
    conn: psycopg.Connection[Any],
) -> None:
    """Twelve sessions whose samples are a point apart: a rise of 0.5 over three calls
    against three is within run-to-run noise. A held 1.0 is in no number, but counted (rep)
    and listed with its reasons and the AI's suggestion (team)."""
    for i in range(3):
        scored(conn, f"n{i}", AT + timedelta(hours=i), 3.5)
        scored(conn, f"b{i}", AT - timedelta(weeks=2, hours=i), 3.0)
    for i in range(6):  # the week before the baseline: noise measured, no other part
        scored(conn, f"o{i}", AT - timedelta(weeks=6, hours=i), 3.0)
    scored(conn, "held", AT, 1.0, "needs_review", ["samples disagree"])
    report = rep_report(conn, {"id": "r1", "name": "Rae", "manager_id": "m1"}, WEEK, TZ)
    assert report.scores == {"discovery": 3.5} and report.change["discovery"] == 0.5
    assert report.within_noise["discovery"] is True
    assert report.calls == 4 and report.held == 1
    assert report.weakest_call and report.weakest_call.average == 3.5  # not the held 1.0
    manager = {"id": "m1", "name": "Mia"}
    team = team_report(conn, manager, [report], WEEK, TZ)
    assert team.held_total == 1 and team.held[0].call_id == "held"
    assert team.held[0].ai_suggestion == 1.0 and team.held[0].review_reasons == ["samples disagree"]
    assert [v for _, v in team.trend["discovery"]][-1] == 3.5


def figures(talk: tuple[float, float], questions: tuple[float, float]) -> WonDealFigures:
    """The company's won-deal figures with these middle halves (lost deals: talk 60-70%)."""

    def spread(low: float, high: float) -> Spread:
        return Spread(calls=40, low=low, median=(low + high) / 2, high=high)

    return WonDealFigures(
        deals=120,
        won=55,
        talk_ratio_won=spread(*talk),
        talk_ratio_lost=spread(0.60, 0.70),
        questions_won=spread(*questions),
        questions_lost=None,
    )


def test_talk_and_questions_are_held_to_the_companys_won_deals_once_there_are_enough(
    conn: psycopg.Connection[Any],
) -> None:
    """Talk share 55% and 12 questions: outside the vendors' 35-52% and inside their 11-14;
    against won deals here (50-60%, 14-18 questions) the verdicts turn around."""
    call(conn, "c1", AT, 4.0, "Acme discovery", {"talk_ratio_rep": 0.55, "rep_questions": 12})
    rep = {"id": "r1", "name": "Rae", "manager_id": "m1"}
    own = Validity(rows=[], min_deals=100, figures=figures((0.50, 0.60), (14, 18.5)))
    checks = {m.name: m for m in rep_report(conn, rep, WEEK, TZ, validity=own).metrics}
    talk, questions = checks["Talk ratio (rep share)"], checks["Questions per discovery call"]
    assert (talk.benchmark, talk.within) == ("won deals here: 50-60% (lost: 60-70%)", True)
    assert (questions.benchmark, questions.within) == ("won deals here: 14-18.5", False)
    too_few = Validity(rows=[], min_deals=100, figures=None)
    for vendors in (
        rep_report(conn, rep, WEEK, TZ),
        rep_report(conn, rep, WEEK, TZ, None, too_few),
    ):
        checks = {m.name: m for m in vendors.metrics}
        talk, questions = checks["Talk ratio (rep share)"], checks["Questions per discovery call"]
        assert (talk.benchmark, talk.within) == ("about 43% (vendors' pooled benchmark)", False)
        assert (questions.benchmark, questions.within) == (
            "11-14 (vendors' pooled benchmark)",
            True,
        )


M0_REPS = [f"u-r{r:03d}" for r in range(0, 40, 2)]  # seed: rep r is manager r % 2's
M1_REPS = [f"u-r{r:03d}" for r in range(1, 40, 2)]


@pytest.fixture
def teams(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Two managers of 20 reps each, 12 calls a rep, every call its own closed deal: within
    each of m0's reps a call with less than the rep's median talk share mostly wins (a planted
    effect, each outcome flipped with probability 0.15); m1's deals are a fair coin."""
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        now = datetime.combine(WEEK + timedelta(weeks=1), datetime.min.time(), tzinfo=UTC)
        seed(c, reps=40, managers=2, weeks=6, calls_per_week=2, now=now)
        close_every_call(c, M0_REPS, seed=5, planted=True)
        close_every_call(c, M1_REPS, seed=6)
        yield c


def test_the_leadership_section_names_what_goes_with_the_teams_won_deals(
    teams: psycopg.Connection[Any],
) -> None:
    validity = read_validity(teams, min_deals=100)
    m0 = {"id": "u-m0", "name": "Manager 0"}
    section = team_report(teams, m0, [], WEEK, TZ, validity).leadership
    assert section is not None and section.enough_deals
    assert (section.deals, section.reps) == (240, 20)
    assert section.top and section.top[0].criterion == "talk_ratio"  # planted: found first
    talk = section.top[0]
    assert talk.odds_ratio is not None and talk.ci_high is not None and talk.ci_high < 1
    assert talk.reading.startswith("each 10 points more of the rep's share of talk goes with")
    assert "not proof of cause" in section.caveat
    assert section.line.startswith("240 closed deals of 20 reps")
    m1 = team_report(teams, {"id": "u-m1", "name": "Manager 1"}, [], WEEK, TZ, validity)
    assert m1.leadership is not None and m1.leadership.deals == 240  # m1's own deals only
    assert m1.leadership.top == []  # a fair coin there: nothing called (BH: P <= 0.10)


def test_below_the_minimum_the_section_says_how_many_more_deals_are_needed(
    teams: psycopg.Connection[Any],
) -> None:
    validity = read_validity(teams, min_deals=300)
    assert validity.figures is not None  # 480 closed deals in the company: its own figures
    section = team_report(teams, {"id": "u-m0", "name": "M"}, [], WEEK, TZ, validity).leadership
    assert section is not None and not section.enough_deals and section.top == []
    assert section.line == "too few closed deals: 240 of 300, 60 more needed"
    assert read_validity(teams, min_deals=481).figures is None  # the vendors' figures stay
    assert team_report(teams, {"id": "u-m0", "name": "M"}, [], WEEK, TZ).leadership is None
