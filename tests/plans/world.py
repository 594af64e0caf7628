"""A week of calls for the plan tests, on the rep-note tests' world (a manager with two reps,
another manager with one; every criterion scored with a quote and its Gong link): Ana's two
calls last week (one dimension of the second held for review), one of hers the week before,
one each of Ben and Cat, and what the customer said at one of Ana's weakest moments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.access import Caller
from common.config import Settings
from common.db import transaction
from common.plans import draft_week
from tests.repnotes.world import NOW, add_call, connect

WEEK = date(2026, 2, 23)  # last week's Monday, seen from NOW (Wednesday 4 March)
MANAGER = Caller("u-m", "Mia Manager", "manager")
OTHER_MANAGER = Caller("u-m2", "Oli Other", "manager")
ANA = Caller("u-a", "Ana Rep", "rep")
BEN = Caller("u-b", "Ben Rep", "rep")
ANA_EMAIL = "ana@example.com"
A1 = {  # Ana's Tuesday: strong discovery and next steps, weak confirmation and listening
    "discovery.pain_and_impact": 5.0,
    "objections.next_steps": 4.5,
    "engagement.interactivity": 4.5,
    "product_knowledge.accuracy": 4.0,
    "objections.confirm_resolution": 1.0,
    "discovery.listening": 1.5,
}
A2 = {  # Ana's Thursday: engagement held for review, with scores that must not be used
    "discovery.pain_and_impact": 5.0,
    "objections.next_steps": 4.5,
    "product_knowledge.accuracy": 4.0,
    "objections.confirm_resolution": 1.5,
    "discovery.listening": 2.0,
    "engagement.interactivity": 1.0,
    "engagement.patience": 1.0,
}


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def add_week(s: Settings) -> None:
    add_call(s, "a0", "u-a", at(WEEK - timedelta(days=6)), {"objections.confirm_resolution": 5})
    add_call(s, "a1", "u-a", at(WEEK + timedelta(days=1)), A1)
    add_call(s, "a2", "u-a", at(WEEK + timedelta(days=3)), A2, held=frozenset({"engagement"}))
    add_call(s, "b1", "u-b", at(WEEK + timedelta(days=2)), {"objections.next_steps": 1.0})
    add_call(s, "c1", "u-c", at(WEEK + timedelta(days=2)), {"discovery.listening": 1.0})
    customer_said(s, "a1", "objections.confirm_resolution", "We still are not sure about SSO.")


def customer_said(s: Settings, call_id: str, key: str, quote: str) -> None:
    """The evidence of `key` on the call becomes the customer's words `quote`."""
    dimension, _, criterion = key.partition(".")
    with connect(s) as conn:
        row = conn.execute(
            "SELECT id, result FROM coaching_sessions WHERE call_id = %s AND dimension = %s",
            (call_id, dimension),
        ).fetchone()
        assert row is not None
        result: dict[str, Any] = row["result"]
        for c in result["criteria"]:
            if c["criterion_id"] == criterion:
                for e in c["evidence"]:
                    e.update(quote=quote, said_by="customer", speaker="Customer")
        conn.execute(
            "UPDATE coaching_sessions SET result = %s WHERE id = %s",
            (json.dumps(result), row["id"]),
        )


def drafted(s: Settings, now: datetime = NOW) -> dict[str, int]:
    """Draft last week's plans; rep id -> plan id."""
    with transaction(s.database_url) as conn:
        draft_week(conn, s, WEEK, now=now)
    with connect(s) as conn:
        rows = conn.execute("SELECT id, rep_id FROM weekly_plans").fetchall()
    return {r["rep_id"]: r["id"] for r in rows}


def plan_row(s: Settings, plan_id: int) -> dict[str, Any]:
    with connect(s) as conn:
        row = conn.execute("SELECT * FROM weekly_plans WHERE id = %s", (plan_id,)).fetchone()
    assert row is not None
    return row


def deliveries(s: Settings, plan_id: int) -> list[tuple[int, str | None]]:
    with connect(s) as conn:
        rows = conn.execute(
            "SELECT attempt, outcome FROM weekly_plan_deliveries WHERE plan_id = %s ORDER BY id",
            (plan_id,),
        ).fetchall()
    return [(r["attempt"], r["outcome"]) for r in rows]
