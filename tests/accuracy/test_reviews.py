"""A person's word (common/accuracy/reviews.py) through the MCP tools on real Postgres and the
seeded teams: the review queue lists held scores and the audit sample only for the manager's
team, an answer is recorded beside the AI's score (never over it) and becomes the manager's
score, the item leaves the queue once answered, and the held notice reaches the manager."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastmcp.exceptions import ToolError
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.accuracy import reviews
from common.config import Settings
from tests.mcp_helpers import call
from tests.monitoring.channels import wired

M0_A = ("c-u-r000-05-0", "discovery")  # rep u-r000, manager u-m0
M0_B = ("c-u-r002-04-1", "engagement")  # rep u-r002, manager u-m0
M1 = ("c-u-r001-05-0", "discovery")  # rep u-r001, manager u-m1
GONE = ("c-u-r004-05-0", "objections")  # rep u-r004 (soft-deleted), manager u-m0
REASONS = ["samples disagree on discovery_1 by 2.0 points", "no grounded evidence for discovery_2"]
VARIANT = "1.0.0+kb.seed+variant.discovery_onboarding"


def hold(db_url: str, call_id: str, dimension: str, reasons: list[str] = REASONS) -> None:
    """The gate held this session for review (as the scorer stores it)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET state = 'needs_review', result = result"
            " || jsonb_build_object('state', 'needs_review', 'review_reasons', %s::jsonb)"
            " WHERE call_id = %s AND dimension = %s",
            (Jsonb(reasons), call_id, dimension),
        )


def session(db_url: str, call_id: str, dimension: str) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT id, state, overall_score::float AS ai, result, rubric_version"
            " FROM current_sessions WHERE call_id = %s AND dimension = %s",
            (call_id, dimension),
        ).fetchone()
    assert row is not None
    return row


def words(db_url: str, call_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT dimension, criterion, score, not_applicable, confirms_ai, reviewer_id,"
            " ai_score::float AS ai_score, rubric_version, source_ref FROM manager_scores"
            " WHERE call_id = %s ORDER BY dimension, criterion",
            (call_id,),
        ).fetchall()


def no_audit(s: Settings) -> Settings:
    return s.model_copy(update={"audit_share": 0.0})


async def test_the_queue_lists_held_scores_only_for_the_managers_team(
    as_user: Any, settings: Settings
) -> None:
    for held in (M0_A, M0_B, M1, GONE):
        hold(settings.database_url, *held)
    s = no_audit(settings)
    m0 = await call(await as_user("manager0@example.com", s), "review_queue")
    assert [(i["call_id"], i["dimension"], i["kind"]) for i in m0["items"]] == [
        (*M0_A, "review"),  # newest call first
        (*M0_B, "review"),
    ]
    assert (m0["held"], m0["audit"]) == (2, 0)
    first, ai = m0["items"][0], session(settings.database_url, *M0_A)
    assert first["ai_score"] == ai["ai"] and first["review_reasons"] == REASONS
    assert first["rep_name"] == "Rep 000" and first["call_url"].endswith(M0_A[0])
    assert [(c["criterion_id"], c["ai_score"]) for c in first["criteria"]] == [
        (c["criterion_id"], c["score"]) for c in ai["result"]["criteria"]
    ]
    assert all(c["links"] for c in first["criteria"])  # each criterion's evidence, in Gong
    m1 = await call(await as_user("manager1@example.com", s), "review_queue")
    assert [(i["call_id"], i["dimension"]) for i in m1["items"]] == [M1]
    admin = await call(await as_user("admin@example.com", s), "review_queue")
    assert {(i["call_id"], i["dimension"]) for i in admin["items"]} == {M0_A, M0_B, M1, GONE}
    with pytest.raises(ToolError, match="manager or admin"):
        await call(await as_user("u-r000", s), "review_queue")


