"""The analysis flows: thin Prefect wrappers around `common.scoring.ScoringService`.

    analyze_calls(call_ids, dimensions=ALL, force=False, override_budget=False)  # dispatcher
    analyze_call(call_id, ...)                                                  # one call

One run prepares its calls together (one Gong request per 100 ids), plans each (one tier-1
lookup, the budget guard), and scores each missing dimension as its own task: the lead
dimension streams and opens a `PrefixGate` as its response begins, the others are mapped at
once and wait on the gate (a callback, no polling), chunk by chunk. Every wait has a
deadline. Each call's end is reported to the outbox: completed, or back to pending with a
reason and a next attempt (outages never count towards parking the call).

SIGTERM (a deploy, a scale-in, a spot interruption's notice, `docker stop`) drains the run
(`drained_on_sigterm`): no new chunk is claimed and no new request sent, the requests in flight
finish and are recorded, the calls are reported, and the process exits within ANALYSIS_DRAIN_S.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from common.accuracy import notify_held
from common.config import DIMENSIONS, Settings, load_settings
from common.db import retrying, transaction
from common.errors import ClaudeError, is_transient
from common.intake import outbox
from common.monitoring import score_alerts
from common.repnotes import queue_for_call
from common.scoring.drain import Draining
from common.scoring.model import Outcome, PrefixGate, PreparedCall
from common.scoring.service import Plan, ScoringService

log = logging.getLogger("sales_coach.flows")


@task(name="prepare-calls", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def prepare_calls(
    service: ScoringService, call_ids: list[str]
) -> tuple[dict[str, PreparedCall], dict[str, Exception]]:
    """Fetch and store the calls; a call Gong is still processing is retried later."""
    return service.prepare(call_ids)


@task(name="plan-dimensions", cache_policy=NO_CACHE)
def plan_call(
    service: ScoringService,
    call: PreparedCall,
    dimensions: list[str],
    force: bool,
    override_budget: bool,
) -> Plan:
    return service.plan(call, dimensions, force, override_budget)


def _retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry outages only: not a refused request, invalid output or the budget, nor work
    refused because the process is stopping."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc) and not isinstance(exc, Draining)
    return False


@task(name="score-dimension", retry_condition_fn=_retryable, cache_policy=NO_CACHE)
def score_dimension(
    service: ScoringService,
    call: PreparedCall,
    dimension: str,
    owner: str,
    force: bool,
    gate: PrefixGate,
    lead: bool,
) -> Outcome:
    return service.score(call, dimension, owner=owner, force=force, gate=gate, lead=lead)


@dataclass
class CallRun:
    """One call's progress through a run."""

    call_id: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    futures: dict[str, PrefectFuture[Outcome]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    causes: list[BaseException] = field(default_factory=list)  # of the failed dimensions
    skipped: str | None = None  # why the applicability rules skipped the call
    error: Exception | None = None  # why the call could not be prepared or planned


def run_analysis(
    service: ScoringService,
    call_ids: list[str],
    dimensions: list[str],
    force: bool,
    override_budget: bool,
) -> list[CallRun]:
    """Prepare, plan and score the calls; report each call's end to the outbox."""
    owner = flow_run.get_id() or f"local:{uuid.uuid4()}"
    runs = {c: CallRun(c) for c in call_ids}
    try:
        ready, failed = prepare_calls(service, call_ids)
    except Exception as down:  # Gong or S3 down after retries: every call tries again later
        ready, failed = {}, dict.fromkeys(call_ids, down)
    for call_id, reason in failed.items():
        runs[call_id].error = reason
    for call_id, call in ready.items():
        try:
            plan = plan_call(service, call, dimensions, force, override_budget)
        except Exception as exc:
            runs[call_id].error = exc
            continue
        runs[call_id].skipped = plan.skipped
        runs[call_id].outcomes.update(plan.cached)
        if plan.missing:
            runs[call_id].futures = _submit(service, call, plan.missing, owner, force)
    _collect(service, runs, dimensions, owner)
    return list(runs.values())


def _collect(
    service: ScoringService, runs: dict[str, CallRun], dimensions: list[str], owner: str
) -> None:
    """Report each call as soon as its own dimensions are done (not in submission order), so
    the dispatcher can start the next calls while this run finishes its slowest ones."""
    owners = {id(f): r for r in runs.values() for f in r.futures.values()}
    left = {r.call_id: len(r.futures) for r in runs.values()}
    for r in runs.values():
        if not r.futures:
            _report(service, r, dimensions, owner)
    finished: queue.Queue[PrefectFuture[Outcome]] = queue.Queue()
    for r in runs.values():
        for future in r.futures.values():
            future.add_done_callback(finished.put)
    run_deadline = time.monotonic() + service.s.analysis_run_deadline_s
    waiting = sum(left.values())
    while waiting:
        deadline = min(run_deadline, service.drain.deadline)  # sooner once SIGTERM came
        try:  # a second at most: a drain that starts meanwhile shortens the deadline
            future = finished.get(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
        except queue.Empty:  # past the deadline: what is unfinished is reported failed
            if time.monotonic() >= deadline:
                break
            continue
        waiting -= 1
        r = owners[id(future)]
        left[r.call_id] -= 1
        if left[r.call_id] == 0:
            _settle(service, r, dimensions, owner)
    for r in runs.values():
        if left[r.call_id] > 0:
            _settle(service, r, dimensions, owner)


def _settle(service: ScoringService, r: CallRun, dimensions: list[str], owner: str) -> None:
    for dimension, future in r.futures.items():
        future.wait(timeout=1)
        state = future.state
        if state.is_completed():
            r.outcomes[dimension] = future.result()
            continue
        r.failed[dimension] = str(state.message or state.name)
        if state.is_final():  # past the run's deadline a dimension has no exception yet
            cause = future.result(raise_on_failure=False)
            if isinstance(cause, BaseException):
                r.causes.append(cause)
    _report(service, r, dimensions, owner)


def _submit(
    service: ScoringService, call: PreparedCall, missing: list[str], owner: str, force: bool
) -> dict[str, PrefectFuture[Outcome]]:
    """The lead dimension first; the others at once, released by its gate chunk by chunk."""
    s = service.s
    gate = PrefixGate(len(call.chunks), timeout_s=s.claude_slot_wait_s)
    scorer = score_dimension.with_options(
        retries=s.analysis_task_retries, retry_delay_seconds=s.analysis_task_retry_delay_s
    )
    futures = {missing[0]: scorer.submit(service, call, missing[0], owner, force, gate, True)}
    if len(missing) > 1:
        others = scorer.map(
            unmapped(service),
            unmapped(call),
            missing[1:],
            unmapped(owner),
            unmapped(force),
            unmapped(gate),
            unmapped(False),
        )
        futures.update(zip(missing[1:], others, strict=True))
    return futures


def held_notice(service: ScoringService, call_id: str) -> None:
    """The rep's manager told that scores of a call wait for their review; a failure is
    logged, never raised (the analysis is done whatever happens to its notice)."""
    try:
        with transaction(service.database) as conn:
            notify_held(service.s, conn, call_id)
    except Exception as exc:
        log.warning("held notice for call %s not sent: %s", call_id, type(exc).__name__)


def rep_note(service: ScoringService, call_id: str) -> None:
    """The rep's note on the call queued (`common.repnotes`, when REP_NOTES is on); a failure
    is logged, never raised."""
    if not service.s.rep_notes:
        return
    try:
        with transaction(service.database) as conn:
            queue_for_call(conn, call_id, service.s, rubric_set=service.rubrics)
    except Exception as exc:
        log.warning("rep note for call %s not queued: %s", call_id, type(exc).__name__)


def _report(service: ScoringService, r: CallRun, dimensions: list[str], owner: str) -> None:
    """The call's end to the outbox (its policy is `outbox.record_outcome`)."""
    s, database = service.s, service.database
    outcome = outbox.RunOutcome(
        r.call_id,
        owner,
        complete=set(DIMENSIONS) <= set(dimensions),
        error=r.error,
        failed=r.failed,
        causes=tuple(r.causes),
    )

    def write() -> None:
        with transaction(database) as conn:
            status = outbox.record_outcome(conn, outcome, outbox.Retry.from_settings(s))
        if status not in (None, "completed"):
            log.warning("call %s not analysed; its event is %s", r.call_id, status)
        elif status == "completed" and r.outcomes:
            score_alerts.after_call(database, s, r.call_id)
            if any(o.state == "needs_review" and not o.cached for o in r.outcomes.values()):
                held_notice(service, r.call_id)
            rep_note(service, r.call_id)

    try:
        retrying(write, s.db_outage_wait_s, "outbox")
    except Exception as exc:  # the reconciler sees the run's end and settles the event
        log.warning("call %s: outcome not recorded (%s)", r.call_id, type(exc).__name__)


def _summary(service: ScoringService, r: CallRun) -> dict[str, Any]:
    spend = service.call_spend(r.call_id)
    return {
        "call_id": r.call_id,
        "dimensions": {
            d: {
                "dimension": d,
                "session_id": o.session_id,
                "cached": o.cached,
                "overall_score": o.overall_score,
                "requests": o.requests,
                "state": o.state,
                "escalated": o.escalated,
            }
            for d, o in r.outcomes.items()
        },
        "failed": r.failed,
        "skipped": r.skipped,
        "usd": float(spend["usd"]),  # type: ignore[arg-type]
        "requests": spend["requests"],
    }


@contextmanager
def scoring_service(s: Settings) -> Iterator[ScoringService]:
    """The run's services, built once from the settings and closed at its end."""
    service = ScoringService.from_settings(s)
    try:
        yield service
    finally:
        service.close()


@contextmanager
def drained_on_sigterm(service: ScoringService) -> Iterator[None]:
    """SIGTERM drains the run instead of ending the process mid-request.

    The signal starts the service's drain (`common.scoring.drain`) and a watchdog that ends the
    process ANALYSIS_DRAIN_S later whatever it is doing (a request still in flight then is
    recorded as an estimate by the next process's ledger flush). When the block is over, the
    signal is handed to the handler it replaced (Prefect's: the run ends as crashed or
    cancelled, and the process exits as signalled). Outside the main thread (no signals there)
    the block runs as it is.
    """
    s = service.s

    def stop(signum: int, frame: object) -> None:
        if service.drain.started:
            return  # a second signal: the drain and its watchdog are already running
        service.drain.start(s.analysis_drain_s)
        log.warning(
            "SIGTERM: draining (no new Claude requests; those in flight finish), exit within"
            " %.0f s",
            s.analysis_drain_s,
        )
        watchdog = threading.Timer(s.analysis_drain_s, os._exit, args=(128 + signal.SIGTERM,))
        watchdog.daemon = True
        watchdog.start()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:
        previous = None
    if previous is None:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if service.drain.started:
            log.warning("drained: the requests in flight were recorded; stopping")
            if callable(previous):
                previous(signal.SIGTERM, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGTERM)


def _dimensions(dimensions: list[str] | None) -> list[str]:
    dims = list(dimensions or DIMENSIONS)
    unknown = set(dims) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}; use {list(DIMENSIONS)}")
    return dims


@flow(name="analyze-calls", task_runner=ThreadPoolTaskRunner(max_workers=64))  # type: ignore[arg-type]
def analyze_calls(
    call_ids: list[str],
    dimensions: list[str] | None = None,
    force: bool = False,
    override_budget: bool = False,
) -> dict[str, Any]:
    """Analyse several calls in one run (the dispatcher's unit of work)."""
    dims = _dimensions(dimensions)
    with scoring_service(load_settings()) as service, drained_on_sigterm(service):
        runs = run_analysis(service, call_ids, dims, force, override_budget)
        result = {r.call_id: _summary(service, r) for r in runs if r.error is None}
    problems = {
        r.call_id: str(r.error) if r.error else r.failed for r in runs if r.error or r.failed
    }
    if problems:
        raise ClaudeError(f"{len(problems)} of {len(runs)} calls not analysed: {problems}")
    return {"calls": result}


@flow(name="analyze-call", task_runner=ThreadPoolTaskRunner(max_workers=16))  # type: ignore[arg-type]
def analyze_call(
    call_id: str,
    dimensions: list[str] | None = None,
    force: bool = False,
    override_budget: bool = False,
) -> dict[str, Any]:
    """Analyse one call (Claude Desktop, the CLI); raises what stopped it."""
    dims = _dimensions(dimensions)
    with scoring_service(load_settings()) as service, drained_on_sigterm(service):
        (r,) = run_analysis(service, [call_id], dims, force, override_budget)
        if r.error is not None:
            raise r.error
        summary = _summary(service, r)
    if r.failed:
        raise ClaudeError(f"call {call_id}: dimensions failed: {r.failed} (others were saved)")
    return summary
