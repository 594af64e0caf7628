"""Scoring one dimension of one call: tier-1 cache, claimed chunks, Claude, repair, grounding.

Paying for a response is guarded three ways:
- a chunk is claimed in `scoring_work` before its request (`common.scoring.claims`): a second
  run of the same call waits for the first and reuses its result instead of paying again;
- the paid response is recorded (`common.scoring.ledger`) before anything that can fail, and
  its text is kept on the claim, so a retry resumes from it instead of asking again;
- a request holds one of the `CLAUDE_CONCURRENCY` slots shared by every worker
  (`common.limits.ClaudeSlots`), and never waits for a slot while holding one.

The first chunk of a dimension is scored first; the others in parallel once its response has
begun (the static prefix is then cached). With a `PrefixGate` the lead dimension streams and
opens chunk k as soon as its response for chunk k has begun; the other dimensions wait for
that before requesting chunk k, so each chunk's prefix is written once and read three times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from common.claude import ClaudeClient, ClaudeResponse
from common.config import Settings
from common.db import Db, retrying, transaction
from common.errors import ClaudeError, ClaudeRequestRejected, InvalidAnalysis
from common.limits import ClaudeSlots, Heartbeat
from common.rubrics import RubricSet
from common.scoring import claims, costs, prompts, sessions
from common.scoring.analysis import (
    ChunkResult,
    DimensionAssessment,
    DimensionResult,
    Grounder,
    aggregate,
    check_against_rubric,
)
from common.scoring.chunking import Chunk
from common.scoring.ledger import Ledger, paid
from common.scoring.model import Job, Outcome, PrefixGate, PreparedCall

log = logging.getLogger("sales_coach.scoring")
Blocks = list[dict[str, Any]]


class Scorer:
    """Scores dimensions on demand; the batch path (`common.scoring.batches`) reuses its pieces."""

    def __init__(
        self,
        s: Settings,
        claude: ClaudeClient,
        rubrics: RubricSet,
        ledger: Ledger,
        slots: ClaudeSlots,
        database: Db,
    ) -> None:
        self.s, self.claude, self.rubrics = s, claude, rubrics
        self.ledger, self.slots, self.database = ledger, slots, database
        self.prices = costs.price_table(s.prices_file)
        for model in {s.model_for(d) for d in rubrics.rubrics}:
            self.prices.check_model(model, datetime.now(UTC).date())

    def cache_key(self, call: PreparedCall, dimension: str) -> tuple[str, str]:
        version = self.rubrics.rubric_version(dimension)
        return sessions.cache_key(dimension, call.transcript_hash, version), version

    def db(self, fn: Callable[[], Any], what: str = "database") -> Any:
        """Run a Postgres step, waiting out a restart for up to DB_OUTAGE_WAIT_S."""
        return retrying(fn, self.s.db_outage_wait_s, what)

    # -- one dimension --------------------------------------------------------------------
    def score(
        self,
        call: PreparedCall,
        dimension: str,
        *,
        owner: str,
        force: bool = False,
        gate: PrefixGate | None = None,
        lead: bool = False,
        lookup: bool = True,
    ) -> Outcome:
        """Score one dimension (cached, resumed, or paid for once). `lookup=False` when the
        caller's plan has just looked the tier-1 cache up."""
        try:
            if lookup and not force and (hit := self.from_cache(call, dimension)) is not None:
                return hit
            job = self.job(call, dimension, owner, force, gate, lead)
            try:
                parts, requests = self._score_chunks(job)
            except (InvalidAnalysis, ClaudeRequestRejected) as exc:
                self.save(call, dimension, job.model, None, str(exc)[:2000], force)
                raise
            return self.finish(call, dimension, job.model, parts, requests, force)
        finally:
            if gate is not None and lead:
                gate.open_all()

    def job(
        self,
        call: PreparedCall,
        dimension: str,
        owner: str,
        force: bool = False,
        gate: PrefixGate | None = None,
        lead: bool = False,
    ) -> Job:
        work_key = self.work_key(call, dimension, owner, force)
        return Job(call, dimension, self.s.model_for(dimension), work_key, owner, gate, lead)

    def work_key(self, call: PreparedCall, dimension: str, owner: str, force: bool) -> str:
        """What a chunk's claim is keyed by: the tier-1 cache key, or a per-owner key when forced."""
        key, _ = self.cache_key(call, dimension)
        return claims.forced_key(key, owner) if force else key

    def _score_chunks(self, job: Job) -> tuple[list[ChunkResult], int]:
        """The first chunk, then the others in parallel (their prefix is cached by then)."""
        chunks = job.call.chunks
        first, requests = self._chunk(job, chunks[0])
        results = [first]
        if len(chunks) > 1:
            with ThreadPoolExecutor(len(chunks) - 1, thread_name_prefix="chunk") as pool:
                for result, n in pool.map(lambda c: self._chunk(job, c), chunks[1:]):
                    results.append(result)
                    requests += n
        return results, requests

    def _chunk(self, job: Job, chunk: Chunk) -> tuple[ChunkResult, int]:
        """One chunk's assessment: reused if done, resumed from a paid response, or paid once."""
        work = self.claim(job, chunk)
        if work.assessment is not None:
            if job.gate is not None and job.lead:
                job.gate.open(chunk.index)
            return ChunkResult(
                DimensionAssessment.model_validate(work.assessment), chunk.new_tokens
            ), 0
        system, messages = self.request_for(job.call, chunk, job.dimension, self.s.claude_cache_ttl)
        renew = self.renewer(job, chunk)
        with Heartbeat(renew, self.s.claude_claim_lease_s / 3):
            try:
                assessment, n = self.resolve(job, chunk, system, messages, work)
            except InvalidAnalysis as exc:
                error = str(exc)[:2000]
                self.db(lambda: self.finish_claim(job, chunk, None, error))
                raise
            except BaseException:
                self.release(job, chunk)
                raise
        self.db(lambda: self.finish_claim(job, chunk, assessment.model_dump(mode="json"), None))
        return ChunkResult(assessment, chunk.new_tokens), n

    def resolve(
        self, job: Job, chunk: Chunk, system: Blocks, messages: Blocks, work: claims.ChunkWork
    ) -> tuple[DimensionAssessment, int]:
        """Validate the kept response or pay for one; one repair when it is invalid."""
        requests, text, stop = 0, work.response_text, None
        if work.responses == 0 or text is None:
            if job.gate is not None and not job.lead:
                job.gate.wait(chunk.index)
            gate = job.gate
            begun = partial(gate.open, chunk.index) if gate is not None and job.lead else None
            response = self._request(job, chunk, system, messages, "score", 1, begun)
            text, stop, requests = response.text, response.stop_reason, 1
        elif job.gate is not None and job.lead:
            job.gate.open(chunk.index)  # resumed from a paid response: nothing to wait for
        assessment, problems = self.validate(text, job.dimension, stop)
        if assessment is not None:
            return assessment, requests
        if work.responses >= 2 and requests == 0:
            raise InvalidAnalysis(
                f"{job.dimension}: output invalid after one repair: {problems[:500]}"
            )
        repair = prompts.repair_messages(messages, text, problems)
        repaired = self._request(job, chunk, system, repair, "repair", 2)
        assessment, problems = self.validate(repaired.text, job.dimension, repaired.stop_reason)
        if assessment is None:
            raise InvalidAnalysis(
                f"{job.dimension}: output invalid after one repair: {problems[:500]}"
            )
        return assessment, requests + 1

    # -- claims ---------------------------------------------------------------------------
    def claim(self, job: Job, chunk: Chunk) -> claims.ChunkWork:
        """Our claim on the chunk, or the finished work of whoever held it.

        Waits (at most CLAUDE_CLAIM_WAIT_S) while another live owner holds it; raises a
        transient ClaudeError after that, so the call is tried again later.
        """
        self.db(self.ledger.flush, "ledger")  # journalled responses first: never pay twice
        deadline = time.monotonic() + self.s.claude_claim_wait_s
        while True:
            work: claims.ChunkWork = self.db(lambda: self._try_claim(job, chunk))
            if work.mine or work.status == "done":
                return work
            if time.monotonic() > deadline:
                raise ClaudeError(
                    f"call {job.call.call_id} {job.dimension} chunk {chunk.index} is still being"
                    f" scored by {work.owner}; try again later"
                )
            time.sleep(0.5)

    def _try_claim(self, job: Job, chunk: Chunk) -> claims.ChunkWork:
        with transaction(self.database) as conn:
            return claims.claim(
                conn,
                work_key=job.work_key,
                chunk=chunk.index,
                call_id=job.call.call_id,
                dimension=job.dimension,
                owner=job.owner,
                lease_s=self.s.claude_claim_lease_s,
            )

    def renewer(self, job: Job, chunk: Chunk) -> Callable[[], None]:
        def renew() -> None:
            with transaction(self.database) as conn:
                claims.renew(
                    conn, job.work_key, chunk.index, job.owner, self.s.claude_claim_lease_s
                )

        return renew

    def finish_claim(
        self, job: Job, chunk: Chunk, assessment: dict[str, Any] | None, error: str | None
    ) -> None:
        with transaction(self.database) as conn:
            claims.finish(conn, job.work_key, chunk.index, job.owner, assessment, error)

    def release(self, job: Job, chunk: Chunk) -> None:
        try:
            with transaction(self.database) as conn:
                claims.release(conn, job.work_key, chunk.index, job.owner)
        except Exception:  # the lease expires by itself
            log.info("claim on %s chunk %d left to expire", job.dimension, chunk.index)

    # -- requests -------------------------------------------------------------------------
    def _request(
        self,
        job: Job,
        chunk: Chunk,
        system: Blocks,
        messages: Blocks,
        purpose: str,
        attempt: int,
        on_begun: Callable[[], None] | None = None,
    ) -> ClaudeResponse:
        """One paid request under a concurrency slot, recorded before it is used."""
        with self.slots.slot(self.s.claude_slot_wait_s):
            try:
                response = self.claude.structured(
                    model=job.model,
                    system=system,
                    messages=messages,
                    max_tokens=self.s.claude_max_output_tokens,
                    schema=DimensionAssessment,
                    on_begun=on_begun,
                )
            except ClaudeRequestRejected as exc:
                self.record_error(job.call, job.dimension, job.model, exc.status_code, exc.message)
                raise
        self.record(job, chunk, response, purpose, attempt)
        return response

    def record(
        self,
        job: Job,
        chunk: Chunk,
        response: ClaudeResponse,
        purpose: str,
        attempt: int,
        batch: bool = False,
    ) -> None:
        """The response in the ledger (and its text on the claim), durably, exactly once."""
        self.ledger.record(
            paid(
                self.prices,
                response_id=response.id,
                request_id=response.request_id,
                model=response.model,
                usage=response.usage,
                batch=batch,
                call_id=job.call.call_id,
                dimension=job.dimension,
                chunk_index=chunk.index,
                purpose=purpose,
                work_key=job.work_key,
                owner=job.owner,
                attempt=attempt,
                text=response.text,
            )
        )

    def record_error(
        self, call: PreparedCall, dimension: str, model: str, status: int | None, message: str
    ) -> None:
        def write() -> None:
            with transaction(self.database) as conn:
                costs.record_error(
                    conn,
                    model=model,
                    call_id=call.call_id,
                    dimension=dimension,
                    status_code=status,
                    message=message,
                )

        self.db(write)

    # -- results --------------------------------------------------------------------------
    def finish(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        parts: list[ChunkResult],
        requests: int,
        force: bool = False,
    ) -> Outcome:
        """Aggregate chunk results, ground the quotes, save the session."""
        grounder = Grounder(call.utterances, call.url, self.s.gong_moment_url_template)
        result = aggregate(dimension, self.rubrics.rubrics[dimension], parts, grounder)
        if result.quotes_dropped:
            log.info(
                "call %s %s: dropped %d ungrounded quotes",
                call.call_id,
                dimension,
                result.quotes_dropped,
            )
        session_id = self.save(call, dimension, model, result, None, force)
        return Outcome(dimension, session_id, False, result.overall_score, requests)

    def save(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        result: DimensionResult | None,
        error: str | None,
        force: bool = False,
    ) -> int:
        """A completed session (with result) or a failed one (with the error), saved once:
        two runs finishing the same work keep one current session."""
        key, version = self.cache_key(call, dimension)

        def write() -> int:
            with transaction(self.database) as conn:
                return sessions.save_session(
                    conn,
                    call_id=call.call_id,
                    rep_id=call.rep_id,
                    dimension=dimension,
                    model=model,
                    key=key,
                    transcript_hash=call.transcript_hash,
                    rubric_version=version,
                    result=result,
                    error=error,
                    reuse=not force,
                )

        session_id: int = self.db(write)
        return session_id

    def from_cache(self, call: PreparedCall, dimension: str) -> Outcome | None:
        """Tier 1: reuse a completed session with the same key (recorded as a hit or a miss)."""
        key, version = self.cache_key(call, dimension)

        def look() -> Outcome | None:
            with transaction(self.database) as conn:
                row = sessions.find_cached(conn, key, call.transcript_hash, version)
                sessions.record_lookup(conn, call.call_id, dimension, key, hit=row is not None)
                if row is None:
                    return None
                session_id = (
                    row["id"]
                    if row["call_id"] == call.call_id
                    else sessions.copy_session(conn, row, call.call_id, call.rep_id)
                )
            return Outcome(dimension, session_id, True, float(row["overall_score"]), 0)

        outcome: Outcome | None = self.db(look)
        return outcome

    def request_for(
        self, call: PreparedCall, chunk: Chunk, dimension: str, ttl: str
    ) -> tuple[Blocks, Blocks]:
        """(system, messages) for one chunk and dimension, in the cache-friendly layout."""
        utts = call.utterances[chunk.start : chunk.end]
        messages: Blocks = [
            {
                "role": "user",
                "content": [
                    prompts.transcript_block(
                        call.title, call.started, utts, chunk.index, len(call.chunks), ttl
                    ),
                    prompts.dimension_block(self.rubrics, dimension, call.metrics),
                ],
            }
        ]
        return prompts.system_blocks(self.rubrics, ttl), messages

    def validate(
        self, text: str, dimension: str, stop_reason: str | None = None
    ) -> tuple[DimensionAssessment | None, str]:
        """The assessment in a response's text, or None and what is wrong with it."""
        if stop_reason == "max_tokens":
            return None, "the answer was cut off at max_tokens; be more concise"
        try:
            assessment = DimensionAssessment.model_validate_json(text)
        except ValidationError as exc:
            return None, "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10]
            )
        problems = check_against_rubric(assessment, self.rubrics.rubrics[dimension])
        return (None, "; ".join(problems)) if problems else (assessment, "")
