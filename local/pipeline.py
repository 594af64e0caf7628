"""The whole pipeline as separate processes on one machine, for the benchmarks.

Embedded Postgres, S3 (moto server), the Gong stand-in (3 requests/s, as Gong), a Claude
stand-in (or any Anthropic-compatible server from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY),
a `prefect server` with process workers running the `analyze-calls-local` deployment from
prefect.yaml, the dispatcher loop and the webhook under uvicorn.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from moto.server import ThreadedMotoServer

from common.config import ROOT
from common.db import apply_schema
from local import outcome
from local.gong_server import GongState
from local.gong_server import create_app as gong_app
from local.prefect_stack import PrefectStack, prefect_stack
from local.samples import webhook_payload
from local.serve import free_port, serve
from local.signing import GongSigner
from local.stack import GONG_KEY, GONG_SECRET, PostgresControl, create_database, start_postgres

BIN = Path(sys.executable).parent
DEPLOYMENT = "analyze-calls/analyze-calls-local"


@dataclass
class Pipeline:
    db_url: str
    postgres: PostgresControl
    prefect: PrefectStack
    signer: GongSigner
    webhook_url: str
    claude_url: str
    stand_in: Any  # local.anthropic_server.StandInState, or None against a real server
    started: float

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def deliver(
        self, calls: list[dict[str, Any]], repeats: float = 0.1, pause_s: float = 0.1
    ) -> dict[str, int]:
        return deliver(self.signer, self.webhook_url, calls, repeats, pause_s)

    def events(self) -> dict[str, int]:
        return outcome.events(self.db_url)


def deliver(
    signer: GongSigner,
    url: str,
    calls: list[dict[str, Any]],
    repeats: float = 0.1,
    pause_s: float = 0.1,
) -> dict[str, int]:
    """Post each call's signed webhook to `url` (a share twice) like Gong: 5xx and timeouts
    retried every second for two minutes."""
    ok = retried = 0
    order = calls + random.Random(1).sample(calls, int(len(calls) * repeats))
    with httpx.Client(timeout=10) as client:
        for sample in order:
            body = json.dumps(webhook_payload(sample["call"])).encode()
            for _ in range(120):
                auth = {"Authorization": signer.jwt(body, url)}
                try:
                    status = client.post(url, content=body, headers=auth).status_code
                except httpx.HTTPError:
                    status = 0
                if status == 200:
                    ok += 1
                    break
                retried += 1
                time.sleep(1)
            time.sleep(pause_s)
    return {"delivered": ok, "retried": retried}


@contextmanager
def pipeline(
    work: Path,
    calls: list[dict[str, Any]],
    settings: dict[str, str],
    *,
    workers: int = 2,
    pool_limit: int = 4,
    dispatch_interval_s: float = 3.0,
    stand_in: dict[str, Any] | None = None,
) -> Iterator[Pipeline]:
    started = time.monotonic()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    shutil.rmtree(work, ignore_errors=True)
    with ExitStack() as stack:
        admin = start_postgres(work / "postgres")
        db_url = create_database(admin, "pipeline")
        apply_schema(db_url)
        s3_endpoint = start_s3(stack)
        gong_url = start_gong(stack, calls)
        claude_url, key, state = start_claude(stack, stand_in)
        signer = GongSigner()
        webhook_port = free_port()
        public_url = f"http://127.0.0.1:{webhook_port}/webhooks/gong"
        env = {
            "DATABASE_URL": db_url,
            "S3_ENDPOINT_URL": s3_endpoint,
            "S3_BUCKET": "sales-coach-bench",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "GONG_BASE_URL": gong_url,
            "GONG_ACCESS_KEY": GONG_KEY,
            "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
            "ANTHROPIC_BASE_URL": claude_url,
            "ANTHROPIC_API_KEY": key,
            "GONG_WEBHOOK_PUBLIC_KEYS": signer.public_key_b64_der,
            "GONG_WEBHOOK_URL": public_url,
            "ANALYZE_DEPLOYMENT": DEPLOYMENT,
            "JOURNAL_DIR": str(work / "journal"),
            "PYTHONPATH": str(ROOT),
            **settings,
        }
        prefect = stack.enter_context(prefect_stack(work / "prefect", env))
        prefect.deploy("analyze-calls-local", pool_limit=pool_limit)
        for i in range(workers):
            prefect.start_worker(f"worker-{i + 1}")
        _process(
            stack,
            work / "webhook.log",
            prefect.env,
            [
                str(BIN / "uvicorn"),
                "functions.webhook:app",
                "--port",
                str(webhook_port),
                "--log-level",
                "warning",
            ],
        )
        _process(
            stack,
            work / "dispatcher.log",
            prefect.env,
            [
                str(BIN / "python"),
                "-m",
                "functions.cli",
                "dispatch",
                "--loop",
                "--interval",
                str(dispatch_interval_s),
            ],
        )
        wait_healthy(f"http://127.0.0.1:{webhook_port}/healthz")
        p = Pipeline(
            db_url,
            PostgresControl(work / "postgres", admin),
            prefect,
            signer,
            public_url,
            claude_url,
            state,
            started,
        )
        p.log(f"pipeline up: prefect server, {workers} process workers, claude at {claude_url}")
        yield p


def _process(stack: ExitStack, log_path: Path, env: dict[str, str], args: list[str]) -> None:
    log = stack.enter_context(log_path.open("ab"))
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)


def start_s3(stack: ExitStack) -> str:
    """moto's S3 server on loopback until the stack closes; its endpoint URL."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    host, port = moto.get_host_and_port()
    return f"http://{host}:{port}"


def start_gong(stack: ExitStack, calls: list[dict[str, Any]]) -> str:
    """The Gong stand-in holding `calls`, at Gong's 3 requests a second; its URL."""
    gong_state = GongState(GONG_KEY, GONG_SECRET, rate_per_s=3)
    for sample in calls:
        gong_state.add(sample["call"], sample["transcript"])
    gong = serve(gong_app(gong_state))
    stack.callback(gong.stop)
    return gong.url


def start_claude(stack: ExitStack, stand_in: dict[str, Any] | None) -> tuple[str, str, Any]:
    """(URL, key, stand-in state): the Anthropic-compatible server in ANTHROPIC_BASE_URL /
    ANTHROPIC_API_KEY when set (state None), else the local stand-in made with `stand_in`."""
    url, key = os.environ.get("ANTHROPIC_BASE_URL"), os.environ.get("ANTHROPIC_API_KEY", "")
    if url:
        return url, key, None
    from local.anthropic_server import StandInState
    from local.anthropic_server import create_app as claude_app

    state = StandInState(**(stand_in or {}))
    claude = serve(claude_app(state))
    stack.callback(claude.stop)
    return claude.url, "sk-ant-local-stand-in", state


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    """Until `url` answers 200, or RuntimeError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")
