"""Chaos run of the whole pipeline: every call analysed once, no response paid twice.

The real stack on this machine: embedded Postgres, S3 (moto server), the Gong stand-in (3
requests/s, as Gong), a `prefect server`, two process workers on one pool running the
`analyze-calls-local` deployment from prefect.yaml, the dispatcher loop, and the webhook under
uvicorn. It posts signed deliveries (with repeats) and, while the calls are being analysed:
stops Postgres for a few seconds and starts it again, kills one worker with the flow runs it
is executing (and starts another, as a supervisor would), and asks for analyses of calls that
are already running (as Claude Desktop's analyze_call does). Claude is the local stand-in with
injected 429/529s, or any Anthropic-compatible server given by ANTHROPIC_BASE_URL and
ANTHROPIC_API_KEY. Schedules and backoffs are shortened through settings.

It waits (with a deadline) until every call is completed or parked and no run is in flight,
then prints one JSON object as its last line:
calls, analysed (calls with every dimension of their call type, or skipped by a rule), parked,
paid_requests (rows in claude_usage, estimates included), killed_in_flight (requests in
flight when the worker was killed, recorded as estimates and asked again), paid_twice (call,
dimension, chunk and purpose answered and paid more than once), seconds; with the stand-in
also served (responses it billed) and served_unrecorded (0: every billed request is in the
ledger, as a response or as an estimate).

    python bench/chaos.py [--calls 60] [--deadline 480] [--fail-rate 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import psycopg

from local.outcome import events, results, settle
from local.pipeline import DEPLOYMENT, Pipeline, pipeline
from local.samples import distinct_calls
from local.stack import DATA_DIR


def shortened() -> dict[str, str]:
    """Settings that make minutes of production behaviour fit in a few minutes here."""
    return {
        "CALLS_PER_RUN": "6",
        "CLAUDE_CONCURRENCY": "8",
        "CLAUDE_MAX_RETRIES": "2",
        "CLAUDE_CLAIM_LEASE_S": "15",
        "CLAUDE_CLAIM_WAIT_S": "120",
        "ANALYSIS_RETRY_BASE_S": "5",
        "ANALYSIS_RETRY_MAX_S": "20",
        "ANALYSIS_RUN_DEADLINE_S": "100",
        "ANALYSIS_TASK_RETRIES": "2",
        "ANALYSIS_TASK_RETRY_DELAY_S": "3",
        "ANALYSIS_MAX_ATTEMPTS": "6",
        "DB_OUTAGE_WAIT_S": "60",
        "GONG_MAX_RETRY_AFTER_S": "10",
        "MONTHLY_BUDGET_USD": "1000",
    }


def duplicate_requests(p: Pipeline, n: int) -> int:
    """Start extra runs for calls that are being analysed, as Claude Desktop's tool does."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from common.intake.runs import start_analysis_run

    with psycopg.connect(p.db_url) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT call_id FROM webhook_events WHERE status = 'dispatched'"
                " ORDER BY random() LIMIT %s",
                (n,),
            ).fetchall()
        ]
    with temporary_settings({PREFECT_API_URL: p.prefect.api_url}):
        for call_id in ids:
            key = f"duplicate:{uuid.uuid4()}"
            for attempt in range(30):  # Prefect may still answer 503 after Postgres's restart
                try:
                    start_analysis_run(DEPLOYMENT, [call_id], key)  # idempotent on the key
                    break
                except (PrefectHTTPStatusError, httpx.HTTPError) as exc:
                    if attempt == 29:
                        raise
                    p.log(f"asking again in 2 s: {type(exc).__name__}")
                    time.sleep(2)
    p.log(f"asked again for {len(ids)} calls already being analysed")
    return len(ids)


def busy_worker(p: Pipeline) -> str:
    """A worker that is executing a flow run (has a child process), else any."""
    for name, proc in p.prefect.workers.items():
        found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if found.stdout.strip():
            return name
    return next(iter(p.prefect.workers))


def run_chaos(p: Pipeline, start: float, summary: dict[str, Any]) -> None:
    """The faults, in order, while deliveries arrive and the first runs are under way."""

    def at(seconds: float) -> None:
        time.sleep(max(0.0, start + seconds - time.monotonic()))

    at(12)
    p.log("stopping Postgres")
    p.postgres.stop()
    time.sleep(6)
    p.postgres.start()
    p.log("Postgres is back")
    at(40)
    summary["duplicate_requests"] = duplicate_requests(p, 5)
    at(50)
    victim = busy_worker(p)
    p.prefect.kill_worker(victim)
    p.log(f"killed {victim} and the flow runs it was executing")
    time.sleep(5)
    p.prefect.start_worker("worker-3")
    p.log("started worker-3 in its place")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--deadline", type=float, default=480, help="seconds to settle")
    parser.add_argument("--fail-rate", type=float, default=0.1, help="stand-in 429/529 share")
    args = parser.parse_args()
    calls = distinct_calls(args.calls, prefix="90")
    stand_in = {"fail_rate": args.fail_rate, "latency_s": 1.0, "generation_s": 2.0}
    summary: dict[str, Any] = {"calls": args.calls}
    with pipeline(DATA_DIR / "chaos", calls, shortened(), stand_in=stand_in) as p:
        start = time.monotonic()
        sender = threading.Thread(target=lambda: summary.update(p.deliver(calls, pause_s=0.3)))
        sender.start()
        run_chaos(p, start, summary)
        sender.join(timeout=300)
        p.log(f"delivered {summary.get('delivered')} webhooks, {summary.get('retried')} retried")
        settle(p.db_url, p.prefect.api_url, args.calls, start + args.deadline, p.log)
        summary.update(results(p.db_url))
        summary["events"] = events(p.db_url)
        summary["seconds"] = round(time.monotonic() - start, 1)
        if p.stand_in is not None:
            summary["served"] = len(p.stand_in.responses)
            summary["served_unrecorded"] = summary["served"] - summary["paid_requests"]
            summary["injected_errors"] = sum(p.stand_in.errors.values())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
