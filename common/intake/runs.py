"""Prefect, as the outbox sees it: create analysis runs, read how they ended, cancel hung ones."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Cancelled

from common.intake.outbox import RunState


def start_analysis_run(
    deployment: str, call_ids: list[str], idempotency_key: str, **parameters: Any
) -> str:
    """Create a run of `deployment` for the calls and return its id without waiting.

    Prefect returns the existing run for a repeated idempotency key, so a dispatch whose start
    succeeded but was not recorded never starts a second analysis of the same attempt.
    """
    run = run_deployment(
        deployment,
        parameters={"call_ids": call_ids, **parameters},
        idempotency_key=idempotency_key,
        timeout=0,
        as_subflow=False,
    )
    assert isinstance(run, FlowRun)  # the synchronous call path
    return str(run.id)


def read_run_states(run_ids: list[str]) -> dict[str, RunState]:
    """The state of each run that exists (a missing id was deleted or never created)."""
    if not run_ids:
        return {}
    states: dict[str, RunState] = {}
    with get_client(sync_client=True) as client:
        for start in range(0, len(run_ids), 200):
            ids = run_ids[start : start + 200]
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),  # type: ignore[arg-type]
                limit=len(ids),
            )
            for run in runs:
                state = run.state
                states[str(run.id)] = RunState(
                    state.type.value if state else "PENDING", (state.message or "") if state else ""
                )
    return states


def cancel_run(run_id: str) -> None:
    """Cancel a hung run (a process worker then stops its process)."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelled(message="hung past its deadline"), force=True)  # type: ignore[arg-type]
