"""End to end on a real Prefect server: webhook -> outbox -> dispatcher -> deployment run on a
process worker -> four sessions in Postgres. Uses the repository's prefect.yaml as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from common.config import ROOT, Settings, load_settings
from flows.dispatcher import dispatch_once
from functions.webhook import create_app
from local.anthropic_server import StandInState
from local.samples import sample_calls, webhook_payload
from local.serve import free_port, serve
from local.signing import GongSigner
from tests.conftest import WEBHOOK_URL, app_env

BIN = Path(sys.executable).parent


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait(
                lambda: httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200,
                90,
                "prefect server",
            )
            yield env["PREFECT_API_URL"], env
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_webhook_triggers_the_deployment_on_a_process_worker(
    settings: Settings,
    claude_stand_in: tuple[StandInState, str],
    signer: GongSigner,
    prefect_server: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    api_url, prefect_env = prefect_server
    env = {
        **prefect_env,
        **app_env(settings, claude_stand_in[1]),
        "SALES_COACH_HOME": str(ROOT),
        "XDG_RUNTIME_DIR": "/tmp",
    }
    prefect = str(BIN / "prefect")
    subprocess.run(
        [prefect, "work-pool", "create", "local", "--type", "process"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    deployed = subprocess.run(
        [
            prefect,
            "--no-prompt",
            "deploy",
            "--prefect-file",
            "prefect.yaml",
            "--name",
            "analyze-calls-local",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with (tmp_path / "worker.log").open("w") as worker_log:
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "local"],
            env=env,
            cwd=ROOT,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _run_through_webhook(settings, signer, api_url)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a loaded machine: it is stopped either way
                worker.kill()
                worker.wait(timeout=30)


def _run_through_webhook(settings: Settings, signer: GongSigner, api_url: str) -> None:
    """Deliver a signed webhook, dispatch it, and wait for the worker's run to finish."""
    s = load_settings(
        **{**settings.model_dump(), "analyze_deployment": "analyze-calls/analyze-calls-local"}
    )
    server = serve(create_app(s))
    try:
        body = json.dumps(webhook_payload(sample_calls()[3]["call"])).encode()
        r = httpx.post(
            f"{server.url}/webhooks/gong",
            content=body,
            headers={"Authorization": signer.jwt(body, WEBHOOK_URL)},
        )
        assert r.json()["status"] == "stored"
    finally:
        server.stop()
    with temporary_settings({PREFECT_API_URL: api_url}):
        result = dispatch_once(s).dispatched
        assert result.started == ["7001004"]

        def sessions_done() -> bool:
            with psycopg.connect(s.database_url) as conn:
                n = conn.execute(
                    "SELECT count(*) FROM coaching_sessions WHERE call_id = '7001004'"
                    " AND status = 'completed'"
                ).fetchone()[0]  # type: ignore[index]
            return bool(n == 3)  # a renewal check-in: its call type has no discovery

        _wait(sessions_done, 180, "the worker to run analyze-call")
        with psycopg.connect(s.database_url) as conn:
            run_id = conn.execute("SELECT flow_run_id FROM webhook_events").fetchone()[0]  # type: ignore[index]
        with get_client(sync_client=True) as client:
            _wait(
                lambda: client.read_flow_run(run_id).state.is_completed(),
                60,
                "the run to complete",
            )
            run = client.read_flow_run(run_id)
        assert run.parameters == {"call_ids": ["7001004"]}
        with psycopg.connect(s.database_url) as conn:  # the run reported the call's end
            status = conn.execute("SELECT status FROM webhook_events").fetchone()[0]  # type: ignore[index]
        assert status == "completed"
