"""The publish gate on 40+ distinct calls, through the production scoring path.

    python bench/publish_gate.py [--calls 40]           # against the local stand-in
    ANTHROPIC_BASE_URL=... ANTHROPIC_API_KEY=... python bench/publish_gate.py

Scores the sample calls and `--calls` synthesised distinct calls (each with its own title and
transcript) with the shipped default configuration (`SCORING_CASCADE`, `PUBLISH_TOLERANCE`)
through the analysis flow (embedded Postgres, moto S3, the Gong stand-in), against whatever
`ANTHROPIC_BASE_URL` names (the local stand-in when unset). It prints the share of dimensions
published at the first stage, after escalating and held for a person, the project's paid
requests beside the server's own count (the local stand-in's; an outside server keeps its own),
and, against the local stand-in, how close the published scores are to the stand-in's planted
truth next to the first sample's. Its last line is one JSON object: every dimension of every
call as a person would see it (a held dimension's score and criteria are null).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from common.db import connect
from local.samples import INJECTION, distinct_calls, sample_calls
from local.stack import DATA_DIR, Stack, local_stack


def synthesised(stack: Stack, n: int) -> list[str]:
    """`n` distinct calls, each under its own id and title, added to the Gong stand-in. They
    are clones of the short samples without the demo's injected line: the one sample that
    carries it is enough (one call in four flagged would be no company's week)."""
    ids = []
    for i, sample in enumerate(distinct_calls(n, prefix="77")):
        call, transcript = copy.deepcopy(sample["call"]), copy.deepcopy(sample["transcript"])
        for part in transcript["transcript"]:
            part["sentences"] = [x for x in part["sentences"] if x["text"] != INJECTION]
        transcript["transcript"] = [p for p in transcript["transcript"] if p["sentences"]]
        call["metaData"]["title"] = f"{call['metaData']['title']} #{i + 1}"
        stack.gong.add(call, transcript)
        ids.append(call["metaData"]["id"])
    return ids


def scored(db_url: str, call_ids: list[str]) -> list[dict[str, Any]]:
    """Every current session of the calls, as a person sees it."""
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT c.title, s.dimension, s.state, s.result FROM current_sessions s"
            " JOIN calls c ON c.id = s.call_id WHERE s.call_id = ANY(%s)"
            " ORDER BY c.title, s.dimension",
            (call_ids,),
        ).fetchall()
    out = []
    for r in rows:
        result, shown = r["result"], r["state"] == "published"
        out.append(
            {
                "title": r["title"],
                "dimension": r["dimension"],
                "state": r["state"],
                "score": result["overall_score"] if shown else None,
                "criteria": {
                    c["criterion_id"]: c["score"] if shown else None for c in result["criteria"]
                },
                "samples": len(result.get("samples") or []) or 1,
                "models": sorted({x["model"] for x in result.get("samples") or []}),
            }
        )
    return out


def against_truth(db_url: str, call_ids: list[str]) -> dict[str, Any]:
    """Published criteria and first samples, each against the local stand-in's planted truth
    (mean absolute error and exact share, on the same published criteria)."""
    from local.claude_output import planted_truth

    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT c.title, c.started_at, s.result FROM current_sessions s"
            " JOIN calls c ON c.id = s.call_id"
            " WHERE s.call_id = ANY(%s) AND s.state = 'published' AND s.chunk_count = 1",
            (call_ids,),
        ).fetchall()
    published, first = [], []
    for r in rows:
        key = f"Call: {r['title']}\nDate: {r['started_at'].isoformat()}"
        one = next((x for x in r["result"]["samples"] if x["stage"] == 0 and x["index"] == 0), None)
        for c in r["result"]["criteria"]:
            truth, cid = planted_truth(key, c["criterion_id"]), c["criterion_id"]
            if c["score"] is None or one is None or one["criteria"].get(cid) is None:
                continue
            published.append(abs(c["score"] - truth))
            first.append(abs(one["criteria"][cid] - truth))
    n = len(published)
    return {
        "criteria": n,
        "published_mae": round(sum(published) / n, 3) if n else None,
        "first_sample_mae": round(sum(first) / n, 3) if n else None,
        "published_exact": round(sum(e < 0.5 for e in published) / n, 3) if n else None,
        "first_sample_exact": round(sum(e < 0.5 for e in first) / n, 3) if n else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=40, help="synthesised calls beside the samples")
    args = ap.parse_args()
    real = os.environ.get("ANTHROPIC_BASE_URL")
    key = os.environ.get("ANTHROPIC_API_KEY")
    with local_stack(
        DATA_DIR / "postgres", database="bench_gate", with_anthropic=not real
    ) as stack:
        os.environ.update(stack.env())
        if real:
            os.environ["ANTHROPIC_BASE_URL"], os.environ["ANTHROPIC_API_KEY"] = real, key or ""
        from common.config import load_settings
        from flows.analyze_call import analyze_calls

        s = load_settings()
        cascades = {
            str(s.cascade_for(d))
            for d in ("product_knowledge", "discovery", "objections", "engagement")
        }
        print(f"cascade {' / '.join(sorted(cascades))}, tolerance {s.publish_tolerance:g}")
        print(f"via {os.environ['ANTHROPIC_BASE_URL']}")
        ids = [x["call"]["metaData"]["id"] for x in sample_calls()] + synthesised(stack, args.calls)
        for i in range(0, len(ids), 8):
            analyze_calls(ids[i : i + 8], override_budget=True)
        rows = scored(s.database_url, ids)
        with connect(s.database_url) as conn:
            paid = conn.execute(
                "SELECT count(*) AS n, count(*) FILTER (WHERE estimated) AS estimated,"
                " coalesce(sum(usd), 0) AS usd FROM claude_usage"
            ).fetchone()
            shares = conn.execute(
                "SELECT count(*) AS n,"
                " count(*) FILTER (WHERE state = 'published' AND NOT escalated) AS first,"
                " count(*) FILTER (WHERE state = 'published' AND escalated) AS escalated,"
                " count(*) FILTER (WHERE state = 'needs_review') AS held"
                " FROM current_sessions WHERE call_id = ANY(%s)",
                (ids,),
            ).fetchone()
        assert paid is not None and shares is not None
        n = max(1, shares["n"])
        print(
            f"dimensions {shares['n']}: published at the first stage {shares['first'] / n:.0%},"
            f" after escalating {shares['escalated'] / n:.0%}, held for review {shares['held'] / n:.0%}"
        )
        served = len(stack.anthropic.responses) if stack.anthropic is not None else None
        print(
            f"paid requests {paid['n']} (estimated {paid['estimated']}), server served"
            f" {served if served is not None else 'see its own ledger'}"
        )
        if stack.anthropic is not None:
            print("against the planted truth:", json.dumps(against_truth(s.database_url, ids)))
        calls = len({r["title"] for r in rows})
        print(
            json.dumps(
                {
                    "calls": calls,
                    "paid_requests": paid["n"],
                    "usd": round(float(paid["usd"]), 4),
                    "scored": rows,
                }
            )
        )


if __name__ == "__main__":
    main()
