"""Calls per hour through webhook -> dispatcher -> process worker at a given Claude latency.

The same real stack as bench/chaos.py (Prefect server, process workers, dispatcher loop,
webhook), with the Claude stand-in answering every response in `--response-s` seconds (2 s to
begin, the rest streaming) and no faults. It delivers `--calls` calls, waits until all are
analysed, and prints the rate over the whole run (ramp-up and drain included) and in steady
state (Claude responses per hour over the middle 80% of them, divided by four), beside the
bound the configured Claude concurrency sets:

    bound = CLAUDE_CONCURRENCY x 3600 / (4 requests x response seconds)

and names the limit that binds: the Claude slots when the stand-in saw CLAUDE_CONCURRENCY
requests at once and the steady rate is within 15% of that bound, the pipeline otherwise.

With the shipped scoring cascade (K samples, escalations) a call pays for more than four
responses, so the bound and the steady rate use the measured responses per call:

    bound = CLAUDE_CONCURRENCY x 3600 / (responses per call x response seconds)

It also prints the P95 time from a call's delivery (the webhook's `received_at`) to its last
dimension saved (published or held), the figure the design monitors (under 60 s a call).
`--single` runs the same with one sample of CLAUDE_MODEL (SCORING_CASCADE empty), for the
figures before the gate; `--compare` runs both, one after the other. Delivered all at once
the P95 is mostly queueing behind the bound; `--pause-s 10` delivers below the bound, so it
is each call's own time through the pipeline.

    python bench/throughput.py [--calls 64] [--response-s 20] [--concurrency 16] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import psycopg

from local.pipeline import pipeline
from local.samples import distinct_calls
from local.stack import DATA_DIR


def stamps(db_url: str, sql: str) -> list[float]:
    with psycopg.connect(db_url) as conn:
        return [float(r[0]) for r in conn.execute(sql).fetchall()]  # type: ignore[arg-type]


def steady_rate(times: list[float]) -> float:
    """Events per hour between the 10th and the 90th percentile of their times."""
    lo, hi = len(times) // 10, (len(times) * 9) // 10
    return (hi - lo) / max(1e-9, (times[hi] - times[lo]) / 3600)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--response-s", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--calls-per-run", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=24, help="MAX_CALLS_IN_FLIGHT")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=900)
    parser.add_argument("--single", action="store_true", help="one sample of CLAUDE_MODEL")
    parser.add_argument(
        "--pause-s",
        type=float,
        default=0.05,
        help="between deliveries: below the bound (e.g. 10) the P95 is a call's own latency",
    )
    parser.add_argument("--compare", action="store_true", help="the cascade, then --single")
    args = parser.parse_args()
    runs = [False, True] if args.compare else [args.single]
    figures = [run(args, single) for single in runs]
    print(json.dumps(figures[0] if len(figures) == 1 else {"runs": figures}))


def run(args: argparse.Namespace, single: bool) -> dict[str, object]:
    calls = distinct_calls(args.calls, prefix="95")
    settings = {
        "CLAUDE_CONCURRENCY": str(args.concurrency),
        "CALLS_PER_RUN": str(args.calls_per_run),
        "MAX_CALLS_IN_FLIGHT": str(args.in_flight),
        "MONTHLY_BUDGET_USD": "10000",
        **({"SCORING_CASCADE": ""} if single else {}),
    }
    begin = min(2.0, args.response_s / 2)
    stand_in = {"latency_s": begin, "generation_s": args.response_s - begin}
    runs_needed = -(-args.in_flight // args.calls_per_run) + 1
    with pipeline(
        DATA_DIR / ("throughput-single" if single else "throughput"),
        calls,
        settings,
        workers=args.workers,
        pool_limit=runs_needed,
        stand_in=stand_in,
        dispatch_interval_s=2,
    ) as p:
        start = time.time()
        sender = threading.Thread(target=lambda: p.deliver(calls, repeats=0, pause_s=args.pause_s))
        sender.start()
        deadline = time.monotonic() + args.deadline
        while time.monotonic() < deadline:
            completed = p.events().get("completed", 0)
            if completed >= args.calls:
                break
            p.log(f"{completed} of {args.calls} calls analysed")
            time.sleep(15)
        sender.join(timeout=60)
        done = stamps(
            p.db_url,
            "SELECT extract(epoch FROM completed_at) FROM webhook_events"
            " WHERE status = 'completed' ORDER BY completed_at",
        )
        responses = stamps(p.db_url, "SELECT extract(epoch FROM at) FROM claude_usage ORDER BY at")
        waits = stamps(
            p.db_url,
            "SELECT extract(epoch FROM max(s.created_at) - min(w.received_at))"
            " FROM webhook_events w JOIN current_sessions s ON s.call_id = w.call_id"
            " WHERE w.status = 'completed' GROUP BY w.call_id ORDER BY 1",
        )
        held = stamps(
            p.db_url,
            "SELECT count(*) FILTER (WHERE state = 'needs_review')::float / count(*)"
            " FROM current_sessions",
        )
        in_flight = p.stand_in.max_in_flight if p.stand_in is not None else None
    total_h = (done[-1] - start) / 3600
    per_call = len(responses) / max(1, len(done))
    steady = steady_rate(responses) / per_call
    bound = args.concurrency * 3600 / (per_call * args.response_s)
    p95 = waits[min(len(waits) - 1, int(0.95 * len(waits)))] if waits else None
    binds = (
        "claude_concurrency"
        if in_flight == args.concurrency and steady >= 0.85 * bound
        else "pipeline (dispatch, workers, CPU)"
    )
    config = "single sample (SCORING_CASCADE empty)" if single else "shipped cascade"
    print(
        f"[{config}] {len(done)} calls in {total_h * 3600:.0f} s at {args.response_s:.0f} s per"
        f" response, {per_call:.1f} responses a call:"
        f" {len(done) / total_h:.0f} calls/hour overall (ramp-up and drain included),"
        f" {steady:.0f} calls/hour steady (middle 80%);"
        f" bound by CLAUDE_CONCURRENCY={args.concurrency}: {bound:.0f} calls/hour;"
        f" most requests at once: {in_flight}; limit that binds: {binds};"
        f" P95 delivery to last score {p95 if p95 is None else round(p95)} s;"
        f" held for review {held[0] if held else 0:.0%}"
    )
    return {
        "config": "single" if single else "cascade",
        "calls": len(done),
        "responses_per_call": round(per_call, 2),
        "calls_per_hour": round(len(done) / total_h),
        "steady_calls_per_hour": round(steady),
        "concurrency_bound_per_hour": round(bound),
        "max_in_flight": in_flight,
        "binds": binds,
        "p95_delivery_to_score_s": round(p95, 1) if p95 is not None else None,
        "held_share": round(held[0], 3) if held else None,
    }


if __name__ == "__main__":
    main()
