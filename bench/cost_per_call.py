"""Dollars per call from the API's own usage fields, split by token kind.

    python bench/cost_per_call.py [--calls-per-week 10000]   # against the local stand-in
    ANTHROPIC_BASE_URL=... ANTHROPIC_API_KEY=... python bench/cost_per_call.py

Analyses the sample calls (embedded Postgres, moto S3, Gong stand-in) against whatever
`ANTHROPIC_BASE_URL` points at (the local stand-in when unset) and prints, per call, dollars
split into input / cache write / cache read / output, and how many times its plain input price
the dimensions paid for the prompt. Target: <= $0.10 for the 60-minute sample on
claude-sonnet-5-5, and about 2x (not 4x) the plain input price.

Then the schema's share: output tokens paid with today's schema (evidence with who said it,
reasons before numbers, N/A) next to the same answers without the fields the reason-first
schema added (`said_by` on each quote), counted with the offline tokenizer. And the week: the
sample mix scaled to `--calls-per-week`, every call scored on all four dimensions (as before
the applicability rules) against the rules (skipped calls cost nothing, call types score fewer
dimensions).

The "every call" pass sends no request the first pass sent: it scores copies of the sample
calls under other ids, dated a day later, so each of its prompts differs from the first
pass's in the call header of the cached transcript block. Against a server with a live
prompt cache (the real API) it pays for its own cache writes as the first pass did, instead
of re-sending the first pass's requests and reading their cache (which made the rules look
dearer, +106%). Both passes run against the same server; the local stand-in counts the
identical requests it was sent ("sent twice", 0 expected).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from common.db import connect
from common.scoring.costs import price_table
from local.samples import sample_calls
from local.stack import DATA_DIR, Stack, local_stack

EVERY = "-every"  # suffix of the "every call" pass's copies of the sample calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls-per-week", type=int, default=10_000)
    args = ap.parse_args()
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
        cascade = {str(s.cascade_for(d)) for d in ("discovery", "engagement")}
        print(f"scoring {' / '.join(sorted(cascade))} via {os.environ['ANTHROPIC_BASE_URL']}")
        print(
            f"{'call':<42}{'tokens':>8}{'input':>9}{'write':>9}{'read':>9}{'output':>9}{'total':>9}{'x input':>9}"
        )
        if stack.anthropic is not None:
            stack.anthropic.record_prompts = True  # to count identical requests
        ruled: dict[str, float] = {}
        for sample in sample_calls():
            call_id = sample["call"]["metaData"]["id"]
            result = analyze_call(call_id, override_budget=True)  # the applicability rules
            ruled[call_id] = float(result["usd"])
        every = every_call_scored(stack)
        for sample in sample_calls():
            call_id = sample["call"]["metaData"]["id"]
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
        schema_share(s.database_url, list(ruled))
        if not real:
            print(
                "(local stand-in: output lengths are placeholders; input-side figures follow the API's rules)"
            )
        with connect(s.database_url) as conn:
            skipped = conn.execute(
                "SELECT count(*) AS n FROM calls WHERE id = ANY(%s) AND skipped_reason IS NOT NULL",
                (list(ruled),),
            ).fetchone()
        assert skipped is not None
        week(ruled, every, args.calls_per_week, skipped["n"])
        if stack.anthropic is not None:
            prompts = stack.anthropic.prompts
            print(
                f"requests sent: {len(prompts)}, identical ones sent twice:"
                f" {len(prompts) - len(set(prompts))}"
            )


def every_call_scored(stack: Stack) -> dict[str, float]:
    """Each sample call scored on all four dimensions whatever the rules (`force`), as before
    them, on a copy of the call under another id and dated a day later: its prompts are not
    the first pass's, so none of the first pass's requests is sent (and paid) again and no
    cache the first pass wrote is read. Keyed by the sample's own id."""
    from flows.analyze_call import analyze_call

    every: dict[str, float] = {}
    for sample in sample_calls():
        call, transcript = json.loads(json.dumps(sample["call"])), dict(sample["transcript"])
        meta = call["metaData"]
        original = meta["id"]
        meta["id"] = transcript["callId"] = original + EVERY
        meta["url"] = meta["url"].replace(original, meta["id"])
        for field in ("scheduled", "started"):
            meta[field] = (datetime.fromisoformat(meta[field]) + timedelta(days=1)).isoformat()
        stack.gong.add(call, transcript)
        result = analyze_call(meta["id"], force=True, override_budget=True)
        every[original] = float(result["usd"])
    return every


def schema_share(db_url: str, call_ids: list[str]) -> None:
    """Output tokens of the stored answers with and without what the new schema added."""
    from common.config import load_settings
    from common.scoring.token_counts import estimate_many

    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT call_id, result FROM current_sessions WHERE call_id = ANY(%s)", (call_ids,)
        ).fetchall()
        paid = conn.execute(
            "SELECT coalesce(sum(output_tokens), 0) AS n, count(*) AS r FROM claude_usage"
            " WHERE call_id = ANY(%s)",
            (call_ids,),
        ).fetchone()
    new, old = [], []
    for r in rows:
        criteria = r["result"]["criteria"]
        new.append(json.dumps(criteria, ensure_ascii=False))
        for c in criteria:
            for e in c["evidence"]:
                e.pop("said_by", None)
        old.append(json.dumps(criteria, ensure_ascii=False))
    n_new, n_old = sum(estimate_many(new, 1.0)), sum(estimate_many(old, 1.0))
    assert paid is not None
    s = load_settings()
    out = price_table(s.prices_file).price(s.claude_model, datetime.now(UTC).date(), 0).output
    calls = max(1, len({r["call_id"] for r in rows}))
    extra = float((n_new - n_old) * out / 1_000_000) / calls
    print(
        f"\noutput: {paid['n']:,} tokens paid over {paid['r']} responses; in the stored criteria"
        f" {n_new:,} tokens with today's schema, {n_old:,} without `said_by`"
        f" (+{(n_new - n_old) / max(1, n_old):.1%} for who said each quote, about"
        f" ${extra:.4f} a call at {s.claude_model}'s output price; the order of the fields"
        " costs nothing)"
    )


def week(ruled: dict[str, float], every: dict[str, float], per_week: int, skipped: int) -> None:
    """The sample mix as a week of `per_week` calls: all scored, against the rules."""
    n = len(ruled)
    before = sum(every.values()) / n * per_week
    after = sum(ruled.values()) / n * per_week
    print(
        f"\na week of {per_week:,} calls in the sample mix ({n} calls, {skipped} skipped by the"
        f" rules): ${before:,.0f} scoring every call on four dimensions, ${after:,.0f} with the"
        f" applicability rules ({(after - before) / before:+.0%})"
    )


if __name__ == "__main__":
    main()
