"""The analyze-call flow: fetch and store the transcript, compute metrics, score dimensions.

    analyze_call(call_id, dimensions=ALL, force=False, override_budget=False)

One Prefect task per dimension (tag `claude`, so a tag concurrency limit bounds simultaneous
Claude requests). The first dimension that needs Claude streams; as soon as its response has
begun (its prompt-cache write is then readable) the others start in parallel with `.map` and
read the shared prefix, chunk by chunk (`common.scoring.PrefixGate`). Each
dimension retries on its own and a failed one does not lose the others; re-running the flow
pays only for the dimensions without a cached session.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any

from prefect import flow, task
from prefect.futures import PrefectFuture, wait

from common import costs, sessions
from common.calls import ensure_rep, fetch_call, load_stored_call, upsert_call
from common.chunking import split
from common.claude import ClaudeClient
from common.config import DIMENSIONS, Settings, settings
from common.db import transaction
from common.errors import BudgetExceeded, ClaudeError, ClaudeRequestRejected, InvalidAnalysis
from common.gong import GongClient
from common.metrics import compute
from common.rubrics import RubricSet, load, sync
from common.scoring import PrefixGate, PreparedCall, Scorer, estimate_cost
from common.storage import ObjectStore
from common.tokens import estimate_many

_scorer_instances: list[Scorer] = []


@lru_cache(maxsize=4)
def _scorer(s: Settings) -> Scorer:
    scorer = Scorer(s, ClaudeClient.from_settings(s), _rubrics(s))
    _scorer_instances.append(scorer)
    return scorer


@lru_cache(maxsize=4)
def _rubrics(s: Settings) -> RubricSet:
    rubric_set = load(s.rubrics_dir)
    with transaction(s.database_url) as conn:
        sync(conn, rubric_set)
    return rubric_set


def reset_runtime() -> None:
    """Close clients and forget memoised settings-bound objects (tests, config reloads)."""
    for scorer in _scorer_instances:
        scorer.claude.close()
    _scorer_instances.clear()
    _scorer.cache_clear()
    _rubrics.cache_clear()
    _prepared.clear()
    settings.cache_clear()


def prepare(s: Settings, call_id: str) -> PreparedCall:
    """The call with its transcript: from our store when we have it, else from Gong."""
    store = ObjectStore.from_settings(s)
    with transaction(s.database_url) as conn:
        fetched = load_stored_call(conn, store, call_id)
    if fetched is None:
        store.ensure_bucket()
        with GongClient.from_settings(s) as gong:
            fetched = fetch_call(gong, store, call_id)
    utts = fetched.utterances
    tokens = estimate_many([u.line() for u in utts], s.token_scale)
    if s.claude_count_tokens:
        tokens = _calibrated(s, [u.line() for u in utts], tokens)
    metrics = compute(utts)
    with transaction(s.database_url) as conn:
        ensure_rep(conn, fetched.call)
        upsert_call(conn, fetched, metrics, sum(tokens))
    meta = fetched.call.metaData
    return PreparedCall(
        call_id=call_id,
        rep_id=meta.primaryUserId,
        title=meta.title or "",
        started=meta.started.isoformat() if meta.started else "",
        url=meta.url,
        transcript_hash=fetched.transcript_hash,
        utterances=utts,
        chunks=split(tokens, s.chunk_max_tokens, s.chunk_overlap),
        metrics=metrics,
    )


def _calibrated(s: Settings, lines: list[str], tokens: list[int]) -> list[int]:
    """Scale per-utterance estimates so their sum matches Claude's own count of the transcript."""
    exact = _scorer(s).claude.count_tokens(
        model=s.claude_model, system=[], messages=[{"role": "user", "content": "\n".join(lines)}]
    )
    factor = exact / max(1, sum(tokens))
    return [max(1, round(t * factor)) for t in tokens]


_prepared: dict[tuple[str, str], PreparedCall] = {}


def prepared(s: Settings, call_id: str) -> PreparedCall:
    """Per-process memo so the dimension tasks of one run share one prepared call."""
    key = (s.database_url, call_id)
    if key not in _prepared:
        _prepared[key] = prepare(s, call_id)
    return _prepared[key]


