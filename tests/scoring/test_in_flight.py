"""Requests in flight when the analysis process dies or is stopped: accounted, or drained.

A real worker process runs the `analyze-calls` flow against the Anthropic stand-in, which holds
its responses (`generation_s`) so that requests are in flight when the process gets SIGKILL or
SIGTERM. The stand-in's own count of served responses is the outside truth the ledger is held to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from prefect.settings import PREFECT_API_URL

from common.config import ROOT, Settings
from common.scoring.ledger import Journal, Ledger
from local.anthropic_server import StandInState
from tests.conftest import app_env

NEGOTIATION, DISCOVERY_CALL = "7001003", "7001001"

WORKER = """
import sys
from flows.analyze_call import analyze_calls
analyze_calls(sys.argv[1:])
"""

RECOVERY = """
import os, sys
from pathlib import Path
from common.scoring.ledger import Journal, Ledger
db = os.environ["DATABASE_URL"]
print(Ledger(db, Journal.for_database(Path(os.environ["JOURNAL_DIR"]), db)).flush())
"""


def worker_env(settings: Settings, claude_url: str, journal: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **app_env(settings, claude_url),
        "JOURNAL_DIR": str(journal),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **extra,
    }


def start_worker(env: dict[str, str], log: Path, *call_ids: str) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, *call_ids],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_served(
    claude: StandInState, n: int, worker: subprocess.Popen[bytes], log: Path
) -> None:
    """Until the stand-in has answered `n` requests (it holds each response meanwhile)."""
    deadline = time.monotonic() + 180
    while len(claude.responses) < n:
        assert worker.poll() is None, f"the worker ended early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"never {n} in flight:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


def usage(db_url: str) -> list[tuple[str, bool, str]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT dimension, estimated, intent_id FROM claude_usage ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def paid_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM claude_usage").fetchone()
    return int(row[0]) if row else 0


def test_a_killed_worker_s_requests_in_flight_are_recorded_once_as_estimates(
    settings: Settings,
    claude_stand_in: tuple[StandInState, str],
    claude: StandInState,
    prefect_api: None,
    tmp_path: Path,
) -> None:
    """SIGKILL with four requests in flight: recovery records four estimates, once, whether
    it runs twice or in two processes at once; the ledger then counts what the server served."""
    claude.generation_s = 120  # every response is held: in flight until the kill
    journal = tmp_path / "journal"
    env = worker_env(settings, claude_stand_in[1], journal)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, NEGOTIATION)
    try:
        wait_until_served(claude, 4, worker, log)
    finally:
        worker.kill()
        worker.wait(timeout=60)
    served = len(claude.responses)
    assert paid_count(settings.database_url) == 0  # nothing was recorded before the kill

    recoveries = [
        subprocess.Popen(
            [sys.executable, "-c", RECOVERY], cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    flushed = [int(p.communicate(timeout=120)[0].decode().split()[-1]) for p in recoveries]
    assert sum(flushed) == served == 4
    assert paid_count(settings.database_url) == served  # the server's count and ours agree
    rows = usage(settings.database_url)
    assert all(estimated for _, estimated, _ in rows)
    assert sorted(d for d, _, _ in rows) == sorted(
        ["product_knowledge", "discovery", "objections", "engagement"]
    )
    assert len({intent for _, _, intent in rows}) == 4
    again = Ledger(settings.database_url, Journal.for_database(journal, settings.database_url))
    assert again.flush() == 0 and paid_count(settings.database_url) == served
    assert again.journal.intents() == []


def test_a_sigterm_d_worker_finishes_and_records_its_requests_in_flight(
    settings: Settings,
    claude_stand_in: tuple[StandInState, str],
    claude: StandInState,
    prefect_api: None,
    tmp_path: Path,
) -> None:
    """SIGTERM with four requests in flight (four Claude slots, eight wanted): the four finish
    and are recorded, no new request is sent, and the process exits with nothing in flight."""
    claude.generation_s = 4
    journal = tmp_path / "journal"
    env = worker_env(
        settings, claude_stand_in[1], journal, CLAUDE_CONCURRENCY="4", ANALYSIS_DRAIN_S="60"
    )
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, NEGOTIATION, DISCOVERY_CALL)
    try:
        wait_until_served(claude, 4, worker, log)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)  # bounded by ANALYSIS_DRAIN_S
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=60)
    served = len(claude.responses)
    assert served == 4, "a request was sent after SIGTERM"
    assert paid_count(settings.database_url) == served, log.read_text()[-3000:]
    rows = usage(settings.database_url)  # recorded by the worker itself, before it exited
    assert len(rows) == served and not any(estimated for _, estimated, _ in rows), (
        json.dumps(rows) + log.read_text()[-3000:]
    )
    ledger = Ledger(settings.database_url, Journal.for_database(journal, settings.database_url))
    assert ledger.journal.intents() == [] and ledger.journal.entries() == []
    assert ledger.flush() == 0 and paid_count(settings.database_url) == served