async def test_confirming_makes_the_ais_score_the_managers_and_keeps_the_ais(
    as_user: Any, settings: Settings
) -> None:
    hold(settings.database_url, *M0_A)
    before = session(settings.database_url, *M0_A)
    manager = await as_user("manager0@example.com", no_audit(settings))
    answered = await call(
        manager,
        "review_score",
        call_id=M0_A[0],
        dimension=M0_A[1],
        confirm=True,
        note="Fair: the questions were there.",
    )
    on_scale = int(before["ai"] + 0.5)
    assert (answered["kind"], answered["confirmed"], answered["score"]) == (
        "review",
        True,
        on_scale,
    )
    assert answered["ai_score"] == before["ai"]
    assert words(settings.database_url, M0_A[0]) == [
        {
            "dimension": "discovery",
            "criterion": "overall",
            "score": on_scale,
            "not_applicable": False,
            "confirms_ai": True,
            "reviewer_id": "u-m0",
            "ai_score": before["ai"],  # the AI's beside it
            "rubric_version": before["rubric_version"],
            "source_ref": f"review:{before['id']}:overall",
        }
    ]
    assert session(settings.database_url, *M0_A) == before  # the session is never rewritten
    assert (await call(manager, "review_queue"))["items"] == []  # answered: gone
    full = await call(manager, "get_call_coaching", call_id=M0_A[0], detail="full")
    discovery = next(d for d in full["dimensions"] if d["dimension"] == "discovery")
    assert [(m["criterion"], m["score"]) for m in discovery["manager_scores"]] == [
        ("overall", on_scale)
    ]
    with pytest.raises(ToolError, match="already has a manager's score"):
        await call(
            manager, "review_score", call_id=M0_A[0], dimension="discovery", confirm=True, note="x"
        )


async def test_changing_records_the_managers_score_and_criteria_beside_the_ais(
    as_user: Any, settings: Settings
) -> None:
    hold(settings.database_url, *M0_B)
    before = session(settings.database_url, *M0_B)
    manager = await as_user("manager0@example.com", no_audit(settings))
    base = {"call_id": M0_B[0], "dimension": M0_B[1], "note": "Talked over the customer."}
    refused = {
        "confirm and a score": ({**base, "confirm": True, "score": 2}, "either confirm"),
        "neither": ({**base, "confirm": False}, "either confirm"),
        "unknown criterion": (
            {**base, "confirm": False, "score": 2, "criteria": {"charisma": 3}},
            "engagement_0",
        ),
        "out of range": ({**base, "confirm": False, "score": 7}, "1 to 5"),
    }
    for name, (arguments, match) in refused.items():
        with pytest.raises(ToolError, match=match):
            await call(manager, "review_score", **arguments)
        assert words(settings.database_url, M0_B[0]) == [], name
    with pytest.raises(ToolError, match="in your scope"):
        await call(
            await as_user("manager1@example.com"), "review_score", **base, confirm=False, score=2
        )
    with pytest.raises(ToolError, match="manager or admin"):
        await call(await as_user("u-r002"), "review_score", **base, confirm=False, score=5)
    answered = await call(
        manager,
        "review_score",
        **base,
        confirm=False,
        score=2,
        criteria={"engagement_0": 1, "engagement_1": "na"},
    )
    assert (answered["confirmed"], answered["score"], answered["criteria"]) == (
        False,
        2,
        {"engagement_0": 1, "engagement_1": None},
    )
    ai = {c["criterion_id"]: c["score"] for c in before["result"]["criteria"]}
    assert [
        (w["criterion"], w["score"], w["confirms_ai"], w["ai_score"])
        for w in words(settings.database_url, M0_B[0])
    ] == [
        ("engagement_0", 1, False, ai["engagement_0"]),
        ("engagement_1", None, False, ai["engagement_1"]),
        ("overall", 2, False, before["ai"]),
    ]
    assert session(settings.database_url, *M0_B) == before
    assert (await call(manager, "review_queue"))["held"] == 0


async def test_a_variant_criterion_is_overridden_under_the_variants_version(
    as_user: Any, settings: Settings
) -> None:
    result = {
        "dimension": "discovery",
        "overall_score": 2.0,
        "criteria": [
            {"criterion_id": "success_criteria", "score": 2.0, "evidence": []},
            {"criterion_id": "current_workflow", "score": 2.0, "evidence": []},
        ],
        "review_reasons": REASONS,
    }
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET rubric_version = %s, overall_score = 2, result = %s,"
            " state = 'needs_review' WHERE call_id = %s AND dimension = 'discovery'",
            (VARIANT, Jsonb(result), M0_A[0]),
        )
    manager = await as_user("manager0@example.com", no_audit(settings))
    await call(
        manager,
        "review_score",
        call_id=M0_A[0],
        dimension="discovery",
        confirm=False,
        score=4,
        criteria={"success_criteria": 5},
        note="Goals agreed and owned.",
    )
    assert [
        (w["criterion"], w["score"], w["rubric_version"])
        for w in words(settings.database_url, M0_A[0])
    ] == [("overall", 4, VARIANT), ("success_criteria", 5, VARIANT)]


