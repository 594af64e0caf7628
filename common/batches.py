"""Analyses nobody is waiting for, through the Message Batches API at half price.

The weekly backlog, a backfill, or a rubric change re-scoring last quarter: every (call,
dimension, chunk) without a cached session becomes one batch request with exactly the prompt
the on-demand path would send (so prompt caching can still apply), results are matched by
`custom_id`, and sessions and usage rows are written exactly as on demand, with usage priced
as batch. Submitted batches are recorded in `claude_batches`: a re-run after a restart resumes
the unprocessed batch with the same requests instead of paying for them again. An invalid
result gets the same one repair, on demand; an errored or expired request is scored on demand
so no dimension is left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from common.analysis import ChunkResult, DimensionAssessment
from common.chunking import Chunk
from common.claude import ClaudeResponse, structured_output
from common.db import transaction
from common.errors import ClaudeError
from common.scoring import Outcome, PreparedCall, Scorer

log = logging.getLogger("sales_coach.batches")


@dataclass
class Pending:
    call: PreparedCall
    dimension: str
    model: str
    chunks: dict[int, ChunkResult] = field(default_factory=dict)
    requests: int = 0


@dataclass
class BatchReport:
    batch_id: str | None
    requests: int
    outcomes: list[Outcome]
    fallbacks: int  # requests scored on demand because their batch result errored


def custom_id(call: PreparedCall, dim_index: int, chunk: Chunk) -> str:
    """`^[a-zA-Z0-9_-]{1,64}$`, as the API requires."""
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in call.call_id)[:48]
    return f"{safe}-{dim_index}-{chunk.index}"


def analyze(
    scorer: Scorer,
    calls: list[PreparedCall],
    dimensions: list[str],
    *,
    force: bool = False,
    ttl: str = "1h",
    poll_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchReport:
    """Score every missing (call, dimension) through one batch; returns the outcomes."""
    pending: dict[str, tuple[Pending, Chunk, Any, Any]] = {}
    jobs: list[Pending] = []
    outcomes: list[Outcome] = []
    for call in calls:
        for i, dimension in enumerate(dimensions):
            if not force and (hit := scorer.from_cache(call, dimension)) is not None:
                outcomes.append(hit)
                continue
            job = Pending(call, dimension, scorer.s.model_for(dimension))
            jobs.append(job)
            for chunk in call.chunks:
                system, messages = scorer.request_for(call, chunk, dimension, ttl)
                pending[custom_id(call, i, chunk)] = (job, chunk, system, messages)
    if not pending:
        return BatchReport(None, 0, outcomes, 0)
    requests = [
        {
            "custom_id": cid,
            "params": {
                "model": job.model,
                "max_tokens": scorer.s.claude_max_output_tokens,
                "system": system,
                "messages": messages,
                "output_config": structured_output(DimensionAssessment),
            },
        }
        for cid, (job, _, system, messages) in pending.items()
    ]
    manifest = {
        cid: {
            "call_id": job.call.call_id,
            "dimension": job.dimension,
            "chunk": chunk.index,
            "cache_key": scorer.cache_key(job.call, job.dimension)[0],
        }
        for cid, (job, chunk, _, _) in pending.items()
    }
    batch_id = _resume(scorer, manifest)
    if batch_id is None:
        batch_id = scorer.claude.submit_batch(requests)
        with transaction(scorer.s.database_url) as conn:
            conn.execute(
                "INSERT INTO claude_batches (batch_id, requests) VALUES (%s, %s)",
                (batch_id, Jsonb(manifest)),
            )
        log.info("submitted batch %s with %d requests", batch_id, len(requests))
    while scorer.claude.batch_status(batch_id) != "ended":
        sleep(poll_s)
    fallbacks = 0
    for cid, response, error in scorer.claude.batch_results(batch_id):
        job, chunk, system, messages = pending[cid]
        fallbacks += _accept(scorer, job, chunk, system, messages, response, error)
    with transaction(scorer.s.database_url) as conn:
        conn.execute(
            "UPDATE claude_batches SET status = 'processed', processed_at = now() WHERE batch_id = %s",
            (batch_id,),
        )
    for job in jobs:
        if len(job.chunks) == len(job.call.chunks):
            parts = [job.chunks[i] for i in sorted(job.chunks)]
            outcomes.append(scorer.finish(job.call, job.dimension, job.model, parts, job.requests))
    return BatchReport(batch_id, len(requests), outcomes, fallbacks)


def _resume(scorer: Scorer, manifest: dict[str, Any]) -> str | None:
    """An unprocessed batch with exactly these requests (same calls, dimensions, rubric versions)."""
    with transaction(scorer.s.database_url) as conn:
        row = conn.execute(
            "SELECT batch_id FROM claude_batches WHERE status = 'submitted' AND requests = %s"
            " ORDER BY submitted_at DESC LIMIT 1",
            (Jsonb(manifest),),
        ).fetchone()
    if row is not None:
        log.info("resuming batch %s", row["batch_id"])
    return row["batch_id"] if row else None


def _accept(
    scorer: Scorer,
    job: Pending,
    chunk: Chunk,
    system: Any,
    messages: Any,
    response: ClaudeResponse | None,
    error: str | None,
) -> int:
    """Record and validate one batch result; score it on demand if it errored. Returns 1 on fallback."""
    try:
        if response is None:
            log.warning(
                "batch request for %s/%s errored (%s): scoring on demand",
                job.call.call_id,
                job.dimension,
                error,
            )
            scorer.record_error(job.call, job.dimension, job.model, None, f"batch: {error}")
            response = scorer.claude.structured(
                model=job.model,
                system=system,
                messages=messages,
                max_tokens=scorer.s.claude_max_output_tokens,
                schema=DimensionAssessment,
            )
            scorer.record(job.call, job.dimension, chunk, response, "score")
            fallback = 1
        else:
            scorer.record(job.call, job.dimension, chunk, response, "score", batch=True)
            fallback = 0
        assessment, n = scorer.validated(
            job.call, chunk, job.dimension, job.model, system, messages, response
        )
    except ClaudeError as exc:
        scorer.save(job.call, job.dimension, job.model, None, str(exc)[:2000])
        return 0
    job.chunks[chunk.index] = ChunkResult(assessment, chunk.new_tokens)
    job.requests += n
    return fallback
