"""Scoring one dimension of one call: tier-1 cache, Claude per chunk, repair, grounding.

Each Claude response is written to the cost ledger in its own transaction as soon as it
arrives, so nothing billed is lost and nothing is recorded twice, whatever fails later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
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


class Scorer:
    def __init__(self, s: Settings, claude: ClaudeClient, rubrics: RubricSet) -> None:
        self.s, self.claude, self.rubrics = s, claude, rubrics
        self.prices = costs.price_table(s.prices_file)

    def score(self, call: PreparedCall, dimension: str, force: bool = False) -> Outcome:
        version = self.rubrics.rubric_version(dimension)
        key = sessions.cache_key(dimension, call.transcript_hash, version)
        if not force and (hit := self._from_cache(call, dimension, key, version)) is not None:
            return hit
        model = self.s.model_for(dimension)
        parts, requests = [], 0
        try:
            for chunk in call.chunks:
                assessment, n = self._assess_chunk(call, chunk, dimension, model)
                parts.append(ChunkResult(assessment, chunk.new_tokens))
                requests += n
        except (InvalidAnalysis, ClaudeRequestRejected) as exc:
            self._save(call, dimension, model, key, version, None, str(exc)[:2000])
            raise
        grounder = Grounder(call.utterances, call.url, self.s.gong_moment_url_template)
        result = aggregate(dimension, self.rubrics.rubrics[dimension], parts, grounder)
        if result.quotes_dropped:
            log.info(
                "call %s %s: dropped %d ungrounded quotes",
                call.call_id,
                dimension,
                result.quotes_dropped,
            )
        session_id = self._save(call, dimension, model, key, version, result, None)
        return Outcome(dimension, session_id, False, result.overall_score, requests)

    def _save(
        self,
        call: PreparedCall,
        dimension: str,
        model: str,
        key: str,
        version: str,
        result: DimensionResult | None,
        error: str | None,
    ) -> int:
        """A completed session (with result) or a failed one (with the error)."""
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

    def _from_cache(
        self, call: PreparedCall, dimension: str, key: str, version: str
    ) -> Outcome | None:
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

    def _assess_chunk(
        self, call: PreparedCall, chunk: Chunk, dimension: str, model: str
    ) -> tuple[DimensionAssessment, int]:
        ttl = self.s.claude_cache_ttl
        system = prompts.system_blocks(self.rubrics, ttl)
        utts = call.utterances[chunk.start : chunk.end]
        messages: list[dict[str, Any]] = [
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
        response = self._request(call, dimension, chunk, model, system, messages, "score")
        assessment, problems = self._validate(response, dimension)
        if assessment is not None:
            return assessment, 1
        repaired = self._request(
            call,
            dimension,
            chunk,
            model,
            system,
            prompts.repair_messages(messages, response.text, problems),
            "repair",
        )
        assessment, problems = self._validate(repaired, dimension)
        if assessment is None:
            raise InvalidAnalysis(f"{dimension}: output invalid after one repair: {problems[:500]}")
        return assessment, 2

    def _request(
        self,
        call: PreparedCall,
        dimension: str,
        chunk: Chunk,
        model: str,
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        purpose: str,
    ) -> ClaudeResponse:
        try:
            response = self.claude.structured(
                model=model,
                system=system,
                messages=messages,
                max_tokens=self.s.claude_max_output_tokens,
                schema=DimensionAssessment,
            )
        except ClaudeRequestRejected as exc:
            with transaction(self.s.database_url) as conn:
                costs.record_error(
                    conn,
                    model=model,
                    call_id=call.call_id,
                    dimension=dimension,
                    status_code=exc.status_code,
                    message=exc.message,
                )
            raise
        usd = self.prices.cost(response.model, response.usage, datetime.now(UTC).date())
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
            )
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


def result_of(row: dict[str, Any]) -> DimensionResult:
    return DimensionResult.model_validate(row["result"])