@task(name="prepare-call", retries=6, retry_delay_seconds=[10, 30, 120, 300, 900, 1800])
def prepare_call(call_id: str) -> dict[str, Any]:
    """Fetch and store the call. Retried for about an hour: Gong may still be processing it."""
    s = settings()
    _prepared.pop((s.database_url, call_id), None)
    call = prepared(s, call_id)
    return {
        "transcript_hash": call.transcript_hash,
        "chunks": len(call.chunks),
        "tokens": sum(c.new_tokens for c in call.chunks),
    }


@task(name="plan-dimensions")
def plan(call_id: str, dimensions: list[str], force: bool, override_budget: bool) -> list[str]:
    """Dimensions that need Claude (no cached session); refuse them over budget."""
    s = settings()
    call, rubric_set = prepared(s, call_id), _rubrics(s)
    missing = dimensions if force else []
    if not force:
        with transaction(s.database_url) as conn:
            for d in dimensions:
                version = rubric_set.rubric_version(d)
                key = sessions.cache_key(d, call.transcript_hash, version)
                if sessions.find_cached(conn, key, call.transcript_hash, version) is None:
                    missing.append(d)
    if missing:
        with transaction(s.database_url) as conn:
            costs.check_budget(
                conn, s.monthly_budget_usd, estimate_cost(s, call, len(missing)), override_budget
            )
    return missing


def _retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures only: not a refused request, invalid output or the budget."""
    try:
        state.result()
    except (ClaudeRequestRejected, InvalidAnalysis, BudgetExceeded):
        return False
    except Exception:
        return True
    return False


@task(
    name="score-dimension",
    tags=["claude"],
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=_retryable,
)
def score_dimension(
    call_id: str, dimension: str, force: bool, gate_key: str | None = None, lead: bool = False
) -> dict[str, Any]:
    s = settings()
    gate = _gates.get(gate_key) if gate_key else None  # None when run outside the flow's process
    outcome = _scorer(s).score(prepared(s, call_id), dimension, force, gate=gate, lead=lead)
    return {
        "dimension": dimension,
        "session_id": outcome.session_id,
        "cached": outcome.cached,
        "overall_score": outcome.overall_score,
        "requests": outcome.requests,
    }


_gates: dict[str, PrefixGate] = {}


def _wait_for_prefix(gate: PrefixGate, first: PrefectFuture[dict[str, Any]]) -> None:
    """Until the leader's first response has begun, it finished, or the gate times out."""
    deadline = time.monotonic() + gate.timeout_s
    while not gate.is_open(0) and not first.state.is_final() and time.monotonic() < deadline:
        time.sleep(0.02)


@flow(name="analyze-call")
def analyze_call(
    call_id: str,
    dimensions: list[str] | None = None,
    force: bool = False,
    override_budget: bool = False,
) -> dict[str, Any]:
    dims = list(dimensions or DIMENSIONS)
    unknown = set(dims) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}; use {list(DIMENSIONS)}")
    prepare_call(call_id)
    missing = plan(call_id, dims, force, override_budget)
    ordered = missing + [d for d in dims if d not in missing]
    gate_key = f"{call_id}:{uuid.uuid4()}"
    _gates[gate_key] = PrefixGate(len(prepared(settings(), call_id).chunks))
    try:
        # the first dimension streams; the others start once its response (the cache write) has begun
        first = score_dimension.submit(call_id, ordered[0], force, gate_key, lead=True)
        _wait_for_prefix(_gates[gate_key], first)
        futures: list[PrefectFuture[dict[str, Any]]] = [first]
        if len(ordered) > 1:
            futures.extend(score_dimension.map(call_id, ordered[1:], force, gate_key, lead=False))
        wait(futures)
    finally:
        _gates.pop(gate_key, None)
    results, failed = {}, {}
    for dim, future in zip(ordered, futures, strict=True):
        state = future.state
        if state.is_completed():
            results[dim] = future.result()
        else:
            failed[dim] = str(state.message or state.name)
    s = settings()
    with transaction(s.database_url) as conn:
        spend = costs.call_cost(conn, call_id)
        costs.alert_on_low_hit_rate(conn)
    summary = {
        "call_id": call_id,
        "dimensions": results,
        "failed": failed,
        "usd": float(spend["usd"]),
        "requests": spend["requests"],
    }
    if failed:
        raise ClaudeError(f"call {call_id}: dimensions failed: {failed} (others were saved)")
    return summary
