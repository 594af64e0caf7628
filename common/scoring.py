"""Scoring one dimension of one call: tier-1 cache, Claude per chunk, repair, grounding.

Each Claude response is written to the cost ledger in its own transaction as soon as it
arrives, so nothing billed is lost and nothing is recorded twice, whatever fails later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from common import costs, prompts, sessions
from common.analysis import (
    ChunkResult,
    DimensionAssessment,
    DimensionResult,
    Grounder,
    aggregate,
    check_against_rubric,
)
from common.chunking import Chunk
from common.claude import ClaudeClient, ClaudeResponse
from common.config import Settings
from common.db import transaction
from common.errors import ClaudeRequestRejected, InvalidAnalysis
from common.metrics import ConversationMetrics
from common.rubrics import RubricSet
from common.transcript import Utterance

log = logging.getLogger("sales_coach.scoring")
Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class PreparedCall:
    """Everything the dimension scorers share for one call."""

    call_id: str
    rep_id: str | None
    title: str
    started: str
    url: str | None
    transcript_hash: str
    utterances: list[Utterance]
    chunks: list[Chunk]
    metrics: ConversationMetrics


@dataclass(frozen=True)
class Outcome:
    dimension: str
    session_id: int
    cached: bool
    overall_score: float
    requests: int


class PrefixGate:
    """Lets dimensions 2-4 start a chunk as soon as dimension 1's response for it has begun.

    The leading dimension opens chunk k when its streamed response for chunk k begins (its
    cache write is then readable); the others wait for that before requesting chunk k. The
    leader opens every chunk when it stops, whatever happened, so nobody waits forever.
    """

    def __init__(self, chunks: int, timeout_s: float = 600.0) -> None:
        self._events = [threading.Event() for _ in range(chunks)]
        self.timeout_s = timeout_s

    def open(self, chunk: int) -> None:
        self._events[chunk].set()

    def open_all(self) -> None:
        for event in self._events:
            event.set()

    def wait(self, chunk: int) -> bool:
        return self._events[chunk].wait(self.timeout_s)

    def is_open(self, chunk: int) -> bool:
        return self._events[chunk].is_set()


class Scorer:
    """Scores dimensions on demand; the batch path (`common.batches`) reuses its pieces."""

    def __init__(self, s: Settings, claude: ClaudeClient, rubrics: RubricSet) -> None:
        self.s, self.claude, self.rubrics = s, claude, rubrics
        self.prices = costs.price_table(s.prices_file)
        for model in {s.model_for(d) for d in rubrics.rubrics}:
            self.prices.check_model(model, datetime.now(UTC).date())

    def cache_key(self, call: PreparedCall, dimension: str) -> tuple[str, str]:
        version = self.rubrics.rubric_version(dimension)
        return sessions.cache_key(dimension, call.transcript_hash, version), version

    def score(
        self,
        call: PreparedCall,
        dimension: str,
        force: bool = False,
        gate: PrefixGate | None = None,
        lead: bool = False,
    ) -> Outcome:
        """Score one dimension. With a gate, the leader streams and opens it chunk by chunk;
        the others wait for it, so each chunk's prefix is written once and read three times."""
        try:
            return self._score(call, dimension, force, gate, lead)
        finally:
            if gate is not None and lead:
                gate.open_all()

    def _score(
        self, call: PreparedCall, dimension: str, force: bool, gate: PrefixGate | None, lead: bool
    ) -> Outcome:
        if not force and (hit := self.from_cache(call, dimension)) is not None:
            return hit
        model = self.s.model_for(dimension)
        parts, requests = [], 0
        try:
            for chunk in call.chunks:
                system, messages = self.request_for(call, chunk, dimension, self.s.claude_cache_ttl)
                if gate is not None and not lead:
                    gate.wait(chunk.index)
                begun = partial(gate.open, chunk.index) if gate is not None and lead else None
                response = self._request(
                    call, dimension, chunk, model, system, messages, "score", begun
                )
                assessment, n = self.validated(
                    call, chunk, dimension, model, system, messages, response
                )
                parts.append(ChunkResult(assessment, chunk.new_tokens))
                requests += n
        except (InvalidAnalysis, ClaudeRequestRejected) as exc:
            self.save(call, dimension, model, None, str(exc)[:2000])
            raise
        return self.finish(call, dimension, model, parts, requests)

    def finish(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        parts: list[ChunkResult],
        requests: int,
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
        session_id = self.save(call, dimension, model, result, None)
        return Outcome(dimension, session_id, False, result.overall_score, requests)

    def save(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        result: DimensionResult | None,
        error: str | None,
    ) -> int:
        """A completed session (with result) or a failed one (with the error)."""
        key, version = self.cache_key(call, dimension)
        with transaction(self.s.database_url) as conn:
            return sessions.insert_session(
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
            )

    def from_cache(self, call: PreparedCall, dimension: str) -> Outcome | None:
        """Tier 1: reuse a completed session with the same key (recorded as a hit or a miss)."""
        key, version = self.cache_key(call, dimension)
        with transaction(self.s.database_url) as conn:
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

    def validated(
        self,
        call: PreparedCall,
        chunk: Chunk,
        dimension: str,
        model: str,
        system: Blocks,
        messages: Blocks,
        response: ClaudeResponse,
    ) -> tuple[DimensionAssessment, int]:
        """The response's assessment, after one on-demand repair request if it is invalid."""
        assessment, problems = self._validate(response, dimension)
        if assessment is not None:
            return assessment, 1
        repair = prompts.repair_messages(messages, response.text, problems)
        repaired = self._request(call, dimension, chunk, model, system, repair, "repair")
        assessment, problems = self._validate(repaired, dimension)
        if assessment is None:
            raise InvalidAnalysis(f"{dimension}: output invalid after one repair: {problems[:500]}")
        return assessment, 2

    def record(
        self,
        call: PreparedCall,
        dimension: str,
        chunk: Chunk,
        response: ClaudeResponse,
        purpose: str,
        batch: bool = False,
    ) -> None:
        """One cost-ledger row for one response, in its own transaction."""
        usd = self.prices.cost(
            response.model, response.usage, datetime.now(UTC).date(), batch=batch
        )
        with transaction(self.s.database_url) as conn:
            costs.record_usage(
                conn,
                model=response.model,
                usage=response.usage,
                usd=usd,
                call_id=call.call_id,
                dimension=dimension,
                chunk_index=chunk.index,
                purpose=purpose,
                request_id=response.request_id,
                batch=batch,
            )

    def record_error(
        self, call: PreparedCall, dimension: str, model: str, status: int | None, message: str
    ) -> None:
        with transaction(self.s.database_url) as conn:
            costs.record_error(
                conn,
                model=model,
                call_id=call.call_id,
                dimension=dimension,
                status_code=status,
                message=message,
            )

    def _request(
        self,
        call: PreparedCall,
        dimension: str,
        chunk: Chunk,
        model: str,
        system: Blocks,
        messages: Blocks,
        purpose: str,
        on_begun: Callable[[], None] | None = None,
    ) -> ClaudeResponse:
        try:
            response = self.claude.structured(
                model=model,
                system=system,
                messages=messages,
                max_tokens=self.s.claude_max_output_tokens,
                schema=DimensionAssessment,
                on_begun=on_begun,
            )
        except ClaudeRequestRejected as exc:
            self.record_error(call, dimension, model, exc.status_code, exc.message)
            raise
        self.record(call, dimension, chunk, response, purpose)
        return response

    def _validate(
        self, response: ClaudeResponse, dimension: str
    ) -> tuple[DimensionAssessment | None, str]:
        if response.stop_reason == "max_tokens":
            return None, "the answer was cut off at max_tokens; be more concise"
        try:
            assessment = DimensionAssessment.model_validate_json(response.text)
        except ValidationError as exc:
            return None, "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10]
            )
        problems = check_against_rubric(assessment, self.rubrics.rubrics[dimension])
        return (None, "; ".join(problems)) if problems else (assessment, "")


def estimate_cost(
    s: Settings, call: PreparedCall, dimensions: int, prefix_tokens: int = 4000
) -> float:
    """A pessimistic estimate of one analysis (first write, reads, output) for the budget guard."""
    prices = costs.price_table(s.prices_file)
    prompt = prefix_tokens + sum(c.tokens for c in call.chunks)
    p = prices.price(s.claude_model, datetime.now(UTC).date(), prompt)
    per_chunk_output = 1500 * dimensions * len(call.chunks)
    dollars = (
        prompt * float(p.cache_write_5m)
        + prompt * (dimensions - 1) * float(p.cache_read)
        + per_chunk_output * float(p.output)
    ) / 1e6
    return round(dollars, 4)
