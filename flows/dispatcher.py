"""Draining the webhook outbox into analyze-call deployment runs.

In production this flow runs on a one-minute schedule; locally `python -m flows.dispatcher`
loops. Events are claimed with `FOR UPDATE SKIP LOCKED`, so several dispatchers never start
the same event, and each run is created with the call id as its idempotency key, so a start
that succeeded but was not recorded is never repeated by Prefect.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from prefect import flow

from common.config import Settings, settings
from common.db import transaction
from common.outbox import DispatchResult, RunStarter, dispatch_pending
from common.runs import start_analysis_run

log = logging.getLogger("sales_coach.dispatcher")


def dispatch_once(s: Settings, start_run: RunStarter | None = None) -> DispatchResult:
    starter = start_run or (
        lambda call_id, key: start_analysis_run(s.analyze_deployment, call_id, key)
    )
    with transaction(s.database_url) as conn:
        conn.execute("SELECT ensure_session_partitions(current_date, 5)")  # next quarters exist
        result = dispatch_pending(conn, starter, s.dispatch_batch_size)
    if result.started or result.failed:
        log.info("dispatched %d, kept %d pending", len(result.started), len(result.failed))
    return result


@flow(name="dispatch-webhook-events", log_prints=True)
def dispatch_webhook_events() -> dict[str, list[str]]:
    result = dispatch_once(settings())
    return {"started": result.started, "failed": result.failed}


def run_forever(s: Settings, interval_s: float = 5.0, stop_after: float | None = None) -> None:
    """The local long-running dispatcher loop."""
    deadline = time.monotonic() + stop_after if stop_after else None
    step = partial(dispatch_once, s)
    while deadline is None or time.monotonic() < deadline:
        try:
            step()
        except Exception as exc:  # keep looping: the events stay pending
            log.warning("dispatch pass failed: %s", type(exc).__name__)
        time.sleep(interval_s)


if __name__ == "__main__":
    logging.basicConfig(level=settings().log_level)
    run_forever(settings())
