"""Batch analysis: score many calls through the Message Batches API at half price.

For work nobody is waiting for: the weekly backlog, a backfill, or re-scoring after a rubric
change. Results land as the on-demand path writes them (sessions, usage rows priced as batch).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from common import batches
from common.config import DIMENSIONS, settings
from flows.analyze_call import _scorer, prepared


@flow(name="analyze-batch")
def analyze_batch(
    call_ids: list[str],
    dimensions: list[str] | None = None,
    force: bool = False,
    poll_seconds: float = 60.0,
) -> dict[str, Any]:
    s = settings()
    calls = [prepared(s, call_id) for call_id in call_ids]
    report = batches.analyze(
        _scorer(s),
        calls,
        list(dimensions or DIMENSIONS),
        force=force,
        ttl=s.claude_batch_cache_ttl,
        poll_s=poll_seconds,
    )
    return {
        "batch_id": report.batch_id,
        "requests": report.requests,
        "fallbacks": report.fallbacks,
        "sessions": len(report.outcomes),
        "cached": sum(o.cached for o in report.outcomes),
    }
