"""Batch analysis: score many calls through the Message Batches API at half price.

For work nobody is waiting for: the weekly backlog, a backfill, or re-scoring after a rubric
change. Results land as the on-demand path writes them (sessions, usage rows priced as batch),
under the same budget guard, claims and ledger (`ScoringService.score_batch`).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from common.config import DIMENSIONS, load_settings
from flows.analyze_call import held_notice, scoring_service


@flow(name="analyze-batch")
def analyze_batch(
    call_ids: list[str],
    dimensions: list[str] | None = None,
    force: bool = False,
    override_budget: bool = False,
    poll_seconds: float = 60.0,
) -> dict[str, Any]:
    with scoring_service(load_settings()) as service:
        calls = [service.prepare_one(call_id) for call_id in call_ids]
        report = service.score_batch(
            calls,
            list(dimensions or DIMENSIONS),
            force=force,
            override_budget=override_budget,
            poll_s=poll_seconds,
            owner=f"batch:{flow_run.get_id() or 'local'}",
        )
        held = sorted(
            {o.call_id for o in report.outcomes if o.state == "needs_review" and not o.cached}
        )
        for call_id in held:  # the manager is told, as after an on-demand analysis
            held_notice(service, call_id)
    return {
        "batch_id": report.batch_id,
        "requests": report.requests,
        "fallbacks": report.fallbacks,
        "sessions": len(report.outcomes),
        "cached": sum(o.cached for o in report.outcomes),
        "held": sum(o.state == "needs_review" for o in report.outcomes),
    }
