"""Dollars per call from the API's own usage fields, split by token kind.

    python bench/cost_per_call.py            # against the local stand-in
    ANTHROPIC_BASE_URL=... ANTHROPIC_API_KEY=... python bench/cost_per_call.py

Analyses the sample calls (embedded Postgres, moto S3, Gong stand-in) against whatever
`ANTHROPIC_BASE_URL` points at (the local stand-in when unset) and prints, per call, dollars
split into input / cache write / cache read / output, and how many times its plain input price
the four dimensions paid for the prompt. Target: <= $0.10 for the 60-minute sample on
claude-sonnet-5-5, and about 2x (not 4x) the plain input price.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from common.db import connect
from common.scoring.costs import price_table
from local.samples import sample_calls
from local.stack import DATA_DIR, local_stack


def main() -> None:
    real = os.environ.get("ANTHROPIC_BASE_URL")
    key = os.environ.get("ANTHROPIC_API_KEY")
    with local_stack(
        DATA_DIR / "postgres", database="bench_cost", with_anthropic=not real
    ) as stack:
        os.environ.update(stack.env())
        if real:
            os.environ["ANTHROPIC_BASE_URL"], os.environ["ANTHROPIC_API_KEY"] = real, key or ""
        from common.config import load_settings
        from flows.analyze_call import analyze_call

        s = load_settings()
        prices = price_table(s.prices_file)
        print(f"model {s.claude_model} via {os.environ['ANTHROPIC_BASE_URL']}")
        print(
            f"{'call':<42}{'tokens':>8}{'input':>9}{'write':>9}{'read':>9}{'output':>9}{'total':>9}{'x input':>9}"
        )
        for sample in sample_calls():
            call_id = sample["call"]["metaData"]["id"]
            analyze_call(call_id, force=True, override_budget=True)
            with connect(s.database_url) as conn:
                rows = conn.execute(
                    "SELECT * FROM claude_usage WHERE call_id = %s", (call_id,)
                ).fetchall()
                call = conn.execute(
                    "SELECT title, transcript_tokens FROM calls WHERE id = %s", (call_id,)
                ).fetchone()
            assert call is not None
            split = {
                "input": Decimal(0),
                "write": Decimal(0),
                "read": Decimal(0),
                "output": Decimal(0),
            }
            plain = Decimal(0)
            for r in rows:
                p = prices.price(
                    r["model"],
                    datetime.now(UTC).date(),
                    r["input_tokens"]
                    + r["cache_read_tokens"]
                    + r["cache_write_5m_tokens"]
                    + r["cache_write_1h_tokens"],
                )
                split["input"] += r["input_tokens"] * p.input / 1_000_000
                split["write"] += (
                    r["cache_write_5m_tokens"] * p.cache_write_5m
                    + r["cache_write_1h_tokens"] * p.cache_write_1h
                ) / 1_000_000
                split["read"] += r["cache_read_tokens"] * p.cache_read / 1_000_000
                split["output"] += r["output_tokens"] * p.output / 1_000_000
                prompt = (
                    r["input_tokens"]
                    + r["cache_read_tokens"]
                    + r["cache_write_5m_tokens"]
                    + r["cache_write_1h_tokens"]
                )
                plain = max(plain, prompt * p.input / 1_000_000)
            chunks = len({r["chunk_index"] for r in rows})
            prompt_paid = split["input"] + split["write"] + split["read"]
            ratio = prompt_paid / (plain * chunks) if plain else Decimal(0)
            print(
                f"{call['title'][:41]:<42}{call['transcript_tokens']:>8,}"
                + "".join(f"{float(v):>9.4f}" for v in split.values())
                + f"{float(sum(split.values())):>9.4f}{float(ratio):>8.2f}x"
            )
        if not real:
            print(
                "(local stand-in: output lengths are placeholders; input-side figures follow the API's rules)"
            )


if __name__ == "__main__":
    main()
