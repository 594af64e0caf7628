"""The daily deal refresh: open deals' outcomes read again through calls/extensive with Extended
context, 100 ids a request, each request spent from the company's shared Gong budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from common.errors import GongBudgetSpent, GongError
from common.gong import gong_limiter
from common.scoring.service import ScoringService
from flows.refresh_deals import refresh_deals
from local.gong_server import GongState
from local.gong_spec import spec
from local.sample_deals import CLOSING_IN_DEMO, DEALS, opportunity_fields
from tests.conftest import app_env


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """The flow reads its settings from the environment: point it at the test servers."""
    for key, value in app_env(settings, "http://127.0.0.1:9").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JOURNAL_DIR", str(tmp_path / "journal"))
    yield settings


def _extensive(gong: GongState) -> list[dict[str, Any]]:
    return [t["body"] for t in gong.traffic if t["path"] == "/v2/calls/extensive"]


def test_a_deal_closed_in_the_crm_is_picked_up(
    env: Settings, gong: tuple[GongState, str], tmp_path: Path
) -> None:
    state = gong[0]
    service = ScoringService.from_settings(env.model_copy(update={"journal_dir": tmp_path}))
    try:
        service.prepare([f"700100{n}" for n in range(1, 9)])
    finally:
        service.close()
    call_id, stage, probability, close_date = CLOSING_IN_DEMO
    state.close_deal(DEALS[call_id].opportunity_id, stage, probability, close_date)
    state.traffic.clear()
    used = gong_limiter(env).used_today()

    result = refresh_deals.fn()

    [body] = _extensive(state)  # the open deals' calls, in one request
    assert spec().request_errors("POST", "/v2/calls/extensive", body) == []
    assert body["contentSelector"]["context"] == "Extended"
    assert sorted(body["contentSelector"]["contextTiming"]) == ["Now", "TimeOfCall"]
    assert sorted(body["filter"]["callIds"]) == ["7001001", "7001004", "7001007"]
    assert result["requests"] == 1 and gong_limiter(env).used_today() == used + 1
    assert [(d["name"], d["outcome"]) for d in result["closed"]] == [
        ("Acme Logistics - Beacon", "won")
    ]
    assert result["unmapped_stages"] == {"Discovery": 1}
    with psycopg.connect(env.database_url, row_factory=dict_row) as conn:
        acme = conn.execute(
            "SELECT d.outcome, d.stage, d.close_date::text, d.closed_at, cd.stage_at_call"
            " FROM deals d JOIN call_deals cd ON cd.deal_id = d.id WHERE cd.call_id = %s",
            (call_id,),
        ).fetchone()
    assert acme is not None and acme["closed_at"] is not None
    assert (acme["outcome"], acme["stage"], acme["close_date"], acme["stage_at_call"]) == (
        "won",
        "Closed Won",
        "2026-11-20",
        "Qualification",  # the stage at the call is kept
    )


def _open_deals(s: Settings, state: GongState, n: int) -> list[str]:
    """n open deals with one stored call each; in Gong each is Closed Lost by now."""
    started = datetime.now(UTC) - timedelta(days=60)  # too old to be asked about unchecked
    stages = StageMap.from_settings(s)
    ids = [f"9{i:05d}" for i in range(n)]
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        for call_id in ids:
            opp = f"006DEAL{call_id}"
            conn.execute(
                "INSERT INTO calls (id, title, started_at) VALUES (%s, 't', %s)", (call_id, started)
            )
            record_call(
                conn,
                call_id,
                CallDeal("Salesforce", opp, now=Snapshot(stage="Qualification", probability=20)),
                stages,
            )
            fields = opportunity_fields(f"Deal {call_id}", "Closed Lost", 1000, "2026-11-20", 0)
            state.add(
                {
                    "metaData": {"id": call_id, "started": started.isoformat()},
                    "parties": [],
                    "context": [
                        {
                            "system": "Salesforce",
                            "objects": [
                                {
                                    "objectType": "Opportunity",
                                    "objectId": opp,
                                    "timing": t,
                                    "fields": fields,
                                }
                                for t in ("Now", "TimeOfCall")
                            ],
                        }
                    ],
                },
                None,
            )
    return ids


def test_open_deals_are_asked_100_ids_a_request_inside_the_shared_budget(
    env: Settings, gong: tuple[GongState, str]
) -> None:
    ids = _open_deals(env, gong[0], 250)

    result = refresh_deals.fn()

    sent = [b["filter"]["callIds"] for b in _extensive(gong[0])]
    assert [len(batch) for batch in sent] == [100, 100, 50]
    assert sorted(i for batch in sent for i in batch) == ids
    assert result["requests"] == 3 and gong_limiter(env).used_today() == 3
    assert len(result["closed"]) == 250
    with psycopg.connect(env.database_url) as conn:
        assert conn.execute("SELECT outcome, count(*) FROM deals GROUP BY 1").fetchall() == [
            ("lost", 250)
        ]


def test_a_budget_spent_half_way_keeps_what_was_read_and_stops_before_a_request(
    env: Settings, gong: tuple[GongState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_deals(env, gong[0], 250)
    monkeypatch.setenv("GONG_DAILY_BUDGET", "2")

    with pytest.raises(GongBudgetSpent):
        refresh_deals.fn()

    assert len(_extensive(gong[0])) == 2  # the third batch never left
    with psycopg.connect(env.database_url) as conn:
        rows = conn.execute("SELECT outcome, count(*) FROM deals GROUP BY 1").fetchall()
    outcomes: dict[str, int] = {str(r[0]): int(r[1]) for r in rows}
    assert outcomes == {"lost": 200, "open": 50}  # the next run carries on with these


def test_a_rotated_gong_key_is_used_by_the_next_run_without_a_restart(
    env: Settings, gong: tuple[GongState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runbook's rotation step: each run reads GONG_ACCESS_KEY/SECRET when it starts, so the
    work pool's new values reach the next run while this process (a worker) keeps running;
    once the old key is revoked in Gong, a run still holding it fails loudly (401)."""
    import base64

    _open_deals(env, gong[0], 3)
    gong[0].auth = "Basic " + base64.b64encode(b"new-key:new-secret").decode()  # old revoked
    with pytest.raises(GongError, match="401"):
        refresh_deals.fn()
    monkeypatch.setenv("GONG_ACCESS_KEY", "new-key")
    monkeypatch.setenv("GONG_ACCESS_KEY_SECRET", "new-secret")

    result = refresh_deals.fn()

    assert result["requests"] == 1 and len(result["closed"]) == 3
