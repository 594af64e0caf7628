"""Analyses nobody is waiting for, through the Message Batches API at half price.

The weekly backlog, a backfill, or a rubric change re-scoring last quarter: every (call,
dimension, chunk) still to score becomes one batch request with exactly the prompt the
on-demand path would send (so prompt caching can still apply), results are matched by
`custom_id`, and sessions and usage rows are written exactly as on demand, with usage priced as
batch. The batch path shares the on-demand path's guarantees: each chunk is claimed before it
is submitted (a chunk another run is scoring is left to it), every result is recorded through
the ledger before it is used, an invalid result gets the same one repair, and an errored or
expired request is recorded in `claude_errors` and scored on demand. Submitted batches are
recorded in `claude_batches`: a re-run after a restart resumes the unprocessed batch with the
same requests instead of paying for them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from common.claude import ClaudeResponse, structured_output
from common.db import transaction
from common.errors import ClaudeError, InvalidAnalysis
from common.limits import Heartbeat
from common.scoring.analysis import ChunkResult, DimensionAssessment
from common.scoring.chunking import Chunk
from common.scoring.claims import ChunkWork
from common.scoring.model import Job, Outcome, PreparedCall
from common.scoring.scorer import Scorer

log = logging.getLogger("sales_coach.batches")


@dataclass
class Pending:
    job: Job
    chunks: dict[int, ChunkResult] = field(default_factory=dict)
    requests: int = 0
    error: str | None = None  # the output stayed invalid after a repair

    @property
    def complete(self) -> bool:
        return self.error is None and len(self.chunks) == len(self.job.call.chunks)


@dataclass
class BatchReport:
    batch_id: str | None
    requests: int
    outcomes: list[Outcome]
    fallbacks: int  # requests scored on demand because their batch result errored


@dataclass(frozen=True)
class Item:
    pending: Pending
    chunk: Chunk
    system: Any
    messages: Any


def custom_id(call: PreparedCall, dim_index: int, chunk: Chunk, sample: int = 0) -> str:
    """`^[a-zA-Z0-9_-]{1,64}$`, as the API requires; one per sample of the first stage."""
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in call.call_id)[:48]
    return f"{safe}-{dim_index}-{chunk.index}" + (f"-{sample}" if sample else "")


def analyze(
    scorer: Scorer,
    work: list[tuple[PreparedCall, list[str]]],
    cached: list[Outcome],
    *,
    force: bool = False,
    ttl: str = "1h",
    poll_s: float = 30.0,
    owner: str = "batch",
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float = 25 * 3600.0,
) -> BatchReport:
    """Score the given (call, missing dimensions) through one batch; returns every outcome."""
    items: dict[str, Item] = {}
    jobs: list[Pending] = []
    for call, dimensions in work:
        for dimension in dimensions:
            for job in scorer.stage_jobs(call, dimension, owner, force, 0):
                pending = Pending(job)
                jobs.append(pending)
                for chunk in call.chunks:
                    item = _item(scorer, pending, chunk, ttl)
                    if item is not None:
                        dim_index = list(scorer.rubrics.rubrics).index(dimension)
                        items[custom_id(call, dim_index, chunk, job.sample)] = item
    fallbacks, batch_id = 0, None
    if items:
        with ExitStack() as leases:
            for item in items.values():
                renew = scorer.chunks.renewer(item.pending.job, item.chunk)
                leases.enter_context(Heartbeat(renew, scorer.s.claude_claim_lease_s / 3))
            batch_id = _submit_or_resume(scorer, items)
            deadline = time.monotonic() + max_wait_s  # batches expire after 24 h
            while scorer.claude.batch_status(batch_id) != "ended":
                if time.monotonic() > deadline:
                    raise ClaudeError(f"batch {batch_id} has not ended after {max_wait_s:.0f} s")
                sleep(poll_s)
            for cid, response, error in scorer.claude.batch_results(batch_id):
                fallbacks += _accept(scorer, items[cid], response, error)
        with transaction(scorer.database) as conn:
            conn.execute(
                "UPDATE claude_batches SET status = 'processed', processed_at = now()"
                " WHERE batch_id = %s",
                (batch_id,),
            )
    outcomes = list(cached)
    for group in _by_dimension(jobs):
        outcome = _conclude(scorer, group, owner, force)
        if outcome is not None:
            outcomes.append(outcome)
    return BatchReport(batch_id, len(items), outcomes, fallbacks)


def _by_dimension(jobs: list[Pending]) -> list[list[Pending]]:
    groups: dict[tuple[str, str], list[Pending]] = {}
    for p in jobs:
        groups.setdefault((p.job.call.call_id, p.job.dimension), []).append(p)
    return list(groups.values())


def _conclude(scorer: Scorer, group: list[Pending], owner: str, force: bool) -> Outcome | None:
    """A dimension's first-stage samples judged by the gate; a later stage of its cascade, if
    asked, is scored on demand. A dimension none of whose samples completed is saved failed."""
    job = group[0].job
    done = [(p.job, [p.chunks[i] for i in sorted(p.chunks)]) for p in group if p.complete]
    errors = [p.error for p in group if p.error is not None]
    if not done:
        if errors:
            scorer.save(job.call, job.dimension, job.model, None, errors[0], force)
        return None
    failed = [InvalidAnalysis(e) for e in errors]
    requests = sum(p.requests for p in group)
    return scorer.conclude(job.call, job.dimension, owner, done, failed, requests, force)


def _item(scorer: Scorer, pending: Pending, chunk: Chunk, ttl: str) -> Item | None:
    """The chunk's batch request, or None when it needs none (done, resumed, or another run's)."""
    job = pending.job
    work = scorer.chunks.claim(job, chunk)
    system, messages = scorer.request_for(job.call, chunk, job.dimension, ttl, job.marker)
    if work.assessment is not None:
        pending.chunks[chunk.index] = ChunkResult(
            DimensionAssessment.model_validate(work.assessment), chunk.new_tokens
        )
        return None
    if work.responses > 0:  # paid before a restart: resume from the kept response
        _resolve(scorer, Item(pending, chunk, system, messages), work)
        return None
    return Item(pending, chunk, system, messages)


def _submit_or_resume(scorer: Scorer, items: dict[str, Item]) -> str:
    manifest = {
        cid: {
            "call_id": it.pending.job.call.call_id,
            "dimension": it.pending.job.dimension,
            "chunk": it.chunk.index,
            "work_key": it.pending.job.work_key,
        }
        for cid, it in items.items()
    }
    with transaction(scorer.database) as conn:
        row = conn.execute(
            "SELECT batch_id FROM claude_batches WHERE status = 'submitted' AND requests = %s"
            " ORDER BY submitted_at DESC LIMIT 1",
            (Jsonb(manifest),),
        ).fetchone()
    if row is not None:
        log.info("resuming batch %s", row["batch_id"])
        return str(row["batch_id"])
    requests = [
        {
            "custom_id": cid,
            "params": {
                "model": it.pending.job.model,
                "max_tokens": scorer.s.claude_max_output_tokens,
                "system": it.system,
                "messages": it.messages,
                "output_config": structured_output(DimensionAssessment),
            },
        }
        for cid, it in items.items()
    ]
    batch_id = scorer.claude.submit_batch(requests)
    with transaction(scorer.database) as conn:
        conn.execute(
            "INSERT INTO claude_batches (batch_id, requests) VALUES (%s, %s)",
            (batch_id, Jsonb(manifest)),
        )
    log.info("submitted batch %s with %d requests", batch_id, len(requests))
    return batch_id


def _accept(scorer: Scorer, item: Item, response: ClaudeResponse | None, error: str | None) -> int:
    """Record and use one batch result; score it on demand if it errored. 1 on fallback."""
    job = item.pending.job
    if response is None:
        log.warning(
            "batch request for %s/%s errored (%s): scoring on demand",
            job.call.call_id,
            job.dimension,
            error,
        )
        scorer.chunks.record_error(job.call, job.dimension, job.model, None, f"batch: {error}")
        work = ChunkWork("claimed", job.owner, 0, None, None, mine=True)
    else:
        scorer.chunks.record(job, item.chunk, response, job.purpose("score"), 1, batch=True)
        work = ChunkWork("claimed", job.owner, 1, response.text, None, mine=True)
    _resolve(scorer, item, work)
    return 1 if response is None else 0


def _resolve(scorer: Scorer, item: Item, work: ChunkWork) -> None:
    """Validate (one repair on demand) and keep the chunk's assessment; a failure fails the
    dimension's session and leaves the chunk claimable again."""
    job, chunk = item.pending.job, item.chunk
    try:
        assessment, n = scorer.resolve(job, chunk, item.system, item.messages, work)
    except ClaudeError as exc:
        error = str(exc)[:2000]
        scorer.db(lambda: scorer.chunks.finish(job, chunk, None, error))
        item.pending.error = error
        return
    scorer.db(lambda: scorer.chunks.finish(job, chunk, assessment.model_dump(mode="json"), None))
    item.pending.chunks[chunk.index] = ChunkResult(assessment, chunk.new_tokens)
    item.pending.requests += n + (1 if work.responses else 0)
