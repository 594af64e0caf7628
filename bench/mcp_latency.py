"""MCP read-tool latency on a year of data for 50 reps (~5,000 calls, ~20,000 sessions).

    python bench/mcp_latency.py [--reps 50] [--weeks 52] [--calls-per-week 2] [--rounds 40]

Seeds embedded Postgres (or DATABASE_URL), then calls each read tool through fastmcp's
in-memory Client as a manager and prints P50/P95 per tool. Target: P95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import psycopg
from fastmcp import Client
from psycopg.rows import dict_row

from common.config import load_settings
from common.db import apply_schema
from functions.mcp_server import create_server
from local.seed import seed
from local.stack import DATA_DIR, create_database, start_postgres


async def measure(client: Client[Any], tool: str, args_for: Any, rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        await client.call_tool(tool, args_for(i))
        times.append((time.perf_counter() - start) * 1000)
    return times


async def run(db_url: str, rounds: int, reps: int, weeks: int) -> None:
    s = load_settings(database_url=db_url)
    tools = {
        "get_call_coaching": lambda i: {
            "call_id": f"c-u-r{(i % (reps // 5)) * 5:03d}-{i % weeks:02d}-0"
        },
        "search_calls": lambda i: {"page_size": 25, "page": 1 + i % 3},
        "search_calls(filtered)": lambda i: {
            "dimension": "discovery",
            "max_score": 2.5,
            "text": "negotiation",
        },
        "get_rep_performance": lambda i: {"rep": f"u-r{(i % (reps // 5)) * 5:03d}", "weeks": 8},
        "team_overview": lambda i: {},
        "compare_reps": lambda i: {
            "reps": ["u-r000", "u-r005", "u-r010"],
            "dimension": "objections",
        },
        "cost_report": lambda i: {"period": "month"},
    }
    async with Client(create_server(s, stdio_user="u-m0")) as client:
        print(f"{'tool':<26}{'P50 ms':>9}{'P95 ms':>9}")
        for name, args_for in tools.items():
            tool = name.split("(")[0]
            await measure(client, tool, args_for, 3)  # warm-up
            ms = sorted(await measure(client, tool, args_for, rounds))
            print(f"{name:<26}{statistics.median(ms):>9.1f}{ms[int(len(ms) * 0.95) - 1]:>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--calls-per-week", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    db_url = os.environ.get("DATABASE_URL") or create_database(
        start_postgres(DATA_DIR / "postgres"), "bench_mcp"
    )
    apply_schema(db_url)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        if conn.execute("SELECT count(*) AS n FROM calls").fetchone()["n"] == 0:  # type: ignore[index]
            t = time.perf_counter()
            seed(
                conn,
                reps=args.reps,
                managers=5,
                weeks=args.weeks,
                calls_per_week=args.calls_per_week,
                now=datetime.now(UTC),
            )
            conn.commit()
            conn.execute("ANALYZE")
            n = conn.execute(
                "SELECT (SELECT count(*) FROM calls) AS calls,"
                " (SELECT count(*) FROM coaching_sessions) AS sessions"
            ).fetchone()
            print(
                f"seeded {n['calls']:,} calls and {n['sessions']:,} sessions in {time.perf_counter() - t:.1f}s"
            )  # type: ignore[index]
    asyncio.run(run(db_url, args.rounds, args.reps, args.weeks))


if __name__ == "__main__":
    main()
