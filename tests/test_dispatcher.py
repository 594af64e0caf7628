"""The outbox dispatcher against real Postgres and a real (local) Prefect API."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from common.config import Settings
from flows.dispatcher import dispatch_once


@pytest.fixture
def deployment_id(prefect_api: None) -> Any:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("analyze-call")
        return client.create_deployment(flow_id=flow_id, name="analyze-call")


def _store_pending(db_url: str, *call_ids: str) -> None:
    with psycopg.connect(db_url) as conn:
        for call_id in call_ids:
            conn.execute(
                "INSERT INTO webhook_events (idempotency_key, call_id, payload) VALUES (%s, %s, %s)",
                (call_id, call_id, json.dumps({"callData": {"metaData": {"id": call_id}}})),
            )


def _events(db_url: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT call_id, status, attempts FROM webhook_events").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _runs(deployment_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def _make_due(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE webhook_events SET next_attempt_at = now()")


def test_prefect_unreachable_keeps_event_then_starts_it_once(
    settings: Settings, deployment_id: Any
) -> None:
    _store_pending(settings.database_url, "9100", "9101")
    with temporary_settings(
        {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}
    ):
        down = dispatch_once(settings)
    assert sorted(down.failed) == ["9100", "9101"] and down.started == []
    assert _events(settings.database_url) == {"9100": ("pending", 1), "9101": ("pending", 1)}

    assert dispatch_once(settings).started == []  # backoff: not due yet
    _make_due(settings.database_url)
    up = dispatch_once(settings)
    assert sorted(up.started) == ["9100", "9101"]
    assert {k: v[0] for k, v in _events(settings.database_url).items()} == {
        "9100": "dispatched",
        "9101": "dispatched",
    }
    _make_due(settings.database_url)
    assert dispatch_once(settings).started == []  # nothing pending any more

    started = [r.parameters["call_id"] for r in _runs(deployment_id)]
    assert sorted(c for c in started if c.startswith("91")) == ["9100", "9101"]


def test_a_start_repeated_after_a_lost_commit_reuses_the_run(
    settings: Settings, deployment_id: Any
) -> None:
    """The run was created but the event was not marked: Prefect's idempotency key holds."""
    _store_pending(settings.database_url, "9200")
    dispatch_once(settings)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("UPDATE webhook_events SET status = 'pending'")
    dispatch_once(settings)
    runs = [r for r in _runs(deployment_id) if r.parameters["call_id"] == "9200"]
    assert len(runs) == 1


def test_inline_dispatch_starts_the_run_at_once_and_the_dispatcher_reuses_it(
    settings: Settings, deployment_id: Any, signer: Any
) -> None:
    import httpx

    from common.config import load_settings
    from functions.webhook import create_app
    from local.samples import sample_calls, webhook_payload
    from local.serve import serve
    from tests.conftest import WEBHOOK_URL

    s = load_settings(**{**settings.model_dump(), "webhook_inline_dispatch": True})
    server = serve(create_app(s))
    try:
        body = json.dumps(webhook_payload(sample_calls()[4]["call"])).encode()
        r = httpx.post(
            f"{server.url}/webhooks/gong",
            content=body,
            headers={"Authorization": signer.jwt(body, WEBHOOK_URL)},
            timeout=10,
        )
    finally:
        server.stop()
    assert r.status_code == 200
    runs = [x for x in _runs(deployment_id) if x.parameters["call_id"] == "7001005"]
    assert len(runs) == 1  # started inline, before any dispatcher pass
    assert _events(s.database_url)["7001005"] == ("pending", 0)  # the outbox still owns it
    dispatch_once(s)
    assert _events(s.database_url)["7001005"][0] == "dispatched"
    assert [x.id for x in _runs(deployment_id) if x.parameters["call_id"] == "7001005"] == [
        runs[0].id
    ]
