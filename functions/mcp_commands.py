"""The coaching MCP tools that change something: a manager's own score, a rep's dispute and
its resolution, a manager's word on the review queue, and queueing an analysis. Thin tools over
`common.insights.commands.Commands` and `Reviews` (the review queue and disputes as the
caller), registered by `functions.mcp_tools.create_server` beside the read tools."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations
from pydantic import Field, StrictBool, StrictInt

from common.accuracy import disputes, reviews
from common.accuracy.disputes import DisputeOut
from common.accuracy.reviews import ReviewQueue, ReviewRecorded
from common.config import Settings
from common.insights import requests
from common.insights.calls import view
from common.insights.commands import Commands
from common.insights.results import AnalysisStatus, ManagerScoreRecorded
from functions.mcp_boundary import WRITE, Answer, CallId, Detail, Dimension, tool_errors

LOOKUP_TURN_WAIT_S = 5.0  # longest analyze_call waits for the caller's next look-up turn
ManagerAnswer = StrictInt | Literal["na"]


class Reviews:
    """The review queue, a manager's answer to it, and a rep's dispute, as the caller (their
    identity first), over the read side's pool and team listings (`common.accuracy.reviews`,
    `common.accuracy.disputes` do the work and the checks)."""

    def __init__(self, commands: Commands, s: Settings) -> None:
        self.reads, self.s = commands.reads, s

    def queue(self, identity: str | None, limit: int) -> ReviewQueue:
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            scope = self.reads.teams.visible(conn, caller)
            return reviews.queue(conn, caller, scope, audit_share=self.s.audit_share, limit=limit)

    def review(self, identity: str | None, **answer: Any) -> ReviewRecorded:
        with self.reads.conn() as conn:
            return reviews.review(conn, self.reads.caller(conn, identity), **answer)

    def dispute(self, identity: str | None, **dispute: Any) -> DisputeOut:
        with self.reads.conn() as conn:
            return disputes.open_by_rep(conn, self.reads.caller(conn, identity), **dispute)


def register(
    mcp: FastMCP, commands: Commands, answer: Answer, who: Callable[[], str | None], s: Settings
) -> None:
    """Adds the command tools to `mcp`; `answer` and `who` are the server's (see create_server)."""
    people = Reviews(commands, s)

    @mcp.tool(annotations=WRITE)
    def record_manager_score(
        call_id: CallId,
        dimension: Annotated[Dimension, Field(description="The dimension you are scoring")],
        score: Annotated[
            StrictInt | None, Field(ge=1, le=5, description="1-5, or null: not applicable")
        ],
        reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why this score")],
        criterion: Annotated[
            str,
            Field(
                max_length=100, description="'overall' or a criterion id from the rubric resource"
            ),
        ] = "overall",
    ) -> ManagerScoreRecorded:
        """Record your own score for a dimension of a call (or one criterion of it), kept beside
        the AI's, never over it, and used to measure agreement. Managers and admins, for calls
        in their scope; nobody rates their own calls."""
        return answer(
            commands.record_manager_score,
            call_id=call_id,
            dimension=dimension,
            criterion=criterion,
            score=score,
            reason=reason,
        )

    @mcp.tool(annotations=WRITE)
    def dispute_score(
        call_id: CallId,
        dimension: Annotated[Dimension, Field(description="The dimension whose score you dispute")],
        reason: Annotated[
            str, Field(min_length=1, max_length=2000, description="Why the score is unfair")
        ],
        criterion: Annotated[
            str,
            Field(max_length=100, description="'overall' or the criterion id you dispute"),
        ] = "overall",
    ) -> DisputeOut:
        """Dispute the AI's score of one of your own calls (a dimension or one criterion of the
        rubric it was scored with), with your reason. Your manager sees it and either upholds
        the AI's score or records their own; the AI's score stays visible beside the outcome.
        Reps, for their own calls."""
        return answer(
            people.dispute,
            call_id=call_id,
            dimension=dimension,
            criterion=criterion,
            reason=reason,
        )

    @mcp.tool(annotations=WRITE)
    def resolve_dispute(
        dispute_id: Annotated[StrictInt, Field(ge=1, description="The id from list_disputes")],
        decision: Annotated[
            Literal["uphold", "override"],
            Field(description="uphold: the AI's score stands; override: your score replaces it"),
        ],
        reason: Annotated[
            str, Field(min_length=1, max_length=2000, description="Why, for the rep to read")
        ],
        score: Annotated[
            StrictInt | None,
            Field(ge=1, le=5, description="Your score, 1-5: required when overriding"),
        ] = None,
    ) -> DisputeOut:
        """Resolve a rep's dispute: uphold the AI's score, or override it with your own score
        (recorded as your manager score, with the reason, and counted in agreement).
        Managers and admins, for their team's calls."""
        return answer(
            commands.resolve_dispute,
            dispute_id=dispute_id,
            decision=decision,
            score=score,
            reason=reason,
        )

    @mcp.tool(annotations=WRITE)
    def review_score(
        call_id: CallId,
        dimension: Annotated[Dimension, Field(description="The dimension you are answering")],
        confirm: Annotated[
            StrictBool,
            Field(description="true: the AI's score stands (it becomes your score)"),
        ],
        note: Annotated[
            str, Field(min_length=1, max_length=2000, description="Why, for the rep to read")
        ],
        score: Annotated[
            ManagerAnswer | None,
            Field(description="Your score, 1-5 or 'na', when not confirming"),
        ] = None,
        criteria: Annotated[
            dict[str, ManagerAnswer] | None,
            Field(
                max_length=20,
                description="Your scores of criteria (id -> 1-5 or 'na'), as listed in review_queue",
            ),
        ] = None,
    ) -> ReviewRecorded:
        """Answer an item of review_queue: confirm the AI's score, or change it to yours (and
        score criteria if you like). Your word becomes the score the rep sees; the AI's stays
        beside it. Managers and admins, for their team's calls; one answer per score (change
        it later with record_manager_score)."""
        return answer(
            people.review,
            call_id=call_id,
            dimension=dimension,
            confirm=confirm,
            score=score,
            criteria=criteria,
            note=note,
        )

    @mcp.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, idempotent_hint=True, open_world_hint=True
        )
    )
    async def analyze_call(
        call_id: CallId,
        dimensions: Annotated[
            list[Dimension] | None, Field(description="Default: all four", max_length=4)
        ] = None,
        force: Annotated[
            StrictBool, Field(description="Re-analyse even if cached (admins; costs money)")
        ] = False,
        detail: Detail = "summary",
        ctx: Context | None = None,
    ) -> AnalysisStatus:
        """A call's coaching: from the cache at once, else queues the analysis (once, however
        often asked), reports progress per dimension and waits up to a short while."""
        with tool_errors():
            return await _analyze(
                commands, s, who(), call_id, list(dimensions or []), force, detail, ctx
            )


