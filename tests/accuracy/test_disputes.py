"""Disputes through the MCP tools, on real Postgres: a rep contests a score of their own call,
their manager resolves it, and the outcome reaches agreement and the team's weekly report."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastmcp.exceptions import ToolError
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.accuracy import disputes
from common.config import Settings
from tests.mcp_helpers import call

CALL = "c-u-r000-00-0"  # rep u-r000, managed by u-m0 (manager0@example.com)


async def test_a_rep_disputes_and_the_manager_overrides(as_user: Any, settings: Settings) -> None:
    rep = await as_user("u-r000")
    opened = await call(
        rep,
        "dispute_score",
        call_id=CALL,
        dimension="discovery",
        reason="I asked three layered questions at 04:10; the customer talked most of the call.",
    )
    assert opened["status"] == "open" and opened["rep_id"] == "u-r000"
    coaching = await call(rep, "get_call_coaching", call_id=CALL, detail="full")
    discovery = next(d for d in coaching["dimensions"] if d["dimension"] == "discovery")
    ai = discovery["overall_score"]
    assert opened["ai_score"] == ai  # the score contested is kept with the dispute
    with pytest.raises(ToolError, match="already disputed"):
        await call(
            rep,
            "dispute_score",
            call_id=CALL,
            dimension="discovery",
            reason="again",
        )

    manager = await as_user("manager0@example.com")
    listed = (await call(manager, "list_disputes"))["disputes"]
    assert [d["id"] for d in listed] == [opened["id"]]
    with pytest.raises(ToolError, match="needs your score"):
        await call(
            manager,
            "resolve_dispute",
            dispute_id=opened["id"],
            decision="override",
            reason="fair point",
        )
    resolved = await call(
        manager,
        "resolve_dispute",
        dispute_id=opened["id"],
        decision="override",
        score=4,
        reason="Fair: the follow-ups were there.",
    )
    assert (resolved["status"], resolved["manager_score"], resolved["resolved_by"]) == (
        "overridden",
        4,
        "u-m0",
    )
    assert resolved["ai_score"] == ai  # the AI's score stays visible beside the outcome
    with pytest.raises(ToolError, match="already overridden"):
        await call(
            manager,
            "resolve_dispute",
            dispute_id=opened["id"],
            decision="uphold",
            reason="changed my mind",
        )
    after = await call(rep, "get_call_coaching", call_id=CALL, detail="full")
    scores = next(d for d in after["dimensions"] if d["dimension"] == "discovery")["manager_scores"]
    assert [(m["criterion"], m["score"], m["reviewer_id"]) for m in scores] == [
        ("overall", 4, "u-m0")
    ]
    report = await call(manager, "agreement_report", from_date="2020-01-01")
    assert report["disputes"]["overridden"] == 1 and report["disputes"]["open"] == 0
    assert report["disputes"]["by_dimension"]["discovery"]["overridden"] == 1
    assert (await call(manager, "list_disputes"))["disputes"] == []
    mine = (await call(rep, "list_disputes", status=None))["disputes"]
    assert [d["status"] for d in mine] == ["overridden"]


async def test_only_the_calls_rep_disputes_and_only_their_manager_resolves(
    as_user: Any, settings: Settings
) -> None:
    other_rep = await as_user("u-r002")  # same team, not their call
    with pytest.raises(ToolError, match="in your scope"):
        await call(other_rep, "dispute_score", call_id=CALL, dimension="engagement", reason="x")
    with pytest.raises(ToolError, match="own calls"):  # their manager sees it, but it is not theirs
        await call(
            await as_user("manager0@example.com"),
            "dispute_score",
            call_id=CALL,
            dimension="engagement",
            reason="x",
        )
    rep = await as_user("u-r000")
    opened = await call(rep, "dispute_score", call_id=CALL, dimension="engagement", reason="x")
    with pytest.raises(ToolError):  # a rep cannot resolve, not even their own
        await call(rep, "resolve_dispute", dispute_id=opened["id"], decision="uphold", reason="y")
    outsider = await as_user("manager1@example.com")  # another team's manager
    assert (await call(outsider, "list_disputes"))["disputes"] == []
    with pytest.raises(ToolError, match="no dispute"):
        await call(
            outsider, "resolve_dispute", dispute_id=opened["id"], decision="uphold", reason="y"
        )
    manager = await as_user("manager0@example.com")
    upheld = await call(
        manager,
        "resolve_dispute",
        dispute_id=opened["id"],
        decision="uphold",
        reason="The score stands: no agenda was set.",
    )
    # upholding is a person's word too: a manager score equal to the AI's (on the 1-5 scale),
    # marked as confirming it, with the AI's exact score kept beside it
    ai = opened["ai_score"]
    assert upheld["status"] == "upheld" and upheld["manager_score"] == int(ai + 0.5)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT reviewer_id, criterion, score, confirms_ai, ai_score::float AS ai_score"
            " FROM manager_scores WHERE source_ref LIKE 'dispute:%'"
        ).fetchall()
    assert rows == [
        {
            "reviewer_id": "u-m0",
            "criterion": "overall",
            "score": int(ai + 0.5),
            "confirms_ai": True,
            "ai_score": ai,
        }
    ]


async def test_the_team_report_lists_open_disputes(as_user: Any, settings: Settings) -> None:
    rep = await as_user("u-r000")
    await call(
        rep, "dispute_score", call_id=CALL, dimension="objections", reason="No objection came up."
    )
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        open_now = disputes.listed(conn, ["u-r000", "u-r002"], "open")
        other_team = disputes.listed(conn, ["u-r001"], "open")
    assert [(d.dimension, d.criterion) for d in open_now] == [("objections", "overall")]
    assert other_team == []
    from common.reports.numbers import TeamReport
    from common.reports.render import render_team

    page = render_team(
        TeamReport(
            manager_id="u-m0",
            manager_name="M",
            week_start=open_now[0].opened_at.date(),
            reps=[],
            trend={},
            disputes=open_now,
        ),
        {},
    )
    assert "Open disputes (1)" in page and "No objection came up." in page


VARIANT = "1.0.0+kb.seed+variant.discovery_onboarding"


def make_variant_session(db_url: str, call_id: str) -> None:
    """The call's discovery session scored under the onboarding variant (its own criteria)."""
    result = {
        "dimension": "discovery",
        "overall_score": 2.0,
        "criteria": [
            {"criterion_id": "success_criteria", "score": 2.0, "evidence": []},
            {"criterion_id": "current_workflow", "score": 2.0, "evidence": []},
        ],
    }
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET rubric_version = %s, overall_score = 2, result = %s"
            " WHERE call_id = %s AND dimension = 'discovery'",
            (VARIANT, Jsonb(result), call_id),
        )


