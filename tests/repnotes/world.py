"""A small world for the rep-note tests: a manager with two reps, another manager with one,
calls scored on the real rubrics' criteria (published, or held for review), every criterion
with a quote and its Gong link, and settings with notes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from common.config import DIMENSIONS, ROOT, Settings
from common.rubrics import load

RUBRICS = load(ROOT / "rubrics")
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday
PEOPLE = [  # id, email, name, role, manager
    ("u-m", "manager@example.com", "Mia Manager", "manager", None),
    ("u-a", "ana@example.com", "Ana Rep", "rep", "u-m"),
    ("u-b", "ben@example.com", "Ben Rep", "rep", "u-m"),
    ("u-m2", "other@example.com", "Oli Other", "manager", None),
    ("u-c", "cat@example.com", "Cat Rep", "rep", "u-m2"),
]


def connect(s: Settings) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(s.database_url, row_factory=dict_row)


def add_people(s: Settings) -> None:
    with connect(s) as conn:
        for uid, email, name, role, _ in PEOPLE:
            conn.execute(
                "INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, %s)",
                (uid, email, name, role),
            )
        for uid, *_, manager in PEOPLE:
            conn.execute("UPDATE users SET manager_id = %s WHERE id = %s", (manager, uid))


def quote(call_id: str, key: str) -> str:
    return f"{call_id} says {key.replace('.', ' ')}"


def add_call(
    s: Settings,
    call_id: str,
    rep: str,
    started: datetime,
    scores: dict[str, float],
    held: frozenset[str] = frozenset(),
) -> None:
    """A call whose criteria (`dimension.criterion` -> score, 3.0 for those not named) are
    scored; the dimensions in `held` wait for a person's review."""
    url = f"https://app.gong.io/call?id={call_id}"
    with connect(s) as conn:
        conn.execute(
            "INSERT INTO calls (id, title, url, started_at, primary_user_id, transcript_hash)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (call_id, f"Call {call_id}", url, started, rep, f"h-{call_id}"),
        )
        for n, dimension in enumerate(DIMENSIONS):
            rubric = RUBRICS.rubrics[dimension]
            criteria: list[dict[str, Any]] = []
            for i, c in enumerate(rubric.criteria):
                key = f"{dimension}.{c.id}"
                at = 60 * (n * 4 + i + 1)
                criteria.append(
                    {
                        "criterion_id": c.id,
                        "name": c.name,
                        "weight": c.weight,
                        "score": scores.get(key, 3.0),
                        "rationale": "Seeded.",
                        "evidence": [
                            {
                                "quote": quote(call_id, key),
                                "timestamp": f"{at // 60:02d}:{at % 60:02d}",
                                "speaker": "Rep",
                                "start_s": at,
                                "link": f"{url}&t={at}",
                                "said_by": "rep",
                            }
                        ],
                    }
                )
            overall = round(sum(c["score"] * c["weight"] for c in criteria), 2)
            state = "needs_review" if dimension in held else "published"
            result = {
                "dimension": dimension,
                "overall_score": overall,
                "weighted_score": overall,
                "criteria": criteria,
                "strengths": [],
                "improvements": [],
                "coaching_note": "Seeded.",
                "quotes_dropped": 0,
                "chunks": 1,
                "state": state,
                "review_reasons": ["seeded hold"] if state == "needs_review" else [],
            }
            conn.execute(
                "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
                " cache_key, transcript_hash, rubric_version, status, overall_score, result,"
                " state) VALUES (%s, %s, %s, %s, 'm', %s, %s, %s, 'completed', %s, %s, %s)",
                (
                    started + timedelta(hours=1),
                    call_id,
                    rep,
                    dimension,
                    f"k-{call_id}-{dimension}",
                    f"h-{call_id}",
                    f"{rubric.version}+kb.test",
                    overall,
                    json.dumps(result),
                    state,
                ),
            )


def note(s: Settings, call_id: str) -> dict[str, Any] | None:
    with connect(s) as conn:
        return conn.execute("SELECT * FROM rep_notes WHERE call_id = %s", (call_id,)).fetchone()


def deliveries(s: Settings, note_id: int) -> list[tuple[int, str | None]]:
    with connect(s) as conn:
        rows = conn.execute(
            "SELECT attempt, outcome FROM rep_note_deliveries WHERE note_id = %s ORDER BY id",
            (note_id,),
        ).fetchall()
    return [(r["attempt"], r["outcome"]) for r in rows]
