"""MCP tool latency on a year of data: in memory and over HTTP with a bearer token.

    python bench/mcp_latency.py [--reps 500] [--weeks 52] [--calls-per-week 2] [--samples 200]
                                [--explain]

Seeds embedded Postgres (or DATABASE_URL) with `--reps` reps in teams of 100 (500 reps: 52,000
calls, 208,000 sessions, a year of Claude usage and managers' scores), then calls every tool as
a manager of 100 reps, `--samples` times each, with varying arguments, and prints P50 and the
true 95th percentile (nearest rank) per tool, first through fastmcp's in-memory Client, then
over streamable HTTP against `python -m functions.mcp_server --http` in its own process.
`--explain` prints EXPLAIN ANALYZE of each tool's main query. Target: P95 <= 100 ms.

The seeded database is kept between runs (`bench_mcp_<reps>_<managers>_<weeks>_<calls>`; a year
at 5,000 reps takes about 15 minutes to seed here, committed and analysed step by step); `--fresh`
seeds it again.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # presigning needs keys, not a bucket
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

import httpx
import psycopg
from fastmcp import Client
from psycopg.rows import dict_row

from common import access
from common.config import load_settings
from common.db import apply_schema
from common.validity import refresh_reports
from functions.mcp_tools import create_server
from local.seed import seed
from local.serve import free_port
from local.stack import DATA_DIR, create_database, start_postgres

MANAGER = "u-m0"  # 100 reps when --reps 500
ADMIN = "u-admin"


def tools(reps: int, weeks: int, managers: int) -> dict[str, Callable[[int], dict[str, Any]]]:
    team = [f"u-r{r:03d}" for r in range(reps) if r % managers == 0]

    def call_id(i: int) -> str:
        return f"c-{team[i % len(team)]}-{(i * 7) % weeks:02d}-{i % 2}"

    return {
        "get_call_coaching": lambda i: {"call_id": call_id(i)},
        "get_call_coaching(full)": lambda i: {"call_id": call_id(i), "detail": "full"},
        "search_calls": lambda i: {"page_size": 25},
        "search_calls(filtered)": lambda i: {
            "dimension": ("discovery", "objections")[i % 2],
            "max_score": 2.5 + (i % 3) * 0.5,
            "text": ("negotiation", "discovery", "renewal")[i % 3],
        },
        "search_calls(text)": lambda i: {
            "text": ('"quantify the pain"', "agenda", "pricing")[i % 3]
        },
        "search_calls(rep)": lambda i: {"rep": team[i % len(team)], "from_date": "2026-01-01"},
        "get_rep_performance": lambda i: {"rep": team[i % len(team)], "weeks": 8 + i % 20},
        "team_overview": lambda i: {},
        "compare_reps": lambda i: {"reps": [team[(i + k) % len(team)] for k in range(5)]},
        "cost_report": lambda i: {"period": ("month", "week", "today")[i % 3]},
        "agreement_report": lambda i: {"dimension": (None, "discovery")[i % 2]},
        "analyze_call(cached)": lambda i: {"call_id": call_id(i)},
        "get_weekly_report": lambda i: {"rep": team[i % len(team)]} if i % 2 else {},
        "criteria_for_won_deals": lambda i: {"dimension": (None, "discovery")[i % 2]},
        "record_manager_score": lambda i: {
            "call_id": call_id(i + 1000),
            "dimension": "discovery",
            "score": 1 + i % 5,
            "reason": "bench",
        },
    }


async def measure(
    client: Client[Any],
    plan: dict[str, Callable[[int], dict[str, Any]]],
    samples: int,
    header: bool = True,
) -> None:
    if header:
        print(f"{'tool':<26}{'P50 ms':>9}{'P95 ms':>9}{'max ms':>9}")
    for name, args_for in plan.items():
        tool = name.split("(")[0]
        for i in range(5):  # warm-up
            await client.call_tool(tool, _clean(args_for(i)))
        ms = []
        for i in range(samples):
            start = time.perf_counter()
            await client.call_tool(tool, _clean(args_for(i)))
            ms.append((time.perf_counter() - start) * 1000)
        ms.sort()
        p95 = ms[math.ceil(0.95 * len(ms)) - 1]
        print(f"{name:<26}{statistics.median(ms):>9.1f}{p95:>9.1f}{ms[-1]:>9.1f}", flush=True)


def _clean(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v is not None}


def seed_year(db_url: str, reps: int, weeks: int, calls_per_week: int, managers: int) -> None:
    """A year of history, committed and analysed step by step: each bulk step's triggers
    (the read model, usage's rep, the AI's score beside a manager's, peer marks) plan their
    per-row lookups on the tables' real sizes, and no transaction grows past the lock table."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        if conn.execute("SELECT count(*) AS n FROM weekly_reports").fetchone()["n"]:  # type: ignore[index]
            return  # seeded: reports are the last step
        if conn.execute("SELECT count(*) AS n FROM calls").fetchone()["n"]:  # type: ignore[index]
            raise SystemExit("this database's seed stopped part-way: run again with --fresh")
        t = time.perf_counter()
        seed(
            conn,
            reps=reps,
            managers=managers,
            weeks=weeks,
            calls_per_week=calls_per_week,
            now=datetime.now(UTC),
        )
        _step(conn, t, "users, calls and sessions")
        conn.execute(  # a year of Claude usage: 5 requests a call
            "INSERT INTO claude_usage (at, model, call_id, dimension, input_tokens, output_tokens,"
            " cache_read_tokens, usd) SELECT s.created_at, s.model, s.call_id, s.dimension, 20000,"
            " 1000, 15000, 0.02 FROM coaching_sessions s"
        )
        _step(conn, t, "Claude usage")
        conn.execute(
            "INSERT INTO cache_lookups (at, call_id, dimension, cache_key, hit)"
            " SELECT created_at, call_id, dimension, cache_key, random() < 0.2 FROM coaching_sessions"
        )
        _step(conn, t, "cache look-ups")
        conn.execute(  # managers scored 3% of calls
            "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, score, source,"
            " source_ref, scored_at) SELECT s.call_id, s.rep_id, u.manager_id, s.dimension,"
            " greatest(1, least(5, round(s.overall_score + (random() - 0.5) * 2)))::int, 'csv',"
            " s.call_id || ':' || s.dimension, s.created_at FROM coaching_sessions s"
            " JOIN users u ON u.id = s.rep_id WHERE hashtext(s.call_id) % 33 = 0"
        )
        _step(conn, t, "manager scores")
        _closed_deals(conn)
        _step(conn, t, "deals")
        refresh_reports(conn, 100, datetime.now(UTC))  # what the daily deal refresh keeps
        _step(conn, t, "validity reports (the company's and each manager's)")
        _weekly_reports(conn)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        n = conn.execute(
            "SELECT (SELECT count(*) FROM calls) AS calls, (SELECT count(*) FROM coaching_sessions)"
            " AS sessions, (SELECT count(*) FROM coaching_sessions_default) AS in_default"
        ).fetchone()
        assert n is not None
        print(
            f"seeded {n['calls']:,} calls and {n['sessions']:,} sessions"
            f" ({n['in_default']:,} in the default partition) in {time.perf_counter() - t:.1f}s"
        )


def _step(conn: psycopg.Connection[Any], started: float, what: str) -> None:
    """Commit a bulk step and analyse what it wrote before the next one reads it."""
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    print(f"  seeded {what} ({time.perf_counter() - started:.0f}s)", flush=True)


def _closed_deals(conn: psycopg.Connection[Any]) -> None:
    """Each rep's calls in deals of four, one stage per call; those whose last call is over
    eight weeks old closed (40% won), a week after it."""
    conn.execute(
        """
        CREATE TEMP TABLE bench_deal_calls AS
        SELECT id, primary_user_id AS rep, started_at,
               (row_number() OVER (PARTITION BY primary_user_id ORDER BY started_at) - 1) AS n
        FROM calls
        """
    )
    conn.execute(
        """
        INSERT INTO deals (crm_system, opportunity_id, name, stage, outcome, close_date)
        SELECT 'Salesforce', 'bench-' || rep || '-' || k, 'Bench ' || rep || ' ' || k,
               CASE WHEN won THEN 'Closed Won' WHEN closed THEN 'Closed Lost' ELSE 'Qualification'
               END,
               CASE WHEN won THEN 'won' WHEN closed THEN 'lost' ELSE 'open' END,
               CASE WHEN closed THEN (last + interval '7 days')::date END
        FROM (SELECT rep, n / 4 AS k, max(started_at) AS last,
                     max(started_at) < now() - interval '8 weeks' AS closed,
                     max(started_at) < now() - interval '8 weeks' AND random() < 0.4 AS won
              FROM bench_deal_calls GROUP BY rep, n / 4) d
        """
    )
    conn.execute(
        """
        INSERT INTO call_deals (call_id, deal_id, stage_at_call)
        SELECT c.id, d.id,
               (ARRAY['Qualification', 'Needs Analysis', 'Proposal/Price Quote',
                      'Negotiation/Review'])[c.n % 4 + 1]
        FROM bench_deal_calls c
        JOIN deals d ON d.crm_system = 'Salesforce'
                    AND d.opportunity_id = 'bench-' || c.rep || '-' || c.n / 4
        """
    )
    conn.execute("DROP TABLE bench_deal_calls")


def _weekly_reports(conn: psycopg.Connection[Any]) -> None:
    """Last week's stored reports (rows only: the tool presigns a link, it never reads them)."""
    from psycopg.types.json import Jsonb

    from common.insights.week import previous_week

    week = previous_week(datetime.now(UTC), "UTC")
    team: dict[str, dict[str, Any]] = {}
    for r in conn.execute("SELECT id, name, manager_id FROM users WHERE role = 'rep'").fetchall():
        summary = {"calls": 2, "scores": {"discovery": 3.1}}
        team.setdefault(r["manager_id"], {})[r["id"]] = {"name": r["name"], **summary}
        conn.execute(
            "INSERT INTO weekly_reports (week_start, scope, subject_id, object_key, summary)"
            " VALUES (%s, 'rep', %s, %s, %s)",
            (week, r["id"], f"reports/weekly/{week}/rep-{r['id']}.html", Jsonb(summary)),
        )
    for manager, reps in team.items():
        conn.execute(
            "INSERT INTO weekly_reports (week_start, scope, subject_id, object_key, summary)"
            " VALUES (%s, 'team', %s, %s, %s)",
            (week, manager, f"reports/weekly/{week}/team-{manager}.html", Jsonb({"reps": reps})),
        )


def explain(db_url: str) -> None:
    """The main query of the heaviest tools, as the planner runs it."""
    from common.access.scope import load_caller, visible_reps
    from common.insights.calls import TOTAL_CAP

    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        scope = sorted(visible_reps(conn, load_caller(conn, MANAGER)) or [])
        queries = {
            "search_calls(filtered)": (
                "SELECT cs.*, u.name FROM call_scores cs LEFT JOIN users u ON u.id = cs.rep_id"
                " WHERE cs.rep_id = ANY(%s) AND cs.discovery <= 2.5 AND cs.search @@"
                " websearch_to_tsquery('english', 'negotiation')"
                " ORDER BY cs.started_at DESC, cs.call_id DESC LIMIT 26",
                (scope,),
            ),
            "search_calls(text)": (
                "SELECT count(*) FROM (SELECT 1 FROM call_scores cs WHERE cs.rep_id = ANY(%s)"
                " AND cs.search @@ websearch_to_tsquery('english', 'quantify the pain')"
                f" LIMIT {TOTAL_CAP + 1}) t",  # the tool counts to TOTAL_CAP
                (scope,),
            ),
            "search_calls(next page)": (
                "SELECT cs.* FROM call_scores cs WHERE cs.rep_id = ANY(%s)"
                " AND (cs.started_at, cs.call_id) < (now() - interval '20 weeks', 'z')"
                " ORDER BY cs.started_at DESC, cs.call_id DESC LIMIT 26",
                (scope,),
            ),
            "get_rep_performance": (
                "SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date, count(*),"
                " avg(discovery) FROM call_scores WHERE rep_id = 'u-r005'"
                " AND started_at >= now() - interval '8 weeks' GROUP BY 1",
                (),
            ),
            "team_overview": (
                "SELECT rep_id, count(*) FILTER (WHERE started_at >= now() - interval '1 week'),"
                " avg(discovery) FILTER (WHERE started_at >= now() - interval '1 week'),"
                " avg(discovery) FILTER (WHERE started_at < now() - interval '1 week')"
                " FROM call_scores WHERE rep_id = ANY(%s)"
                " AND started_at >= now() - interval '5 weeks' GROUP BY rep_id",
                (scope,),
            ),
            "agreement_report(ai_vs_manager)": (
                "SELECT dimension, criterion, ai, human, count(*) FROM (SELECT m.dimension,"
                " m.criterion, m.score AS human, floor(m.ai_score + 0.5)::int AS ai"
                " FROM manager_scores m WHERE NOT m.not_applicable AND m.ai_score IS NOT NULL"
                " AND m.scored_at >= now() - interval '13 weeks' AND m.rep_id = ANY(%s)) p"
                " GROUP BY 1, 2, 3, 4",
                (scope,),
            ),
            "get_call_coaching": (
                "SELECT * FROM coaching_sessions s WHERE s.call_id = %s AND s.status = 'completed'"
                " AND s.superseded_at IS NULL",
                ("c-u-r000-10-0",),
            ),
            "cost_report(team)": (
                "SELECT count(*), sum(usd) FROM claude_usage WHERE at >= date_trunc('month', now())"
                " AND rep_id = ANY(%s)",
                (scope,),
            ),
            "health(month's spend)": (
                "SELECT coalesce(sum(usd), 0) FROM claude_usage"
                " WHERE at >= date_trunc('month', now())",
                (),
            ),
        }
        for name, (sql, params) in queries.items():
            print(f"\n-- {name}")
            for row in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params).fetchall():  # type: ignore[arg-type]
                print(row["QUERY PLAN"])


