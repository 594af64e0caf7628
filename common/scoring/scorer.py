"""Scoring one dimension of one call: tier-1 cache, chunks, Claude, repair, grounding.

Paying for a response is guarded three ways:
- the chunk protocol (`common.scoring.chunk_work`): a chunk is claimed before its request and
  the paid response recorded before anything that can fail, so a second run or a retry
  reuses it instead of paying again;
- a request holds one of the `CLAUDE_CONCURRENCY` slots shared by every worker
  (`common.limits.ClaudeSlots`), and never waits for a slot while holding one;
- where the results go (`common.scoring.destinations`: sessions, or an eval's results) is
  injected, and keys the work apart.

A request's intent is journalled just before it is sent (`Ledger.in_flight`), so a request in
flight when the process is killed is still accounted for (as an estimate). Once the process is
asked to stop (`drain`, on SIGTERM) no chunk is claimed and no request sent; those in flight
finish and are recorded.

The first chunk of a dimension is scored first; the others in parallel once its response has
begun (the static prefix is then cached). With a `PrefixGate` the lead dimension streams and
opens chunk k as soon as its response for chunk k has begun; the other dimensions wait for
that before requesting chunk k, so each chunk's prefix is written once and read three times.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from common.claude import ClaudeClient, ClaudeResponse
from common.config import Settings
from common.db import Db, retrying, transaction
from common.errors import ClaudeRequestRejected, InvalidAnalysis
from common.limits import ClaudeSlots, Heartbeat
from common.rubrics import Rubric, RubricSet
from common.scoring import claims, costs, prompts, sessions
from common.scoring import gate as publish_gate
from common.scoring.analysis import (
    ChunkResult,
    DimensionAssessment,
    DimensionResult,
    Grounder,
    aggregate,
    check_against_rubric,
)
from common.scoring.chunk_work import ChunkProtocol
from common.scoring.chunking import Chunk
from common.scoring.destinations import Destination, Sessions
from common.scoring.drain import Drain
from common.scoring.ledger import Intent, Ledger, intent
from common.scoring.model import Job, Outcome, PrefixGate, PreparedCall, Scored
from common.scoring.token_counts import estimate

log = logging.getLogger("sales_coach.scoring")
Blocks = list[dict[str, Any]]
Done = tuple[Job, list[ChunkResult]]  # a sample's job and its chunk results


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
        destination: Destination | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.s, self.claude, self.rubrics = s, claude, rubrics
        self.ledger, self.slots, self.database = ledger, slots, database
        self.drain = drain or Drain()  # shared by the scorers of one process
        self.destination = destination or Sessions(database)
        self.prices = costs.price_table(s.prices_file)
        self.chunks = ChunkProtocol(s, database, ledger, self.prices, self.destination.label)
        for model in {m for d in rubrics.rubrics for m in s.cascade_for(d).models}:
            self.prices.check_model(model, datetime.now(UTC).date())

    def variant(self, call: PreparedCall, dimension: str) -> str | None:
        """The call type's rubric variant for the dimension, when these rubrics have it (an
        eval's candidate rubrics may not: the base rubric then)."""
        name = call.variant(dimension)
        return name if name in self.rubrics.variants else None

    def rubric(self, call: PreparedCall, dimension: str) -> Rubric:
        return self.rubrics.rubric_for(dimension, self.variant(call, dimension))

    def cache_key(self, call: PreparedCall, dimension: str) -> tuple[str, str]:
        version = self.rubrics.rubric_version(dimension, self.variant(call, dimension))
        scorer = publish_gate.scoring_version_for(self.s, dimension)
        return sessions.cache_key(dimension, call.transcript_hash, version, scorer), version

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
            jobs = self.stage_jobs(call, dimension, owner, force, 0, gate, lead)
            try:
                done, failed, requests = self._first_stage(
                    call, dimension, owner, force, jobs, gate
                )
                return self.conclude(call, dimension, owner, done, failed, requests, force, gate)
            except (InvalidAnalysis, ClaudeRequestRejected) as exc:
                self.save(call, dimension, jobs[0].model, None, str(exc)[:2000], force)
                raise
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
        """The job of the first sample of the first stage."""
        return self.stage_jobs(call, dimension, owner, force, 0, gate, lead)[0]

    def stage_jobs(
        self,
        call: PreparedCall,
        dimension: str,
        owner: str,
        force: bool,
        stage: int,
        gate: PrefixGate | None = None,
        lead: bool = False,
    ) -> list[Job]:
        """One job per sample of a stage of the dimension's cascade, each its own paid work
        (keyed apart, so each sample is claimed, paid and recorded once). The lead
        dimension's first sample opens the prefix gate; its other samples wait for it."""
        cascade = self.s.cascade_for(dimension)
        step = cascade.stages[stage]
        base = self.work_key(call, dimension, owner, force)
        return [
            Job(
                call,
                dimension,
                step.model,
                base if stage == 0 and k == 0 else f"{base}#s{stage}.{k}",
                owner,
                gate,
                lead and k == 0,
                stage,
                k,
                step.samples,
                len(cascade.stages),
            )
            for k in range(step.samples)
        ]

    def work_key(self, call: PreparedCall, dimension: str, owner: str, force: bool) -> str:
        """What a chunk's claim is keyed by, as the destination says."""
        key, _ = self.cache_key(call, dimension)
        return self.destination.work_key(call, dimension, key, owner, force)

    def with_destination(
        self, rubrics: RubricSet, destination: Destination, s: Settings | None = None
    ) -> Scorer:
        """The same services scoring with other rubrics into another destination (an eval),
        with other settings (`s`: another model per dimension, the model advisor)."""
        return Scorer(
            s or self.s,
            self.claude,
            rubrics,
            self.ledger,
            self.slots,
            self.database,
            destination,
            self.drain,
        )

    def _first_stage(
        self,
        call: PreparedCall,
        dimension: str,
        owner: str,
        force: bool,
        jobs: list[Job],
        gate: PrefixGate | None,
    ) -> tuple[list[Done], list[InvalidAnalysis], int]:
        """The first stage's samples; when none of them gave a valid answer and the cascade
        has a stronger stage, that stage instead (the dimension fails only when it fails too)."""
        try:
            return self._run(jobs)
        except InvalidAnalysis as exc:
            if len(self.s.cascade_for(dimension).stages) < 2:
                raise
            log.info(
                "call %s %s: no valid first sample, escalating: %s", call.call_id, dimension, exc
            )
            done, failed, requests = self._escalate(call, dimension, owner, force, 1, gate)
            return done, [*failed, *[exc] * len(jobs)], requests

    def _escalate(
        self,
        call: PreparedCall,
        dimension: str,
        owner: str,
        force: bool,
        stage: int,
        gate: PrefixGate | None,
    ) -> tuple[list[Done], list[InvalidAnalysis], int]:
        """A later stage's samples, sharing that model's cache write with the call's other
        dimensions escalating to it (`PrefixGate.later`)."""
        model = self.s.cascade_for(dimension).stages[stage].model
        later, leads = gate.later(model) if gate is not None else (None, False)
        try:
            return self._run(self.stage_jobs(call, dimension, owner, force, stage, later, leads))
        finally:
            if later is not None and leads:
                later.open_all()

    def again(
        self, call: PreparedCall, dimension: str, owner: str, force: bool, done: list[Done]
    ) -> Job:
        """One more sample of the stage `done` belongs to, keyed and marked after its last:
        a criterion left without a grounded quote is asked again once, not at once held."""
        last = max((job for job, _ in done), key=lambda j: j.sample)
        k = last.sample + 1
        return dataclasses.replace(
            last,
            work_key=self.work_key(call, dimension, owner, force) + f"#s{last.stage}.{k}",
            gate=None,
            lead=False,
            sample=k,
            of=k + 1,
        )

    def _run(self, jobs: list[Job]) -> tuple[list[Done], list[InvalidAnalysis], int]:
        """A stage's samples, in parallel: those done, those whose output stayed invalid after
        a repair, and the requests paid. Raises when every sample failed, or on any other
        error (a stop, a rejected request) once the others have finished."""
        if len(jobs) == 1:
            parts, n = self._sample(jobs[0])
            return [(jobs[0], parts)], [], n
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="sample") as pool:
            futures = [pool.submit(self._sample, job) for job in jobs]
        done: list[Done] = []
        failed: list[InvalidAnalysis] = []
        requests, error = 0, None
        for job, future in zip(jobs, futures, strict=True):
            try:
                parts, n = future.result()
            except InvalidAnalysis as exc:
                failed.append(exc)
            except BaseException as exc:  # raised below, once the others have finished
                error = error or exc
            else:
                done.append((job, parts))
                requests += n
        if error is not None:
            raise error
        if not done:
            raise failed[0]
        return done, failed, requests

    def _sample(self, job: Job) -> tuple[list[ChunkResult], int]:
        """One sample's chunks; when the sample that leads the prefix gate fails, the gate
        opens at once, so the samples and dimensions waiting for it go on instead of
        waiting out its timeout."""
        try:
            return self._score_chunks(job)
        except BaseException:
            if job.gate is not None and job.lead:
                job.gate.open_all()
            raise

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
        self.drain.check(f"call {job.call.call_id} {job.dimension} chunk {chunk.index}")
        work = self.chunks.claim(job, chunk)
        if work.assessment is not None:
            if job.gate is not None and job.lead:
                job.gate.open(chunk.index)
            return ChunkResult(
                DimensionAssessment.model_validate(work.assessment), chunk.new_tokens
            ), 0
        system, messages = self.request_for(
            job.call, chunk, job.dimension, self.s.claude_cache_ttl, job.marker
        )
        renew = self.chunks.renewer(job, chunk)
        with Heartbeat(renew, self.s.claude_claim_lease_s / 3):
            try:
                assessment, n = self.resolve(job, chunk, system, messages, work)
            except InvalidAnalysis as exc:
                error = str(exc)[:2000]
                self.db(lambda: self.chunks.finish(job, chunk, None, error))
                raise
            except BaseException:
                self.chunks.release(job, chunk)
                raise
        self.db(lambda: self.chunks.finish(job, chunk, assessment.model_dump(mode="json"), None))
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
        rubric = self.rubric(job.call, job.dimension)
        assessment, problems = self.validate(text, rubric, stop)
        if assessment is not None:
            return assessment, requests
        if work.responses >= 2 and requests == 0:
            raise InvalidAnalysis(
                f"{job.dimension}: output invalid after one repair: {problems[:500]}"
            )
        repair = prompts.repair_messages(messages, text, problems)
        repaired = self._request(job, chunk, system, repair, "repair", 2)
        assessment, problems = self.validate(repaired.text, rubric, repaired.stop_reason)
        if assessment is None:
            raise InvalidAnalysis(
                f"{job.dimension}: output invalid after one repair: {problems[:500]}"
            )
        return assessment, requests + 1

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
        """One paid request under a concurrency slot, its intent journalled before it is sent
        and held until its response is recorded (or the request failed: nothing billed)."""
        purpose = job.purpose(purpose)
        with ExitStack() as flight:
            with self.slots.slot(self.s.claude_slot_wait_s):
                self.drain.check(f"call {job.call.call_id} {job.dimension} {purpose} request")
                sent = self.intent(job, chunk, system, messages, purpose, attempt)
                flight.enter_context(self.ledger.in_flight(sent))
                try:
                    response = self.claude.structured(
                        model=job.model,
                        system=system,
                        messages=messages,
                        max_tokens=sent.max_tokens,
                        schema=DimensionAssessment,
                        on_begun=on_begun,
                    )
                except ClaudeRequestRejected as exc:
                    self.chunks.record_error(
                        job.call, job.dimension, job.model, exc.status_code, exc.message
                    )
                    raise
            self.chunks.record(job, chunk, response, purpose, attempt)
        return response

    def intent(
        self,
        job: Job,
        chunk: Chunk,
        system: Blocks,
        messages: Blocks,
        purpose: str,
        attempt: int,
        batch: bool = False,
    ) -> Intent:
        """What a request is about to be sent for, with its prompt's counted tokens."""
        return intent(
            self.prices,
            model=job.model,
            prompt_tokens=prompt_tokens(system, messages, self.s.token_scale),
            max_tokens=self.s.claude_max_output_tokens,
            call_id=job.call.call_id,
            dimension=job.dimension,
            chunk_index=chunk.index,
            purpose=self.chunks.label(purpose),
            attempt=attempt,
            batch=batch,
        )

    # -- results --------------------------------------------------------------------------
    def conclude(
        self,
        call: PreparedCall,
        dimension: str,
        owner: str,
        done: list[Done],
        failed: list[InvalidAnalysis],
        requests: int,
        force: bool = False,
        gate: PrefixGate | None = None,
    ) -> Outcome:
        """Judge the first stage's samples (`common.scoring.gate`); while they do not hold,
        ask the cascade's next stage; save the published result, or the last suggestion held
        for review, with every sample behind it."""
        cascade = self.s.cascade_for(dimension)
        rubric = self.rubric(call, dimension)
        grounder = Grounder(call.utterances, call.url, self.s.gong_moment_url_template)
        history: list[publish_gate.Sample] = []
        earlier: DimensionResult | None = None
        stage = done[0][0].stage  # 1 when no first-stage sample gave a valid answer
        # a lone sample (SCORING_CASCADE empty, or `modelx1`) is one request per chunk: it
        # is held when it does not hold, never asked again
        asked_again = cascade.max_requests == 1
        while True:
            samples = [
                publish_gate.Sample(
                    job.stage, job.sample, job.model, aggregate(dimension, rubric, parts, grounder)
                )
                for job, parts in done
            ]
            history += samples
            verdict = publish_gate.judge(
                rubric,
                samples,
                tolerance=self.s.publish_tolerance,
                earlier=earlier,
                flags=call.flags,
                failed=len(failed),
            )
            if not verdict.holds and verdict.lacks_only_evidence and not asked_again:
                asked_again = True  # the same model once more: its quotes may ground them
                try:
                    extra = self._run([self.again(call, dimension, owner, force, done)])
                except InvalidAnalysis:
                    extra = ([], [], 0)
                if extra[0]:
                    done, requests = done + extra[0], requests + extra[2]
                    history = history[: len(history) - len(samples)]
                    continue
            if verdict.holds or not verdict.escalate or stage + 1 >= len(cascade.stages):
                break
            try:
                more = self._escalate(call, dimension, owner, force, stage + 1, gate)
            except InvalidAnalysis as exc:
                log.info(
                    "call %s %s: stage %d gave no valid answer: %s",
                    call.call_id,
                    dimension,
                    stage + 2,
                    exc,
                )
                break
            stage, earlier = stage + 1, verdict.result
            done, failed, requests = more[0], more[1], requests + more[2]
        result = verdict.result.model_copy(
            update={
                "escalated": stage > 0,
                "cascade": str(cascade),
                "samples": [s.score() for s in history],
                "scoring_version": publish_gate.scoring_version_for(self.s, dimension),
            }
        )
        if result.quotes_dropped:
            log.info(
                "call %s %s: dropped %d ungrounded quotes",
                call.call_id,
                dimension,
                result.quotes_dropped,
            )
        session_id = self.save(call, dimension, done[0][0].model, result, None, force)
        return Outcome(
            dimension,
            session_id,
            False,
            result.overall_score,
            requests,
            result.state,
            result.escalated,
            call.call_id,
        )

    def finish(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        parts: list[ChunkResult],
        requests: int,
        force: bool = False,
        owner: str = "batch",
    ) -> Outcome:
        """Judge one sample's chunk results (the batch path's), asking later stages on demand."""
        job = self.job(call, dimension, owner, force)
        return self.conclude(call, dimension, owner, [(job, parts)], [], requests, force)

    def save(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        result: DimensionResult | None,
        error: str | None,
        force: bool = False,
    ) -> int:
        """A completed result or a failure, saved where the destination keeps them."""
        key, version = self.cache_key(call, dimension)
        scored = Scored(call, dimension, model, key, version, result, error)
        saved: int = self.db(lambda: self.destination.save(scored, force))
        return saved

    def from_cache(self, call: PreparedCall, dimension: str) -> Outcome | None:
        """Tier 1: reuse a completed session with the same key (recorded as a hit or a miss)."""
        key, version = self.cache_key(call, dimension)

        def look() -> Outcome | None:
            with transaction(self.database) as conn:
                row = sessions.find_cached(conn, key, call.transcript_hash, version)
                if row is not None and call.flags and row["state"] == "published":
                    row = None  # the transcript's copy was published; this call is flagged
                sessions.record_lookup(conn, call.call_id, dimension, key, hit=row is not None)
                if row is None:
                    return None
                session_id = (
                    row["id"]
                    if row["call_id"] == call.call_id
                    else sessions.copy_session(conn, row, call.call_id, call.rep_id)
                )
            overall = row["overall_score"]
            score = float(overall) if overall is not None else None
            return Outcome(
                dimension, session_id, True, score, 0, row["state"], row["escalated"], call.call_id
            )

        outcome: Outcome | None = self.db(look)
        return outcome

    def request_for(
        self,
        call: PreparedCall,
        chunk: Chunk,
        dimension: str,
        ttl: str,
        marker: str | None = None,
    ) -> tuple[Blocks, Blocks]:
        """(system, messages) for one chunk and dimension, in the cache-friendly layout;
        `marker` (`Job.marker`) says which sample the request is, after the cached prefix."""
        utts = call.utterances[chunk.start : chunk.end]
        content = [
            prompts.transcript_block(
                call.title, call.started, utts, chunk.index, len(call.chunks), ttl
            ),
            prompts.dimension_block(
                self.rubrics, dimension, call.metrics, self.variant(call, dimension)
            ),
        ]
        if marker:  # after the cached prefix: the samples share it
            content.append({"type": "text", "text": marker})
        messages: Blocks = [{"role": "user", "content": content}]
        return prompts.system_blocks(self.rubrics, ttl, self.s.coaching_language), messages

    def validate(
        self, text: str, rubric: Rubric, stop_reason: str | None = None
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
        problems = check_against_rubric(assessment, rubric)
        return (None, "; ".join(problems)) if problems else (assessment, "")


def prompt_tokens(system: Blocks, messages: Blocks, scale: float) -> int:
    """The prompt's tokens, counted offline (`common.scoring.token_counts`) from its text."""
    texts = [b.get("text", "") for b in system]
    for message in messages:
        content = message["content"]
        texts.extend(
            [content] if isinstance(content, str) else [b.get("text", "") for b in content]
        )
    return estimate("\n".join(texts), scale)
