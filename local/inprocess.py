"""Analysis runs without a worker: real flow runs in the Prefect API, executed in this process.

The dispatcher's starter creates each run in Prefect (so its id is the one the outbox keeps,
and the reconciler can read its state) and `run_all()` executes them here once the
dispatcher's transaction has committed. Used by the demo and by tests that need the flow's
own report to reach the outbox.
"""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.flow_engine import run_flow


class InProcessRuns:
    def __init__(self) -> None:
        self.runs: list[FlowRun] = []

    def __call__(self, call_ids: list[str], key: str) -> str:
        from flows.analyze_call import analyze_calls

        with get_client(sync_client=True) as client:
            run = client.create_flow_run(analyze_calls, parameters={"call_ids": call_ids})
        self.runs.append(run)
        return str(run.id)

    def run_all(self) -> list[Any]:
        """Execute the created runs in order; returns their final states."""
        from flows.analyze_call import analyze_calls

        states = []
        for run in self.runs:
            states.append(
                run_flow(
                    analyze_calls, flow_run=run, parameters=run.parameters, return_type="state"
                )
            )
        self.runs = []
        return states
