"""Storing a call stores its deal: the analysis asks Gong for Extended context at both timings
(or reads it from the webhook's callData), keeps the deal once per opportunity and the stage at
each call; calls without a deal are fine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call
from common.intake.outbox import store_found
from common.scoring.service import ScoringService
from local.gong_server import GongState
from local.gong_spec import spec
from local.sample_deals import DEALS
from local.samples import sample_calls, webhook_payload


@pytest.fixture
def service(settings: Settings, tmp_path: Path) -> Iterator[ScoringService]:
    svc = ScoringService.from_settings(settings.model_copy(update={"journal_dir": tmp_path}))
    yield svc
    svc.close()


def _deal_rows(settings: Settings) -> list[dict[str, object]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT cd.call_id, cd.stage_at_call, d.opportunity_id, d.name, d.stage, d.outcome,"
            " d.stage_mapped, d.amount FROM call_deals cd LEFT JOIN deals d ON d.id = cd.deal_id"
            " ORDER BY cd.call_id"
        ).fetchall()


def test_a_fetched_call_keeps_its_deal_and_the_stage_at_the_call(
    service: ScoringService, settings: Settings, gong: tuple[GongState, str]
) -> None:
    ready, failed = service.prepare(["7001001", "7001003", "7001006", "7001007"])
    assert failed == {} and len(ready) == 4
    asked = [t["body"] for t in gong[0].traffic if t["path"] == "/v2/calls/extensive"]
    assert len(asked) == 1  # one request for the four calls
    assert spec().request_errors("POST", "/v2/calls/extensive", asked[0]) == []
    selector = asked[0]["contentSelector"]
    assert selector["context"] == "Extended"
    assert sorted(selector["contextTiming"]) == ["Now", "TimeOfCall"]
    rows = {r["call_id"]: r for r in _deal_rows(settings)}
    acme = rows["7001001"]
    assert (acme["opportunity_id"], acme["stage_at_call"]) == (
        DEALS["7001001"].opportunity_id,
        "Qualification",
    )
    assert (acme["stage"], acme["outcome"], acme["amount"]) == (
        "Proposal/Price Quote",
        "open",
        48000,
    )
    assert (rows["7001003"]["stage_at_call"], rows["7001003"]["outcome"]) == (
        "Negotiation/Review",
        "won",
    )
    assert rows["7001006"]["opportunity_id"] is None  # the internal review: no deal, and fine
    muller = rows["7001007"]  # "Discovery" is not a Salesforce stage: open, reported
    assert (muller["outcome"], muller["stage_mapped"]) == ("open", False)


def test_the_webhooks_context_is_read_without_asking_gong(
    service: ScoringService, settings: Settings, gong: tuple[GongState, str]
) -> None:
    sample = sample_calls()[1]["call"]  # Globex: lost since the call
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        store_found(conn, "7001002", webhook_payload(sample))
    ready, failed = service.prepare(["7001002"])
    assert "7001002" in ready and failed == {}
    assert [t for t in gong[0].traffic if t["path"] == "/v2/calls/extensive"] == []
    [row] = _deal_rows(settings)
    assert (row["name"], row["stage_at_call"], row["outcome"]) == (
        "Globex - Beacon Enterprise",
        "Needs Analysis",
        "lost",
    )


def test_a_webhook_without_context_leaves_the_call_to_the_daily_refresh(
    service: ScoringService, settings: Settings
) -> None:
    sample = sample_calls()[0]["call"]
    sample.pop("context")
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        store_found(conn, "7001001", webhook_payload(sample))
    service.prepare(["7001001"])
    assert _deal_rows(settings) == []  # unchecked, not "no deal"


def test_stale_context_never_reopens_a_closed_deal_but_the_refresh_may(
    service: ScoringService, settings: Settings
) -> None:
    service.prepare(["7001003"])  # Initech: won now
    older = CallDeal(  # what a webhook delivered before it closed would say
        "Salesforce",
        DEALS["7001003"].opportunity_id,
        now=Snapshot(name="Initech - Beacon", stage="Negotiation/Review", probability=90),
    )
    stages = StageMap.from_settings(settings)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        record_call(conn, "7001003", older, stages)
        kept = conn.execute("SELECT stage, outcome, closed_at FROM deals").fetchone()
        record_call(conn, "7001003", older, stages, authoritative=True)
        refreshed = conn.execute("SELECT stage, outcome, closed_at FROM deals").fetchone()
    assert kept is not None and (kept["stage"], kept["outcome"]) == ("Closed Won", "won")
    assert kept["closed_at"] is not None
    assert refreshed == {"stage": "Negotiation/Review", "outcome": "open", "closed_at": None}
