"""A real Prefect stack on one machine: `prefect server start`, a process work pool, the
repository's `prefect.yaml` deployments and process workers, each a subprocess.

Used by `bench/chaos.py` and `bench/throughput.py`. Workers start in their own process group,
so `kill_worker()` takes the flow runs they are executing down with them, as when a machine
dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from common.config import ROOT
from local.serve import free_port

BIN = Path(sys.executable).parent


@dataclass
class PrefectStack:
    api_url: str
    env: dict[str, str]
    logs: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done

    def deploy(self, *names: str, pool: str = "local", pool_limit: int | None = None) -> None:
        self.cli("work-pool", "create", pool, "--type", "process", "--overwrite")
        if pool_limit is not None:
            self.cli("work-pool", "set-concurrency-limit", pool, str(pool_limit))
        args = [a for n in names for a in ("--name", n)]
        self.cli("deploy", "--prefect-file", "prefect.yaml", *args)

    def start_worker(self, name: str, pool: str = "local") -> None:
        log = (self.logs / f"worker-{name}.log").open("ab")
        self._files.append(log)
        self.workers[name] = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", name],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and every flow run it started (its process group)."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.workers):
            proc = self.workers.pop(name)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for f in self._files:
            f.close()


@contextmanager
def prefect_stack(home: Path, app_env: dict[str, str]) -> Iterator[PrefectStack]:
    """Start a Prefect server under `home`; the environment carries the app's settings."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        **app_env,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "SALES_COACH_HOME": str(ROOT),
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
    }
    log = (home / "server.log").open("ab")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = PrefectStack(api_url, env, home)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield stack
    finally:
        stack.stop()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
