"""Postgres connections opened per analysed call.

    python bench/connections.py [--calls N]   (default: every sample call)

Analyses the sample calls (embedded Postgres, moto S3, the Gong and Claude stand-ins) in one
`analyze-calls` run, as the dispatcher would start it, and reads how many sessions Postgres
established meanwhile (`pg_stat_database.sessions`, counted by the server itself, so nothing
in our code can miss one). A hosted Postgres with a connection cap (Neon's pooler, RDS) feels
this at 2,000 calls a day. Prints one JSON line: calls, connections, per_call, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import psycopg

from local.samples import sample_calls
from local.stack import DATA_DIR, local_stack


def sessions(uri: str) -> int:
    """Sessions established on the database so far (this query's own included)."""
    with psycopg.connect(uri) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=len(sample_calls()))
    args = ap.parse_args()
    with local_stack(DATA_DIR / "postgres", database="bench_connections") as stack:
        os.environ.update(stack.env())
        os.environ["JOURNAL_DIR"] = str(DATA_DIR / "journal-bench")
        from flows.analyze_call import analyze_calls

        call_ids = [c["call"]["metaData"]["id"] for c in sample_calls()][: args.calls]
        analyze_calls(call_ids[:1], dimensions=["engagement"])  # warm Prefect's own start-up
        before, started = sessions(stack.postgres_uri), time.monotonic()
        analyze_calls(call_ids, force=True, override_budget=True)
        opened = sessions(stack.postgres_uri) - before - 1  # less the second count's own
        print(
            json.dumps(
                {
                    "calls": len(call_ids),
                    "connections": opened,
                    "per_call": round(opened / len(call_ids), 1),
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