def audit_expected(db_url: str, reps: list[str], share: float) -> set[tuple[str, str]]:
    since = datetime.now(UTC) - timedelta(days=reviews.AUDIT_DAYS)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id, call_id, dimension, audit_draw(id) AS drawn FROM current_sessions"
            " WHERE rep_id = ANY(%s) AND state = 'published' AND created_at >= %s",
            (reps, since),
        ).fetchall()
    assert all(r["drawn"] == pytest.approx(reviews.audit_draw(r["id"])) for r in rows)
    return {(r["call_id"], r["dimension"]) for r in rows if reviews.audit_draw(r["id"]) < share}


async def test_the_audit_sample_is_stable_within_the_team_and_leaves_once_confirmed(
    as_user: Any, settings: Settings
) -> None:
    s = settings.model_copy(update={"audit_share": 0.2})
    manager = await as_user("manager0@example.com", s)
    queue = await call(manager, "review_queue", limit=200)
    audit = [(i["call_id"], i["dimension"]) for i in queue["items"] if i["kind"] == "audit"]
    expected = audit_expected(settings.database_url, ["u-r000", "u-r002"], 0.2)
    assert len(expected) >= 3 and set(audit) == expected and len(audit) == queue["audit"]
    assert (await call(manager, "review_queue", limit=200)) == queue  # drawn by hash: stable
    other = await call(await as_user("manager1@example.com", s), "review_queue", limit=200)
    assert {i["rep_id"] for i in other["items"]} <= {"u-r001", "u-r003", "u-r005"}
    assert not {(i["call_id"], i["dimension"]) for i in other["items"]} & expected
    call_id, dimension = audit[0]
    answered = await call(
        manager,
        "review_score",
        call_id=call_id,
        dimension=dimension,
        confirm=True,
        note="Matches what I heard.",
    )
    assert answered["kind"] == "audit" and answered["confirmed"]
    after = await call(manager, "review_queue", limit=200)
    assert after["audit"] == queue["audit"] - 1
    assert (call_id, dimension) not in {(i["call_id"], i["dimension"]) for i in after["items"]}
    none = await call(await as_user("manager0@example.com", no_audit(settings)), "review_queue")
    assert none["items"] == [] and none["audit"] == 0


async def test_the_held_notice_names_what_waits_and_reaches_the_manager(
    as_user: Any, settings: Settings
) -> None:
    call_id = M0_A[0]
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert reviews.held_notice(conn, call_id) is None  # nothing held
    hold(settings.database_url, call_id, "discovery")
    hold(settings.database_url, call_id, "engagement", [])
    discovery = session(settings.database_url, call_id, "discovery")
    engagement = session(settings.database_url, call_id, "engagement")
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        title = conn.execute("SELECT title, started_at FROM calls WHERE id = %s", (call_id,))
        call_row = title.fetchone()
        text = reviews.held_notice(conn, call_id)
    assert call_row is not None and text is not None
    assert text.splitlines() == [
        f'Rep 000\'s call "{call_row["title"]}" of {call_row["started_at"]:%Y-%m-%d}'
        f" ({call_id}) has 2 scores held for your review: the AI was not sure enough to"
        " publish. The rep sees them once you confirm or change them (review_queue, then"
        " review_score, in Claude Desktop).",
        f"- discovery: the AI suggests {discovery['ai']:.1f}; held because: {'; '.join(REASONS)}",
        f"- engagement: the AI suggests {engagement['ai']:.1f}; held because: no reason recorded",
    ]
    with (
        wired(settings) as (s, posts, inbox),
        psycopg.connect(s.database_url, row_factory=dict_row) as conn,
    ):
        sent = reviews.notify_held(s, conn, call_id)
    assert sent == ["log", "slack", "email"]
    assert inbox.recipients == [["manager0@example.com"]] and "held for your" in inbox.messages[0]
    assert posts == [f"For u-m0: {text}"]
    manager = await as_user("manager0@example.com", no_audit(settings))
    for dimension in ("discovery", "engagement"):
        await call(
            manager, "review_score", call_id=call_id, dimension=dimension, confirm=True, note="ok"
        )
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert reviews.held_notice(conn, call_id) is None  # answered: nothing waits
