"""A company's closed-deal history with planted truths, for the demo's validity and
coaching-effect step (and its tests): what a year of published scores, closed deals and
managers' coaching looks like in the project's own tables, so the analysis reads it exactly
as it reads a real company's.

The world (`PLANTED` names what is true in it):

- Each rep has a skill: strong reps score higher on every criterion and win more.
- Each deal reaches a furthest stage; one call per stage reached. Later stages win more, and
  `objections/next_steps` scores higher at later stages (the paperwork talk of a late call).
- Each deal has a latent behaviour that `discovery/pain_and_impact` measures (with noise on
  each call); within rep and stage, only it changes the odds of winning.
- A manager's override of `discovery/open_questions` on one of a rep's calls (a coaching event,
  for three reps in four)
  raises that rep's later scores on it by `COACHING_LIFT`; all reps drift up a little over the
  year (the trend a naive before/after would credit to coaching).
- Everything else is the rep's skill and noise.

Rows are written as the pipeline writes them: calls with conversation metrics, published
coaching sessions with criteria, deals through `common.deals.record_call`, coaching events as
manager_scores rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from common.config import DIMENSIONS, Settings
from common.db import Row
from common.deals import CallDeal, Snapshot, StageMap, record_call

CRITERIA: dict[str, tuple[str, ...]] = {
    "product_knowledge": ("accuracy", "relevance", "differentiation", "technical_depth"),
    "discovery": ("open_questions", "pain_and_impact", "decision_process", "listening"),
    "objections": (
        "acknowledge_and_clarify",
        "substantive_response",
        "confirm_resolution",
        "next_steps",
    ),
    "engagement": ("interactivity", "patience", "agenda_control", "energy_and_rapport"),
}
STAGES = ("Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
PLANTED = "discovery/pain_and_impact"
STAGE_LINKED = "objections/next_steps"
COACHED = "discovery/open_questions"
COACHING_LIFT = 0.6
EVENT_GAP = timedelta(weeks=9)  # between one rep's coaching events: more than both windows
MANAGER = "u-hist-m"


@dataclass(frozen=True)
class History:
    reps: list[str]
    deals: int
    won: int
    calls: int
    events: int


@dataclass
class _Call:
    call_id: str
    rep: str
    started: datetime
    stage: str
    scores: dict[str, dict[str, float]]  # dimension -> criterion -> score


def seed_history(
    conn: psycopg.Connection[Row],
    *,
    seed: int = 7,
    reps: int = 24,
    deals_per_rep: int = 12,
    events_per_coached_rep: int = 3,
    end: date = date(2026, 11, 27),
) -> History:
    """Write the world into `conn`'s database (its schema applied, no such ids yet)."""
    rng = np.random.default_rng(seed)
    rep_ids = [f"u-hist-r{r:02d}" for r in range(reps)]
    _users(conn, rep_ids)
    start = datetime(end.year, end.month, end.day, 15, tzinfo=UTC) - timedelta(weeks=52)
    calls: list[_Call] = []
    won = 0
    stages = StageMap.from_settings(Settings.model_construct())
    for r, rep in enumerate(rep_ids):
        skill = float(rng.normal())
        for d in range(deals_per_rep):
            deal_calls, is_won = _deal(rng, rep, r, d, skill, start)
            won += is_won
            calls += deal_calls
            _record_deal(conn, f"006HIST{r:02d}{d:02d}", deal_calls, is_won, stages)
    events = _coaching(conn, rng, calls, rep_ids[: reps * 3 // 4], events_per_coached_rep)
    _write_calls(conn, rng, calls)
    return History(rep_ids, reps * deals_per_rep, won, len(calls), events)


def _users(conn: psycopg.Connection[Row], reps: list[str]) -> None:
    conn.execute(
        "INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, 'manager')",
        (MANAGER, "history.manager@example.com", "History Manager"),
    )
    for i, rep in enumerate(reps):
        conn.execute(
            "INSERT INTO users (id, email, name, role, manager_id) VALUES (%s, %s, %s, 'rep', %s)",
            (rep, f"history.rep{i}@example.com", f"History Rep {i:02d}", MANAGER),
        )


def _deal(
    rng: np.random.Generator, rep: str, r: int, d: int, skill: float, start: datetime
) -> tuple[list[_Call], bool]:
    furthest = int(rng.integers(0, len(STAGES)))
    behaviour = float(rng.normal(0.0, 0.8))
    logit = -0.3 + 1.0 * skill + 0.8 * (furthest - 1.5) + 1.2 * behaviour
    is_won = bool(rng.random() < 1 / (1 + np.exp(-logit)))
    first = start + timedelta(days=int(rng.integers(0, 300)))
    calls = []
    for k in range(furthest + 1):
        started = first + timedelta(days=int(k * 9 + rng.integers(0, 5)))
        scores = {
            dim: {c: _score(rng, skill, k, behaviour, f"{dim}/{c}") for c in CRITERIA[dim]}
            for dim in DIMENSIONS
        }
        calls.append(_Call(f"hist-{r:02d}-{d:02d}-{k}", rep, started, STAGES[k], scores))
    return calls, is_won


def _score(rng: np.random.Generator, skill: float, stage: int, behaviour: float, key: str) -> float:
    value = 3.0 + 0.5 * skill + float(rng.normal(0.0, 0.5))
    if key == PLANTED:
        value += behaviour
    if key == COACHED:
        value -= 0.6  # room to improve: the lifts stay below the scale's top
    if key == STAGE_LINKED:
        value += 0.6 * (stage - 1.5)
    return float(np.clip(round(value, 1), 1.0, 5.0))


def _record_deal(
    conn: psycopg.Connection[Row], opp: str, calls: list[_Call], won: bool, stages: StageMap
) -> None:
    close = (calls[-1].started + timedelta(days=7)).date()
    now = Snapshot(
        name=f"History {opp}", stage="Closed Won" if won else "Closed Lost", close_date=close
    )
    for c in calls:
        conn.execute(
            "INSERT INTO calls (id, title, started_at, primary_user_id) VALUES (%s, %s, %s, %s)",
            (c.call_id, f"{c.stage} call", c.started, c.rep),
        )
        at_call = Snapshot(name=f"History {opp}", stage=c.stage)
        record_call(conn, c.call_id, CallDeal("Salesforce", opp, now=now, at_call=at_call), stages)


def _coaching(
    conn: psycopg.Connection[Row],
    rng: np.random.Generator,
    calls: list[_Call],
    coached: list[str],
    per_rep: int,
) -> int:
    """Coaching events on COACHED for the reps in `coached`, and a trend for everyone.
    An event is a manager's override on one of the rep's calls; the rep's later calls score
    COACHING_LIFT higher on it (after every event, capped at 5); a rep's events are EVENT_GAP
    apart."""
    first = min(c.started for c in calls)
    dimension, criterion = COACHED.split("/")
    for c in calls:  # everyone drifts up a little over the year: not coaching
        weeks = (c.started - first).days / 7
        c.scores[dimension][criterion] = min(5.0, c.scores[dimension][criterion] + 0.01 * weeks)
    events = 0
    for rep in coached:
        mine = sorted((c for c in calls if c.rep == rep), key=lambda c: c.started)
        for i in _event_calls(rng, mine, per_rep):
            event = mine[int(i)]
            for later in mine[int(i) + 1 :]:
                s = later.scores[dimension][criterion]
                later.scores[dimension][criterion] = min(5.0, round(s + COACHING_LIFT, 1))
            conn.execute(
                "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,"
                " score, source, source_ref, scored_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'mcp', %s, %s)",
                (
                    event.call_id,
                    rep,
                    MANAGER,
                    dimension,
                    criterion,
                    int(np.clip(round(event.scores[dimension][criterion]), 1, 5)),
                    f"history:{event.call_id}",
                    event.started + timedelta(days=1),
                ),
            )
            events += 1
    return events


def _event_calls(rng: np.random.Generator, mine: list[_Call], per_rep: int) -> list[int]:
    """Indexes of up to `per_rep` coached calls, each at least EVENT_GAP after the one before,
    so an event's weeks before and after hold no other event: each event's own lift is what
    its windows see (the earlier lifts are in both)."""
    picks: list[int] = []
    i = int(rng.integers(3, 6))
    while len(picks) < per_rep and i < len(mine) - 2:
        picks.append(i)
        due = mine[i].started + EVENT_GAP + timedelta(days=int(rng.integers(0, 14)))
        i = next((j for j in range(i + 1, len(mine)) if mine[j].started >= due), len(mine))
    return picks


def _write_calls(
    conn: psycopg.Connection[Row], rng: np.random.Generator, calls: list[_Call]
) -> None:
    """Each call's metrics and its four published sessions (written after the coaching lift,
    so the sessions carry the scores the world ends with)."""
    for c in calls:
        metrics = {
            "duration_s": 1800,
            "talk_ratio_rep": round(float(np.clip(rng.normal(0.45, 0.08), 0.2, 0.8)), 3),
            "rep_questions": int(8 + round(2 * c.scores["discovery"]["open_questions"])),
            "longest_monologue_s": int(rng.integers(40, 200)),
        }
        conn.execute(
            "UPDATE calls SET metrics = %s WHERE id = %s", (json.dumps(metrics), c.call_id)
        )
    with conn.cursor().copy(
        "COPY coaching_sessions (created_at, call_id, rep_id, dimension, model, cache_key,"
        " transcript_hash, rubric_version, status, overall_score, result) FROM STDIN"
    ) as copy:
        for c in calls:
            for dim in DIMENSIONS:
                overall = round(sum(c.scores[dim].values()) / len(c.scores[dim]), 2)
                result = {
                    "dimension": dim,
                    "overall_score": overall,
                    "criteria": [
                        {"criterion_id": k, "score": v, "evidence": []}
                        for k, v in c.scores[dim].items()
                    ],
                }
                copy.write_row(
                    (
                        c.started + timedelta(hours=1),
                        c.call_id,
                        c.rep,
                        dim,
                        "history",
                        f"hist-{c.call_id}-{dim}",
                        f"h-{c.call_id}",
                        "history",
                        "completed",
                        overall,
                        json.dumps(result),
                    )
                )