async def test_a_variant_criterion_is_disputed_and_overridden_under_the_variants_version(
    as_user: Any, settings: Settings
) -> None:
    make_variant_session(settings.database_url, CALL)
    rep = await as_user("u-r000")
    opened = await call(
        rep,
        "dispute_score",
        call_id=CALL,
        dimension="discovery",
        criterion="success_criteria",  # the variant's criterion, not the base rubric's
        reason="We agreed three measurable goals at 12:40.",
    )
    assert (opened["criterion"], opened["ai_score"]) == ("success_criteria", 2.0)
    with pytest.raises(ToolError, match="success_criteria"):  # a criterion the session lacks
        await call(
            rep, "dispute_score", call_id=CALL, dimension="discovery", criterion="x", reason="y"
        )
    manager = await as_user("manager0@example.com")
    resolved = await call(
        manager,
        "resolve_dispute",
        dispute_id=opened["id"],
        decision="override",
        score=4,
        reason="Goals were agreed.",
    )
    assert resolved["status"] == "overridden" and resolved["manager_score"] == 4
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT criterion, score, rubric_version, ai_score::float AS ai FROM manager_scores"
            " WHERE source_ref = %s",
            (f"dispute:{opened['id']}",),
        ).fetchone()
    assert row == {
        "criterion": "success_criteria",
        "score": 4,
        "rubric_version": VARIANT,
        "ai": 2.0,
    }
