"""The outbox dispatcher and reconciler against real Postgres and a real (local) Prefect API."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Completed, Crashed, Failed

from common.config import Settings, load_settings
from flows.dispatcher import dispatch_once


@pytest.fixture
def deployment_id(prefect_api: None) -> Any:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("analyze-calls")
        return client.create_deployment(flow_id=flow_id, name="analyze-calls")


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


def _event(db_url: str, call_id: str) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute("SELECT * FROM webhook_events WHERE call_id = %s", (call_id,)).fetchone()
    assert row is not None
    return row


def _runs(deployment_id: Any, call_id: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    return [r for r in runs if call_id in r.parameters["call_ids"]]


def _make_due(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE webhook_events SET next_attempt_at = now()")


def _set_state(run_id: Any, state: Any) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, state, force=True)


def test_prefect_unreachable_keeps_events_pending_then_starts_them_once(
    settings: Settings, deployment_id: Any
) -> None:
    _store_pending(settings.database_url, "9100", "9101")
    with psycopg.connect(settings.database_url) as conn:  # hours of failed starts already
        conn.execute("UPDATE webhook_events SET attempts = 40 WHERE call_id = '9101'")
    with temporary_settings(
        {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}
    ):
        down = dispatch_once(settings).dispatched
    assert sorted(down.failed) == ["9100", "9101"] and down.started == []
    assert _events(settings.database_url) == {"9100": ("pending", 1), "9101": ("pending", 41)}

    assert dispatch_once(settings).dispatched.started == []  # backoff: not due yet
    _make_due(settings.database_url)
    up = dispatch_once(settings).dispatched
    assert sorted(up.started) == ["9100", "9101"] and len(up.runs) == 1  # one run, two calls
    assert {k: v[0] for k, v in _events(settings.database_url).items()} == {
        "9100": "dispatched",
        "9101": "dispatched",
    }
    _make_due(settings.database_url)
    assert dispatch_once(settings).dispatched.started == []  # nothing pending any more
    assert len(_runs(deployment_id, "9100")) == len(_runs(deployment_id, "9101")) == 1


def test_a_start_repeated_after_a_lost_commit_reuses_the_run(
    settings: Settings, deployment_id: Any
) -> None:
    """The run was created but the event was not marked: Prefect's idempotency key holds."""
    _store_pending(settings.database_url, "9200")
    dispatch_once(settings)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("UPDATE webhook_events SET status = 'pending', run_attempts = 0")
    dispatch_once(settings)
    assert len(_runs(deployment_id, "9200")) == 1


def test_a_crashed_run_is_requeued_and_started_again_with_a_new_run(
    settings: Settings, deployment_id: Any
) -> None:
    _store_pending(settings.database_url, "9300")
    dispatch_once(settings)
    (first,) = _runs(deployment_id, "9300")
    _set_state(first.id, Crashed(message="Failed to submit flow run: 503"))
    passed = dispatch_once(settings)
    assert passed.reconciled.requeued == ["9300"]
    event = _event(settings.database_url, "9300")
    assert event["status"] == "pending" and event["failures"] == 1
    assert "crashed" in event["last_error"] and "503" in event["last_error"]
    _make_due(settings.database_url)
    dispatch_once(settings)
    runs = _runs(deployment_id, "9300")
    assert len(runs) == 2 and _event(settings.database_url, "9300")["status"] == "dispatched"
    assert str(_event(settings.database_url, "9300")["flow_run_id"]) != str(first.id)


def test_a_hung_run_is_cancelled_and_requeued(settings: Settings, deployment_id: Any) -> None:
    s = load_settings(**{**settings.model_dump(), "analysis_run_deadline_s": 1})
    _store_pending(s.database_url, "9400")
    dispatch_once(s)
    (run,) = _runs(deployment_id, "9400")  # no worker: it stays scheduled
    with psycopg.connect(s.database_url) as conn:
        conn.execute("UPDATE webhook_events SET dispatched_at = now() - interval '10 seconds'")
    passed = dispatch_once(s)
    assert passed.reconciled.cancelled_runs == [str(run.id)]
    assert _event(s.database_url, "9400")["status"] == "pending"
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.type.value in ("CANCELLED", "CANCELLING")  # type: ignore[union-attr]


def test_a_vanished_run_is_requeued(settings: Settings, deployment_id: Any) -> None:
    _store_pending(settings.database_url, "9500")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "UPDATE webhook_events SET status = 'dispatched', flow_run_id = %s,"
            " dispatched_at = now() - interval '5 minutes'",
            (uuid.uuid4(),),
        )
    assert dispatch_once(settings).reconciled.requeued == ["9500"]
    assert "vanished" in _event(settings.database_url, "9500")["last_error"]


