"""Synthetic history for tests and benchmarks: managers, reps, calls and coaching sessions.

Rows are written straight to Postgres with COPY (no Claude, no Gong), shaped exactly like
what the analysis flow stores, so the read side (MCP tools, weekly reports) can be exercised
at scale: `seed(conn, reps=50, weeks=52, calls_per_week=2)` is about 5,000 calls and 20,000
sessions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from common.config import DIMENSIONS
from common.db import Row

IMPROVEMENTS = [
    "Quantify the pain before presenting pricing.",
    "Ask a second follow-up question before moving on.",
    "Confirm next steps with owners and dates.",
    "Let the customer finish before answering the objection.",
    "Tie each feature to a problem the customer named.",
]
STRENGTHS = [
    "Clear agenda at the start.",
    "Good summary of the customer's goals.",
    "Calm under price pressure.",
]


@dataclass(frozen=True)
class Team:
    admin: str
    managers: list[str]
    reps: dict[str, list[str]]  # manager id -> rep ids


def result_json(
    dimension: str, score: float, call_url: str, rng: random.Random
) -> dict[str, object]:
    criteria = [
        {
            "criterion_id": f"{dimension}_{i}",
            "name": f"Criterion {i}",
            "weight": 0.25,
            "score": max(1.0, min(5.0, round(score + rng.uniform(-1, 1), 1))),
            "rationale": "Seeded rationale.",
            "evidence": [
                {
                    "quote": "Seeded quote from the call.",
                    "timestamp": "03:12",
                    "speaker": "Rep",
                    "start_s": 192,
                    "link": f"{call_url}&t=192",
                }
            ],
        }
        for i in range(4)
    ]
    return {
        "dimension": dimension,
        "overall_score": score,
        "weighted_score": score,
        "criteria": criteria,
        "strengths": rng.sample(STRENGTHS, 2),
        "improvements": rng.sample(IMPROVEMENTS, 2),
        "coaching_note": f"Seeded coaching note on {dimension}.",
        "quotes_dropped": 0,
        "chunks": 1,
    }


def seed(
    conn: psycopg.Connection[Row],
    *,
    reps: int = 6,
    managers: int = 2,
    weeks: int = 8,
    calls_per_week: int = 2,
    now: datetime,
    seed_value: int = 3,
) -> Team:
    rng = random.Random(seed_value)
    admin = "u-admin"
    users: list[tuple[str, str, str, str, str | None]] = [
        (admin, "admin@example.com", "Ada Admin", "admin", None)
    ]
    team: dict[str, list[str]] = {}
    for m in range(managers):
        mid = f"u-m{m}"
        users.append((mid, f"manager{m}@example.com", f"Manager {m}", "manager", None))
        team[mid] = []
    for r in range(reps):
        mid = f"u-m{r % managers}"
        rid = f"u-r{r:03d}"
        team[mid].append(rid)
        users.append((rid, f"rep{r}@example.com", f"Rep {r:03d}", "rep", mid))
    with conn.cursor() as cur:
        for u in users:
            cur.execute("INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, %s)", u[:4])
        for u in users:
            if u[4]:
                cur.execute("UPDATE users SET manager_id = %s WHERE id = %s", (u[4], u[0]))
        _copy_calls_and_sessions(cur, team, weeks, calls_per_week, now, rng)
    return Team(admin, list(team), team)


def _copy_calls_and_sessions(
    cur: psycopg.Cursor[Row],
    team: dict[str, list[str]],
    weeks: int,
    calls_per_week: int,
    now: datetime,
    rng: random.Random,
) -> None:
    calls: list[tuple[object, ...]] = []
    sessions: list[tuple[object, ...]] = []
    skill = {rep: rng.uniform(2.0, 4.2) for reps in team.values() for rep in reps}
    for rep in skill:
        for w in range(weeks):
            for k in range(calls_per_week):
                started = (
                    now
                    - timedelta(weeks=weeks - w)
                    + timedelta(days=rng.randint(0, 4), hours=k + 9)
                )
                call_id = f"c-{rep}-{w:02d}-{k}"
                url = f"https://app.gong.io/call?id={call_id}"
                metrics = {
                    "talk_ratio_rep": round(rng.uniform(0.3, 0.7), 3),
                    "rep_questions": rng.randint(3, 20),
                    "longest_monologue_s": rng.randint(20, 180),
                    "patience_s": round(rng.uniform(0.3, 2), 2),
                    "rep_words_per_minute": rng.randint(120, 190),
                    "longest_customer_story_s": rng.randint(10, 120),
                    "interactivity_switches_per_min": round(rng.uniform(1, 6), 2),
                }
                thash = f"h-{call_id}"
                calls.append(
                    (
                        call_id,
                        f"{rng.choice(['Discovery', 'Demo', 'Negotiation', 'Renewal'])} call {call_id}",
                        url,
                        started,
                        rng.randint(900, 3600),
                        rep,
                        "[]",
                        thash,
                        json.dumps(metrics),
                    )
                )
                for d in DIMENSIONS:
                    score = round(
                        max(1.0, min(5.0, skill[rep] + w * 0.01 + rng.uniform(-0.8, 0.8))), 2
                    )
                    sessions.append(
                        (
                            started + timedelta(hours=1),
                            call_id,
                            rep,
                            d,
                            "claude-sonnet-5-5",
                            f"k-{call_id}-{d}",
                            thash,
                            "1.0.0+kb.seed",
                            "completed",
                            score,
                            json.dumps(result_json(d, score, url, rng)),
                        )
                    )
    with cur.copy(
        "COPY calls (id, title, url, started_at, duration_s, primary_user_id, parties,"
        " transcript_hash, metrics) FROM STDIN"
    ) as copy:
        for row in calls:
            copy.write_row(row)
    with cur.copy(
        "COPY coaching_sessions (created_at, call_id, rep_id, dimension, model, cache_key,"
        " transcript_hash, rubric_version, status, overall_score, result) FROM STDIN"
    ) as copy:
        for session in sessions:
            copy.write_row(session)
