"""The coaching MCP tools that change something: a manager's own score, a rep's dispute and
its resolution, a manager's word on the review queue, and queueing an analysis. Thin tools over
`common.insights.commands.Commands` and `Reviews` (the review queue and disputes as the
caller), registered by `functions.mcp_tools.create_server` beside the read tools."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations
from pydantic import Field, StrictBool, StrictInt
from starlette.requests import Request
from starlette.responses import HTMLResponse

from common import repnotes
from common.accuracy import disputes, reviews
from common.accuracy.disputes import DisputeOut
from common.accuracy.reviews import ReviewQueue, ReviewRecorded
from common.config import Settings
from common.insights import requests
from common.insights.calls import view
from common.insights.commands import Commands
from common.insights.results import AnalysisStatus, ManagerScoreRecorded
from functions import mcp_plans, mcp_roles
from functions.mcp_boundary import WRITE, Answer, CallId, Detail, Dimension, Rep, tool_errors

IDEMPOTENT = ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False)
LOOKUP_TURN_WAIT_S = 5.0  # longest analyze_call waits for the caller's next look-up turn
ManagerAnswer = StrictInt | Literal["na"]
log = logging.getLogger("sales_coach.mcp")


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
            return reviews.review(conn, self.reads.caller(conn, identity), **answer, s=self.s)

    def dispute(self, identity: str | None, **dispute: Any) -> DisputeOut:
        with self.reads.conn() as conn:
            return disputes.open_by_rep(conn, self.reads.caller(conn, identity), **dispute)


class Notes:
    """The rep's notes after each call, as the caller (`common.repnotes` does the work and
    the checks)."""

    def __init__(self, commands: Commands, s: Settings) -> None:
        self.reads, self.s = commands.reads, s

    def acknowledge(self, identity: str | None, note_id: int) -> repnotes.NoteAcknowledged:
        with self.reads.conn() as conn:
            return repnotes.acknowledge_as(conn, self.reads.caller(conn, identity), note_id)

    def preferences(self, identity: str | None, **chosen: Any) -> repnotes.NotePreferences:
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            return repnotes.set_preferences(conn, caller, self.s, **chosen)

    def hold(self, identity: str | None, rep: str, hold: bool) -> repnotes.NotePreferences:
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            return repnotes.hold_notes(conn, caller, self.s, rep, hold)


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

    _register_notes(mcp, Notes(commands, s), answer, s)
    mcp_roles.register(mcp, commands, answer)
    mcp_plans.register(mcp, commands, answer, s)


def _register_notes(mcp: FastMCP, notes: Notes, answer: Answer, s: Settings) -> None:
    """The rep's note tools, and the one-click acknowledgement link (GET: a page with one
    button, so a link previewer acknowledges nothing; POST: the click, its time kept)."""

    @mcp.tool(annotations=IDEMPOTENT)
    def acknowledge_note(
        note_id: Annotated[
            StrictInt, Field(ge=1, description="The note's number, as its message names it")
        ],
    ) -> repnotes.NoteAcknowledged:
        """Acknowledge a coaching note sent to you after one of your calls (the first time is
        kept). Your own notes only."""
        return answer(notes.acknowledge, note_id)

    @mcp.tool(annotations=IDEMPOTENT)
    def set_note_preferences(
        channel: Annotated[
            Literal["slack", "email"] | None,
            Field(description="Where your notes go: a Slack DM or e-mail (null: unchanged)"),
        ] = None,
        cadence: Annotated[
            Literal["each_call", "daily", "weekly", "off"] | None,
            Field(
                description="each_call, daily (one digest a morning), weekly (Mondays) or off"
                " (null: unchanged)"
            ),
        ] = None,
    ) -> repnotes.NotePreferences:
        """How you get the short coaching note after each of your calls: the channel and how
        often. Notes not yet sent follow the change; off skips them."""
        return answer(notes.preferences, channel=channel, cadence=cadence)

    @mcp.tool(annotations=IDEMPOTENT)
    def hold_notes(
        rep: Annotated[Rep, Field(description="The rep whose notes you hold or release")],
        hold: Annotated[
            StrictBool,
            Field(
                description="true: hold each note until you have reviewed the call; false: release"
            ),
        ],
    ) -> repnotes.NotePreferences:
        """Hold a rep's coaching notes until you have looked: each call's note waits until
        you review a score of that call (review_score), or until you lift the hold (then the
        held notes go out). Managers and admins, for reps in their team."""
        return answer(notes.hold, rep, hold)

    @mcp.custom_route(repnotes.ACK_PATH, methods=["GET", "POST"], include_in_schema=False)
    async def acknowledge_link(request: Request) -> HTMLResponse:
        note, sig = request.query_params.get("note"), request.query_params.get("sig")
        if request.method == "GET":
            valid = repnotes.verified_note(s, note, sig) is not None
            page = repnotes.ack_page(None, confirm=valid)
            return HTMLResponse(page, status_code=200 if valid else 403)
        try:
            done = await asyncio.to_thread(
                repnotes.acknowledge_by_link, s, notes.reads.database, note, sig
            )
        except Exception as exc:
            log.warning("note acknowledgement failed: %s", type(exc).__name__)
            return HTMLResponse(repnotes.ack_page(None, confirm=False), status_code=503)
        return HTMLResponse(
            repnotes.ack_page(done, confirm=False), status_code=200 if done else 403
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
