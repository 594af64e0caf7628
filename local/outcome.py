"""How a run of the whole system ended, read from its Postgres and its Prefect API: shared by
`bench/chaos.py` and `local/deploy_e2e.py`, so both count calls, parked calls and paid
requests the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from common.config import ROOT


def events(db_url: str) -> dict[str, int]:
    """webhook_events by status."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM webhook_events GROUP BY status"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def in_flight_runs(api_url: str) -> int:
    """Flow runs scheduled, pending, running or cancelling."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    live = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=live))
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=state))
    # a scheduled run of a deployment on a schedule (the dispatcher) is not work in flight
    return sum(1 for r in runs if not (r.state_type == StateType.SCHEDULED and r.auto_scheduled))


def settle(
    db_url: str, api_url: str, calls: int, deadline: float, log: Callable[[str], None]
) -> bool:
    """Wait until every call is completed or parked and no run is in flight, or the deadline
    (monotonic); True when it settled."""
    last = ""
    while time.monotonic() < deadline:
        try:
            counts, live = events(db_url), in_flight_runs(api_url)
        except Exception as exc:  # Postgres or Prefect busy: look again
            log(f"settle check failed: {type(exc).__name__}")
            time.sleep(3)
            continue
        line = f"events {counts}, runs in flight {live}"
        if line != last:
            log(line)
            last = line
        if counts.get("completed", 0) + counts.get("needs_attention", 0) == calls and not live:
            return True
        time.sleep(3)
    log("deadline reached before the pipeline settled")
    return False


def results(db_url: str) -> dict[str, Any]:
    """analysed, parked, paid_requests (rows in claude_usage, estimates included),
    killed_in_flight (estimated rows: requests in flight when a process was killed, paid but
    never answered), paid_twice (call, dimension, chunk and purpose paid more than once, not
    counting a killed request's estimate: asking again after a kill is the unavoidable cost,
    reported as killed_in_flight), duplicate_sessions."""
    queries = {
        "parked": "SELECT count(*) FROM webhook_events WHERE status = 'needs_attention'",
        "paid_requests": "SELECT count(*) FROM claude_usage",
        "killed_in_flight": "SELECT count(*) FROM claude_usage WHERE estimated",
        "paid_twice": "SELECT count(*) FROM (SELECT 1 FROM claude_usage WHERE NOT estimated"
        " GROUP BY call_id,"
        " dimension, chunk_index, purpose HAVING count(*) > 1) x",
        "duplicate_sessions": "SELECT count(*) FROM (SELECT 1 FROM current_sessions"
        " GROUP BY call_id, dimension HAVING count(*) > 1) x",
    }
    with psycopg.connect(db_url) as conn:
        out = {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}  # type: ignore[index]
        return {"analysed": analysed(conn), **out}


def analysed(conn: psycopg.Connection[Any]) -> int:
    """Calls analysed by the one rule (`common.scoring.analysed`: a current session for each
    dimension their call type scores, or skipped by a rule)."""
    from common.scoring import analysed as analysed_calls
    from common.scoring import load_applicability

    ids = [r[0] for r in conn.execute("SELECT id FROM calls").fetchall()]
    return len(analysed_calls(conn, ids, load_applicability(ROOT / "rubrics")))
