"""Starting Prefect flow runs of the analyze-call deployment."""

from __future__ import annotations

from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment


def start_analysis_run(deployment: str, call_id: str, idempotency_key: str) -> str:
    """Create a run of `deployment` for the call and return its id without waiting.

    Prefect returns the existing run for a repeated idempotency key, so a retried dispatch
    never starts a second analysis of the same delivery.
    """
    run = run_deployment(
        deployment,
        parameters={"call_id": call_id},
        idempotency_key=idempotency_key,
        timeout=0,
        as_subflow=False,
    )
    assert isinstance(run, FlowRun)  # the synchronous call path
    return str(run.id)
