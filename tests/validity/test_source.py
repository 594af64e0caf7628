"""The project's own scores and deals for the validity analysis (real Postgres, seeded
history): only what a person may see counts, a manager's word replaces the AI's, a deal's calls
after it closed are left out, the deal is its owner's, and scope is by the deal's owner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from common.validity import analyse, call_scores, closed_deal_rows
from local.seed import Team

Conn = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def conn(settings: Settings, team: Team) -> Any:
    with psycopg.connect(settings.database_url, row_factory=dict_row, autocommit=True) as c:
        yield c


def _scores(conn: Conn, call_id: str) -> dict[tuple[str, str], float]:
    return {
        (s.dimension, s.criterion): s.score for s in call_scores(conn, None) if s.call_id == call_id
    }


def _manager_score(
    conn: Conn, call_id: str, dimension: str, criterion: str, score: int, confirms: bool = False
) -> None:
    conn.execute(
        "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,"
        " source, source_ref, scored_at, confirms_ai)"
        " VALUES (%s, 'u-r000', 'u-m0', %s, %s, %s, 'mcp', %s, now(), %s)",
        (call_id, dimension, criterion, score, f"{call_id}:{dimension}:{criterion}", confirms),
    )


def _hold(conn: Conn, call_id: str, dimension: str) -> None:
    conn.execute(
        "UPDATE coaching_sessions SET state = 'needs_review' WHERE call_id = %s AND dimension = %s",
        (call_id, dimension),
    )


def test_held_suggestions_never_count_and_a_managers_word_replaces_the_ais(conn: Conn) -> None:
    call = "c-u-r000-00-0"
    before = _scores(conn, call)
    assert ("discovery", "overall") in before and ("discovery", "discovery_0") in before
    _hold(conn, call, "discovery")
    _hold(conn, call, "objections")
    _manager_score(conn, call, "objections", "overall", 4, confirms=True)
    _manager_score(conn, call, "engagement", "engagement_1", 5)
    after = _scores(conn, call)
    assert not [k for k in after if k[0] == "discovery"]  # held: nothing of it counts
    ai = conn.execute(
        "SELECT overall_score FROM current_sessions WHERE call_id = %s AND dimension = 'objections'",
        (call,),
    ).fetchone()
    assert ai is not None
    assert after[("objections", "overall")] == float(ai["overall_score"])  # confirmed: the AI's
    assert after[("objections", "objections_0")] == before[("objections", "objections_0")]
    assert after[("engagement", "engagement_1")] == 5.0
    assert after[("engagement", "engagement_0")] == before[("engagement", "engagement_0")]
    assert len([k for k in after if k == ("engagement", "engagement_1")]) == 1


def _deal(conn: Conn, opp: str, calls: list[str], stage_now: str, close: Any) -> None:
    for call in calls:
        record_call(
            conn,
            call,
            CallDeal(
                "Salesforce",
                opp,
                now=Snapshot(name=opp, stage=stage_now, close_date=close),
                at_call=Snapshot(name=opp, stage=f"stage of {call}"),
            ),
            StageMap.from_settings(Settings.model_construct()),
        )


def test_a_closed_deal_is_its_calls_before_it_closed_and_its_owners(conn: Conn) -> None:
    calls = ["c-u-r000-00-0", "c-u-r000-01-0", "c-u-r001-00-0", "c-u-r000-03-0"]
    started = {
        r["id"]: r["started_at"]
        for r in conn.execute(
            "SELECT id, started_at FROM calls WHERE id = ANY(%s)", (calls,)
        ).fetchall()
    }
    close = max(started[c] for c in calls[:3]).date()
    assert started["c-u-r000-03-0"].date() > close + timedelta(days=0)
    _deal(conn, "006WON", calls, "Closed Won", close)
    _deal(conn, "006OPEN", ["c-u-r002-00-0"], "Qualification", None)
    rows = closed_deal_rows(conn, None)
    assert {r.call_id for r in rows} == set(calls[:3])  # after the close, and open deals, out
    assert {r.rep_id for r in rows} == {"u-r000"}  # two of its three calls: the owner's deal
    assert {r.outcome for r in rows} == {"won"}
    assert {r.stage for r in rows if r.call_id == calls[2]} == {"stage of c-u-r001-00-0"}
    talk = conn.execute("SELECT metrics FROM calls WHERE id = %s", (calls[0],)).fetchone()
    assert talk is not None
    [ratio] = [r.score for r in rows if r.call_id == calls[0] and r.criterion == "talk_ratio"]
    assert ratio == pytest.approx(talk["metrics"]["talk_ratio_rep"] * 10)
    assert closed_deal_rows(conn, {"u-r001"}) == []  # the deal is u-r000's, not in that scope
    assert {r.call_id for r in closed_deal_rows(conn, {"u-r000"})} == set(calls[:3])
    report = analyse(rows, min_deals=2)
    assert (report.enough_deals, report.deals, report.more_needed) == (False, 1, 1)