def test_a_run_that_finished_without_reporting_is_settled(
    settings: Settings, deployment_id: Any
) -> None:
    """Postgres was away when the run ended: the reconciler reads the end from Prefect."""
    _store_pending(settings.database_url, "9600", "9601")
    dispatch_once(settings)
    (run,) = _runs(deployment_id, "9600")
    with psycopg.connect(settings.database_url) as conn:  # 9600 has its four sessions
        for dim in ("product_knowledge", "discovery", "objections", "engagement"):
            conn.execute(
                "INSERT INTO coaching_sessions (call_id, dimension, model, cache_key,"
                " transcript_hash, rubric_version, status, overall_score, result)"
                " VALUES ('9600', %s, 'm', 'k', 'h', 'v', 'completed', 3, '{}')",
                (dim,),
            )
    _set_state(run.id, Completed())
    passed = dispatch_once(settings)
    assert passed.reconciled.completed == ["9600"]
    assert passed.reconciled.requeued == ["9601"]  # no sessions: analysed again, not counted
    assert _event(settings.database_url, "9600")["status"] == "completed"
    assert _event(settings.database_url, "9601")["failures"] == 0


def test_a_renewal_or_skipped_call_whose_run_did_not_report_is_settled_not_run_again(
    settings: Settings, deployment_id: Any
) -> None:
    """`analysed` is the applicability rules' own: a renewal call needs its three dimensions
    (rubrics/applicability.yaml), a call a skip rule matched needs none."""
    _store_pending(settings.database_url, "9650", "9651", "9652")
    dispatch_once(settings)
    (run,) = _runs(deployment_id, "9650")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO calls (id, title, call_type, skipped_reason) VALUES"
            " ('9650', 'Acme renewal', 'renewal', NULL),"
            " ('9651', 'Team stand-up', 'sales', 'not a customer conversation (title)'),"
            " ('9652', 'Acme renewal too', 'renewal', NULL)"
        )
        for call_id, dims in (
            ("9650", ("product_knowledge", "objections", "engagement")),
            ("9652", ("product_knowledge", "objections")),  # one of its three missing
        ):
            for dim in dims:
                conn.execute(
                    "INSERT INTO coaching_sessions (call_id, dimension, model, cache_key,"
                    " transcript_hash, rubric_version, status, overall_score, result)"
                    " VALUES (%s, %s, 'm', 'k', 'h', 'v', 'completed', 3, '{}')",
                    (call_id, dim),
                )
    _set_state(run.id, Completed())
    passed = dispatch_once(settings)
    assert sorted(passed.reconciled.completed) == ["9650", "9651"]
    assert passed.reconciled.requeued == ["9652"]
    _make_due(settings.database_url)
    again = dispatch_once(settings).dispatched
    assert again.started == ["9652"]  # only the call still missing a dimension runs again
    assert [_event(settings.database_url, c)["status"] for c in ("9650", "9651")] == [
        "completed",
        "completed",
    ]
    assert len(_runs(deployment_id, "9650")) == len(_runs(deployment_id, "9651")) == 1


def test_repeated_failures_park_the_call_and_alert_once(
    settings: Settings, deployment_id: Any, caplog: pytest.LogCaptureFixture
) -> None:
    s = load_settings(**{**settings.model_dump(), "analysis_max_attempts": 2})
    _store_pending(s.database_url, "9700")
    with caplog.at_level(logging.ERROR, logger="sales_coach.alerts"):
        for _ in range(2):
            _make_due(s.database_url)
            (run_id,) = dispatch_once(s).dispatched.runs
            _set_state(run_id, Failed(message="InvalidAnalysis"))
            passed = dispatch_once(s)
        dispatch_once(s)  # a later pass does not alert again
    assert len(_runs(deployment_id, "9700")) == 2
    assert passed.reconciled.parked == ["9700"] and passed.parked[0]["call_id"] == "9700"
    assert _event(s.database_url, "9700")["status"] == "needs_attention"
    assert caplog.text.count("call 9700") == 1


def test_inline_dispatch_starts_the_run_at_once_and_the_dispatcher_leaves_it(
    settings: Settings, deployment_id: Any, signer: Any
) -> None:
    import httpx

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
    runs = _runs(deployment_id, "7001005")
    assert len(runs) == 1  # started inline, before any dispatcher pass
    event = _event(s.database_url, "7001005")
    assert event["status"] == "dispatched" and str(event["flow_run_id"]) == str(runs[0].id)
    dispatch_once(s)
    assert [x.id for x in _runs(deployment_id, "7001005")] == [runs[0].id]


def test_a_backlog_waits_in_the_outbox_not_in_prefect(
    settings: Settings, deployment_id: Any
) -> None:
    s = load_settings(**{**settings.model_dump(), "max_calls_in_flight": 3, "calls_per_run": 2})
    _store_pending(s.database_url, *[f"98{i:02d}" for i in range(7)])
    first = dispatch_once(s).dispatched
    assert len(first.started) == 3 and len(first.runs) == 2  # runs of 2 and 1 call
    assert dispatch_once(s).dispatched.started == []  # full: the rest wait
    with psycopg.connect(s.database_url) as conn:
        conn.execute(
            "UPDATE webhook_events SET status = 'completed' WHERE call_id = %s",
            (first.started[0],),
        )
    assert len(dispatch_once(s).dispatched.started) == 1
    statuses = [v[0] for v in _events(s.database_url).values()]
    assert statuses.count("pending") == 3 and statuses.count("dispatched") == 3
