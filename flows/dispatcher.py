"""Draining the webhook outbox into analysis runs, and following those runs to their end.

In production this flow runs on a one-minute schedule; locally `python -m flows.dispatcher`
loops. Each pass (1) reconciles: dispatched events whose run crashed, failed, hung past its
deadline or vanished are re-queued (`common.intake.outbox.reconcile`); (2) dispatches: due pending
events are claimed with `FOR UPDATE SKIP LOCKED` and started in runs of up to CALLS_PER_RUN
calls; (3) alerts once about calls newly parked as `needs_attention`. Prefect being down only
delays a pass: events stay where they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from prefect import flow

from common.config import Settings, load_settings
from common.db import Row, transaction
from common.intake import outbox
from common.intake.outbox import DispatchResult, Reconciled, RunStarter, RunState
from common.intake.runs import cancel_run, read_run_states, start_analysis_run
from common.monitoring.alerts import alert_parked
from common.scoring import Applicability, load_applicability
from common.scoring import analysed as analysed_calls

log = logging.getLogger("sales_coach.dispatcher")


@dataclass
class Pass:
    dispatched: DispatchResult
    reconciled: Reconciled = field(default_factory=Reconciled)
    parked: list[Row] = field(default_factory=list)


def default_starter(s: Settings) -> RunStarter:
    return lambda call_ids, key: start_analysis_run(s.analyze_deployment, call_ids, key)


def analysed(rules: Applicability) -> Callable[[psycopg.Connection[Row], str], bool]:
    """The reconciler's question, answered by the one rule (`common.scoring.analysed`): the
    call's type's dimensions each have a current session, or a skip rule matched it."""
    return lambda conn, call_id: call_id in analysed_calls(conn, [call_id], rules)


def dispatch_once(
    s: Settings,
    start_run: RunStarter | None = None,
    read_states: Callable[[list[str]], dict[str, RunState]] = read_run_states,
    cancel: Callable[[str], None] = cancel_run,
) -> Pass:
    """One pass: reconcile, dispatch, alert. Prefect's side can be replaced (tests, demo)."""
    starter = start_run or default_starter(s)
    retry = outbox.Retry.from_settings(s)
    reconciled = Reconciled()
    try:
        rules = load_applicability(s.rubrics_dir)
        with transaction(s.database_url) as conn:
            reconciled = outbox.reconcile(
                conn, read_states, cancel, retry, s.analysis_run_deadline_s, analysed(rules)
            )
    except Exception as exc:  # Prefect or Postgres away: reconcile on the next pass
        log.warning("reconcile skipped: %s: %s", type(exc).__name__, str(exc)[:200])
    with transaction(s.database_url) as conn:
        conn.execute("SELECT ensure_session_partitions(current_date, 5)")  # next quarters exist
        result = outbox.dispatch_pending(
            conn, starter, s.dispatch_batch_size, s.calls_per_run, s.max_calls_in_flight
        )
        parked = outbox.unalerted(conn)
    if parked:
        alert_parked(s, parked)
    if result.started or result.failed or reconciled.requeued or reconciled.completed:
        log.info(
            "dispatched %d in %d runs, kept %d pending; re-queued %d, settled %d",
            len(result.started),
            len(result.runs),
            len(result.failed),
            len(reconciled.requeued),
            len(reconciled.completed),
        )
    return Pass(result, reconciled, parked)


@flow(name="dispatch-webhook-events", log_prints=True)
def dispatch_webhook_events() -> dict[str, list[str]]:
    p = dispatch_once(load_settings())
    return {
        "started": p.dispatched.started,
        "failed": p.dispatched.failed,
        "requeued": p.reconciled.requeued,
        "parked": [r["call_id"] for r in p.parked],
    }


def run_forever(s: Settings, interval_s: float = 5.0, stop_after: float | None = None) -> None:
    """The local long-running dispatcher loop."""
    deadline = time.monotonic() + stop_after if stop_after else None
    while deadline is None or time.monotonic() < deadline:
        try:
            dispatch_once(s)
        except Exception as exc:  # keep looping: the events stay pending
            log.warning("dispatch pass failed: %s", type(exc).__name__)
        time.sleep(interval_s)


if __name__ == "__main__":
    s = load_settings()
    logging.basicConfig(level=s.log_level)
    run_forever(s)
