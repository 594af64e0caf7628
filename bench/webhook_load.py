"""Webhook load: N signed deliveries at a target rate and concurrency against uvicorn + Postgres.

    python bench/webhook_load.py [--requests 4000] [--rate 200] [--concurrency 50] [--duplicates 0.1]

Starts embedded Postgres (or uses DATABASE_URL), runs the webhook function in its own uvicorn
process, pre-signs the deliveries (RS256 JWTs, some of them repeated deliveries of the same
call), sends them open-loop at the target rate, and prints P50/P99 latency, requests/s and rows
stored vs unique deliveries sent. Target on a 2-core machine: P99 <= 20 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.db import apply_schema
from local.samples import sample_calls, webhook_payload
from local.serve import free_port
from local.signing import GongSigner
from local.stack import DATA_DIR, create_database, start_postgres


def deliveries(
    n: int, duplicates: float, signer: GongSigner, url: str
) -> tuple[list[tuple[bytes, str]], int]:
    base = sample_calls()[0]["call"]
    rng = random.Random(1)
    out, ids = [], []
    for i in range(n):
        if ids and rng.random() < duplicates:
            call_id = rng.choice(ids)
        else:
            call_id = f"9{i:08d}"
            ids.append(call_id)
        call = {**base, "metaData": {**base["metaData"], "id": call_id}}
        body = json.dumps(webhook_payload(call)).encode()
        out.append((body, signer.jwt(body, url, ttl_s=3600)))
    return out, len(ids)


async def send_all(
    url: str, items: list[tuple[bytes, str]], rate: float, concurrency: int
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one(i: int, body: bytes, token: str, t0: float) -> None:
            nonlocal errors
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with sem:
                start = time.perf_counter()
                r = await client.post(
                    url, content=body, headers={"Authorization": f"Bearer {token}"}
                )
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, b, t, t0) for i, (b, t) in enumerate(items)))
        elapsed = time.perf_counter() - t0
    return latencies, errors, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--duplicates", type=float, default=0.1)
    args = ap.parse_args()

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    db_url = os.environ.get("DATABASE_URL") or create_database(
        start_postgres(DATA_DIR / "postgres"), "bench_webhook"
    )
    apply_schema(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute("TRUNCATE webhook_events")
    signer, port = GongSigner(), free_port()
    url = f"http://127.0.0.1:{port}/webhooks/gong"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "GONG_WEBHOOK_PUBLIC_KEYS": signer.public_key_b64_der,
        "GONG_WEBHOOK_URL": url,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "functions.webhook:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        items, unique = deliveries(args.requests, args.duplicates, signer, url)
        asyncio.run(
            send_all(url, items[:50], args.rate, args.concurrency)
        )  # warm-up (stored, counted)
        latencies, errors, elapsed = asyncio.run(send_all(url, items, args.rate, args.concurrency))
    finally:
        server.terminate()
        server.wait()
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0]  # type: ignore[index]
    ms = sorted(x * 1000 for x in latencies)
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(
        f"requests {len(ms)} at target {args.rate:.0f}/s, concurrency {args.concurrency}, errors {errors}"
    )
    print(f"latency P50 {p50:.1f} ms  P99 {p99:.1f} ms  max {ms[-1]:.1f} ms")
    print(f"throughput {len(ms) / elapsed:.0f} requests/s")
    print(
        f"rows stored {stored} vs unique deliveries sent {unique}: {'OK' if stored == unique else 'MISMATCH'}"
    )


if __name__ == "__main__":
    main()
