"""The company's own figures from its won deals (real Postgres, seeded history)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from common.validity import won_deal_figures
from local.seed import Team


def _close(conn: Any, opp: str, stage: str, calls: dict[str, tuple[str, float, int]]) -> None:
    for call, (title, talk, questions) in calls.items():
        metrics = {"talk_ratio_rep": talk, "rep_questions": questions, "duration_s": 1800}
        conn.execute(
            "UPDATE calls SET title = %s, metrics = %s WHERE id = %s",
            (title, json.dumps(metrics), call),
        )
        record_call(
            conn,
            call,
            CallDeal("Salesforce", opp, now=Snapshot(name=opp, stage=stage)),
            StageMap.from_settings(Settings.model_construct()),
        )


@pytest.fixture
def conn(settings: Settings, team: Team) -> Any:
    with psycopg.connect(settings.database_url, row_factory=dict_row, autocommit=True) as c:
        _close(
            c,
            "006W",
            "Closed Won",
            {
                "c-u-r000-00-0": ("Discovery call", 0.40, 12),
                "c-u-r000-01-0": ("Demo", 0.44, 30),
                "c-u-r000-02-0": ("Discovery follow-up", 0.36, 16),
            },
        )
        _close(c, "006L", "Closed Lost", {"c-u-r002-00-0": ("Discovery", 0.70, 4)})
        yield c


def test_the_middle_half_of_won_deals_calls_and_discovery_calls(conn: Any) -> None:
    figures = won_deal_figures(conn, None, min_deals=2)
    assert figures is not None
    assert (figures.deals, figures.won) == (2, 1)
    talk = figures.talk_ratio_won
    assert talk is not None and talk.calls == 3
    assert (talk.low, talk.median, talk.high) == pytest.approx((0.38, 0.40, 0.42))
    questions = figures.questions_won  # the demo's 30 questions are not a discovery call's
    assert questions is not None and questions.calls == 2
    assert questions.median == pytest.approx(14)
    lost = figures.talk_ratio_lost
    assert lost is not None and lost.median == pytest.approx(0.70)


def test_below_the_minimum_or_outside_scope_there_are_no_figures(conn: Any) -> None:
    assert won_deal_figures(conn, None, min_deals=3) is None
    assert won_deal_figures(conn, {"u-r000", "u-r002"}, min_deals=2) is not None
    assert won_deal_figures(conn, {"u-r000"}, min_deals=2) is None  # one closed deal in scope