async def _requested(
    service: Commands, identity: str | None, call_id: str, dims: list[str], force: bool
) -> tuple[str, str | None, requests.Progress]:
    """`Commands.request_analysis`, waiting for the caller's next look-up turn (when one was
    needed) on the event loop, holding no connection and no thread, for up to
    LOOKUP_TURN_WAIT_S; past that the refusal says when to try again."""
    deadline = time.monotonic() + LOOKUP_TURN_WAIT_S
    while True:
        try:
            return await asyncio.to_thread(service.request_analysis, identity, call_id, dims, force)
        except requests.LookupNotDue as not_due:
            pause = not_due.retry_after_s + random.uniform(0.0, 0.2)  # not all at once
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)


async def _analyze(
    service: Commands,
    s: Settings,
    identity: str | None,
    call_id: str,
    dimensions: list[str] | None,
    force: bool,
    detail: str,
    ctx: Context | None,
) -> AnalysisStatus:
    dims = requests.dimensions(dimensions)
    asked = time.time()
    kind, run_id, now = await _requested(service, identity, call_id, dims, force)

    def status(state: Any, p: requests.Progress, message: str) -> AnalysisStatus:
        shaped = None
        if p.coaching is not None and state in ("cached", "completed"):
            shaped = view(p.coaching, detail)
        return AnalysisStatus(
            call_id=call_id,
            status=state,
            flow_run_id=run_id,
            done_dimensions=p.done,
            total_dimensions=p.total,
            coaching=shaped,
            message=message,
        )

    if kind == "cached":
        return status("cached", now, "from the analysis cache")
    deadline, reported = time.monotonic() + s.mcp_analyze_wait_s, -1
    while True:
        p = await asyncio.to_thread(service.analysis_progress, identity, call_id, dims)
        fresh = not force or (
            p.coaching is not None
            and all(
                d.analysed_at.timestamp() >= asked
                for d in p.coaching.dimensions
                if d.dimension in dims
            )
        )
        done = p.done if fresh else 0
        if ctx is not None and done != reported:
            await ctx.report_progress(done, p.total, f"{done} of {p.total} dimensions analysed")
            reported = done
        if done == p.total:
            return status("completed", p, "analysed now")
        if not force and p.outbox_status == "needs_attention":
            return status(
                "failed", p, f"the analysis failed and is parked for an admin: {p.last_error}"
            )
        if time.monotonic() >= deadline:
            why = f" (last attempt: {p.last_error})" if p.last_error else ""
            return status(
                "queued" if p.outbox_status == "pending" else "running",
                p,
                f"still in progress{why}: call analyze_call again in a minute",
            )
        await asyncio.sleep(0.5)