def http_server(db_url: str, port: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(root), "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.mcp_server", "--http", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the HTTP MCP server did not start")


ADMIN_TOOLS = {  # answered for admins only: measured as the admin
    "health": lambda i: {},
    "access_log": lambda i: {"days": 30} if i % 2 else {"user": MANAGER},
}


async def run(db_url: str, args: argparse.Namespace) -> None:
    plan = tools(args.reps, args.weeks, args.managers)
    admin_plan: dict[str, Callable[[int], dict[str, Any]]] = dict(ADMIN_TOOLS)
    if args.only is not None:
        plan = {k: v for k, v in plan.items() if k.split("(")[0] in args.only}
        admin_plan = {k: v for k, v in admin_plan.items() if k in args.only}
    s = load_settings(database_url=db_url)
    print(f"\nin memory ({args.samples} samples per tool; as {MANAGER}, admin tools as {ADMIN})")
    async with Client(create_server(s, stdio_user=MANAGER)) as client:
        await measure(client, plan, args.samples)
    async with Client(create_server(s, stdio_user=ADMIN)) as client:
        await measure(client, admin_plan, args.samples, header=False)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        _, token = access.create_token(conn, MANAGER, "bench", days=1)
        _, admin_token = access.create_token(conn, ADMIN, "bench", days=1)
    port = free_port()
    proc = http_server(db_url, port)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        print(
            f"\nover HTTP with a bearer token, server in its own process ({args.samples} samples per tool)"
        )
        async with Client(url, auth=token) as client:
            await measure(client, plan, args.samples)
        async with Client(url, auth=admin_token) as client:
            await measure(client, admin_plan, args.samples, header=False)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_database(args: argparse.Namespace) -> str:
    """The embedded database seeded for these arguments: kept between runs (a year at 5,000
    reps takes minutes to seed), made afresh with `--fresh`."""
    admin = start_postgres(DATA_DIR / "postgres")
    name = f"bench_mcp_{args.reps}_{args.managers}_{args.weeks}_{args.calls_per_week}"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists and not args.fresh:
        return admin.replace("/postgres?", f"/{name}?")
    return create_database(admin, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--managers", type=int, default=5)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--calls-per-week", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="seed a new database even if one exists")
    ap.add_argument("--only", nargs="*", help="measure only these tools")
    args = ap.parse_args()
    db_url = os.environ.get("DATABASE_URL") or bench_database(args)
    apply_schema(db_url)
    seed_year(db_url, args.reps, args.weeks, args.calls_per_week, args.managers)
    if args.explain:
        explain(db_url)
    asyncio.run(run(db_url, args))


if __name__ == "__main__":
    main()
