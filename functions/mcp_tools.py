"""The coaching MCP tools: thin tools over `common.insights.Insights`, built by
`create_server` (`functions.mcp_server` serves them over stdio or HTTP).

Who is asking comes from the transport: over HTTP from the verified credential (`MCP_AUTH`:
our bearer tokens, the identity provider's JWTs, or OAuth sign-in through it), over stdio from
`MCP_USER`. Every tool answers inside the caller's scope only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import psycopg
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from mcp.types import ToolAnnotations
from psycopg_pool import PoolTimeout
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from common.access.identity import auth_provider, caller_for_identity, identity_of
from common.accuracy.disputes import DisputeList, DisputeOut
from common.config import DIMENSIONS, Settings
from common.db import Database
from common.errors import CoachError
from common.insights import requests
from common.insights.calls import CallPage, CallView, SearchQuery, view
from common.insights.commands import Commands
from common.insights.performance import Comparison, RepPerformance, TeamOverview
from common.insights.results import (
    AccessLog,
    AgreementOut,
    AnalysisStatus,
    CostReport,
    HealthOut,
    ManagerScoreRecorded,
    WeeklyReportOut,
)
from common.insights.service import Insights
from common.reports.weekly import rebuild_team
from common.storage import ObjectStore

T = TypeVar("T")
Dimension = Literal["product_knowledge", "discovery", "objections", "engagement"]
READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False)
CallId = Annotated[
    str,
    Field(
        description="Gong call id (as in the call's Gong URL, ?id=...)",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
    ),
]
Rep = Annotated[
    str,
    Field(
        description="A rep's Gong user id, email address or full name",
        min_length=1,
        max_length=200,
    ),
]
Weeks = Annotated[int, Field(ge=1, le=52, description="Weeks back, including this one")]
Offset = Annotated[int, Field(ge=0, le=100_000, description="Reps to skip (the next page)")]
Limit = Annotated[int, Field(ge=1, le=200, description="Reps per page")]
Score = Annotated[float, Field(ge=1, le=5)]
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="summary: scores, top strength and improvement; full: every criterion"),
]
UNAVAILABLE = "the coaching database is not reachable right now; try again in a minute"
REFUSED_VALUE = (
    "a value is out of range or holds a character that cannot be stored (a date too far out,"
    " a NUL character): check the arguments"
)
FAILED = "the coaching server failed on this request; an admin can find it in the server log"
log = logging.getLogger("sales_coach.mcp")
INSTRUCTIONS = (
    "Sales-call coaching from Gong calls scored by Claude on four dimensions (product_knowledge,"
    " discovery, objections, engagement; 1-5). Name reps by name. Quote evidence with its Gong"
    " link. Scores are only as good as the rubric: read the rubric resources to explain a score."
)


@contextmanager
def tool_errors() -> Iterator[None]:
    """The MCP server's one error boundary: our errors become the tool's error text, a
    database outage and a value the database refuses one clear line each, and anything else
    a generic line (logged with its traceback) instead of an internal message."""
    try:
        yield
    except ToolError:
        raise
    except CoachError as exc:
        raise ToolError(str(exc)) from None
    except (psycopg.OperationalError, PoolTimeout):
        raise ToolError(UNAVAILABLE) from None
    except (psycopg.DataError, OverflowError):
        raise ToolError(REFUSED_VALUE) from None
    except Exception:
        log.exception("tool failed")
        raise ToolError(FAILED) from None


def compose(s: Settings) -> Insights:
    """The server's services, built once: the object store, the read side over its pool, and
    the command that re-renders a stale team report (handed to the read side)."""
    store = ObjectStore.from_settings(s)

    def rebuild(db: Database, manager_id: str, week: date) -> dict[str, Any]:
        return rebuild_team(s, db, store, manager_id, week)

    return Insights(s, store, rebuild_team=rebuild)


def create_server(
    s: Settings, *, stdio_user: str | None = None, insights: Insights | None = None
) -> FastMCP:
    service = insights or compose(s)
    commands = Commands(service)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        yield {}
        await asyncio.to_thread(service.close)

    mcp = FastMCP(
        "sales-coach",
        instructions=INSTRUCTIONS,
        auth=auth_provider(s, lambda: service.database),
        lifespan=lifespan,
        mask_error_details=True,  # what escapes tool_errors (resources, prompts) stays inside
    )

    def who() -> str | None:
        """The caller's user id: set by our verifiers (tokens, jwt); an OIDC sign-in's e-mail
        is looked up by e-mail only; over stdio, MCP_USER (the machine's own setting)."""
        token = get_access_token()
        if token is None:
            return stdio_user
        claims = token.claims or {}
        if s.mcp_auth != "oidc":  # our verifiers put the matched user's id there
            return str(claims["user_id"]) if isinstance(claims.get("user_id"), str) else None
        caller = caller_for_identity(service.database, identity_of(claims, s.mcp_identity_claim))
        return caller.id if caller else None

    def answer(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with tool_errors():
            return fn(who(), *args, **kwargs)

    @mcp.tool(annotations=READ)
    def get_call_coaching(call_id: CallId, detail: Detail = "summary") -> CallView:
        """A call's coaching: by default its scores and the top strength and improvement, each
        with a quote and its Gong link; detail='full' adds every criterion, all evidence,
        conversation metrics and managers' own scores."""
        return answer(service.call_coaching, call_id, detail)

    @mcp.tool(annotations=READ)
    def search_calls(
        rep: Annotated[Rep | None, Field(description="Only this rep (id, email or name)")] = None,
        from_date: Annotated[date | None, Field(description="Calls started on or after")] = None,
        to_date: Annotated[date | None, Field(description="Calls started on or before")] = None,
        dimension: Annotated[
            Dimension | None, Field(description="Apply min_score/max_score to this dimension")
        ] = None,
        min_score: Annotated[
            Score | None, Field(description="Lowest score (the dimension's, else the average)")
        ] = None,
        max_score: Annotated[
            Score | None, Field(description="Highest score (the dimension's, else the average)")
        ] = None,
        text: Annotated[
            str | None,
            Field(
                max_length=200,
                description='Words in titles, coaching notes, strengths, improvements ("a phrase", -word, or)',
            ),
        ] = None,
        cursor: Annotated[
            str | None, Field(max_length=200, description="next_cursor of the previous page")
        ] = None,
        page_size: Annotated[int, Field(ge=1, le=100, description="Calls per page")] = 25,
    ) -> CallPage:
        """Analysed calls in your scope, newest first, with their scores and rep names."""
        query = SearchQuery.model_validate(
            {name: value for name, value in locals().items() if name in SearchQuery.model_fields}
        )
        return answer(service.search_calls, query)

    @mcp.tool(annotations=READ)
    def get_rep_performance(rep: Rep, weeks: Weeks = 8) -> RepPerformance:
        """A rep's weekly averages per dimension and trend, best and weakest calls, and the
        improvements that keep coming back (with a quote each)."""
        return answer(service.rep_performance, rep, weeks)

    @mcp.tool(annotations=READ)
    def team_overview(
        week: Annotated[
            date | None, Field(description="Any day of the week (default: latest with calls)")
        ] = None,
        offset: Offset = 0,
        limit: Limit = 25,
    ) -> TeamOverview:
        """Your team's reps side by side for a week (a page at a time, by name), against their
        previous four weeks; who improved and who needs help. Managers and admins."""
        return answer(service.team_overview, week, offset, limit)

    @mcp.tool(annotations=READ)
    def compare_reps(
        reps: Annotated[
            list[Rep], Field(min_length=1, max_length=25, description="Reps to compare")
        ],
        dimension: Annotated[
            Dimension | None, Field(description="Compare on this dimension only")
        ] = None,
        weeks: Weeks = 8,
    ) -> Comparison:
        """Reps' average scores side by side over the last weeks, ranked, with their names."""
        return answer(service.compare_reps, reps, dimension, weeks)

    @mcp.tool(annotations=READ)
    def get_weekly_report(
        rep: Annotated[
            Rep | None, Field(description="A rep's report (default: yours/your team's)")
        ] = None,
        week: Annotated[
            date | None, Field(description="Any day of the week (default: latest)")
        ] = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> WeeklyReportOut:
        """The weekly report's numbers and a link to it: a rep's, or your team's (a page of
        reps at a time; admins: the index of every report)."""
        return answer(service.weekly_report, rep, week, offset, limit)

    @mcp.tool(annotations=READ)
    def cost_report(
        period: Annotated[
            Literal["today", "week", "month"], Field(description="today, this week or this month")
        ] = "month",
    ) -> CostReport:
        """Claude spend in dollars, tokens by kind, analysis-cache and prompt-cache hit rates:
        your team's calls for managers; the company, budget left and pipeline for admins."""
        return answer(service.cost_report, period)

    @mcp.tool(annotations=WRITE)
    def record_manager_score(
        call_id: CallId,
        dimension: Annotated[Dimension, Field(description="The dimension you are scoring")],
        score: Annotated[int | None, Field(ge=1, le=5, description="1-5, or null: not applicable")],
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
        """Dispute the AI's score of one of your own calls (a dimension or one criterion), with
        your reason. Your manager sees it and either upholds the AI's score or records their
        own; the AI's score stays visible beside the outcome. Reps, for their own calls."""
        return answer(
            commands.dispute_score,
            call_id=call_id,
            dimension=dimension,
            criterion=criterion,
            reason=reason,
        )

    @mcp.tool(annotations=READ)
    def list_disputes(
        status: Annotated[
            Literal["open", "upheld", "overridden"] | None,
            Field(description="open (default), upheld, overridden, or null for all"),
        ] = "open",
    ) -> DisputeList:
        """Disputed scores in your scope: your team's for managers (open ones, oldest first, to
        resolve with resolve_dispute), your own for reps."""
        return answer(commands.list_disputes, status)

    @mcp.tool(annotations=WRITE)
    def resolve_dispute(
        dispute_id: Annotated[int, Field(ge=1, description="The id from list_disputes")],
        decision: Annotated[
            Literal["uphold", "override"],
            Field(description="uphold: the AI's score stands; override: your score replaces it"),
        ],
        reason: Annotated[
            str, Field(min_length=1, max_length=2000, description="Why, for the rep to read")
        ],
        score: Annotated[
            int | None,
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

    @mcp.tool(annotations=READ)
    def agreement_report(
        from_date: Annotated[
            date | None, Field(description="Scored on or after (default: 13 weeks ago)")
        ] = None,
        to_date: Annotated[date | None, Field(description="Scored on or before")] = None,
        dimension: Annotated[
            Dimension | None, Field(description="One dimension only (default: all)")
        ] = None,
    ) -> AgreementOut:
        """How often the AI agrees with managers on calls in your scope (exact, within one,
        bias, QWK, Krippendorff's alpha, 95% intervals), beside how often two managers agree
        (the human ceiling). Managers and admins."""
        return answer(service.agreement_report, from_date, to_date, dimension)

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
            bool, Field(description="Re-analyse even if cached (admins; costs money)")
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

    @mcp.tool(annotations=READ)
    def access_log(
        user: Annotated[
            str | None, Field(max_length=200, description="Only this reader (id or email)")
        ] = None,
        call_id: Annotated[
            str | None, Field(max_length=64, description="Only reads of this call")
        ] = None,
        days: Annotated[int, Field(ge=1, le=400, description="How far back")] = 30,
        cursor: Annotated[
            str | None, Field(max_length=200, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Entries per page")] = 50,
    ) -> AccessLog:
        """Who read which call's coaching or which weekly report through these tools, newest
        first, a page at a time. Admins."""
        return answer(service.access_log, user, call_id, days, cursor, limit)

    @mcp.tool(annotations=READ)
    def health() -> HealthOut:
        """The system's monitors (webhook speed, cache hit rates, tokens and spend against the
        budget, analysis time, error rate, waiting and parked calls, Gong budget) against their
        thresholds, and the incidents open now. Admins."""
        return HealthOut(**answer(service.health))

    @mcp.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """For the platform's health check (HTTP): 200 when Postgres answers, without a token."""
        try:
            await asyncio.to_thread(service.ping)
        except Exception as exc:
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    _resources_and_prompts(mcp, service)
    return mcp


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
    kind, run_id, now = await asyncio.to_thread(
        service.request_analysis, identity, call_id, dims, force
    )

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


def _resources_and_prompts(mcp: FastMCP, service: Insights) -> None:
    rubric_set = service.rubrics

    @mcp.resource("rubric://{dimension}", mime_type="text/markdown")
    def rubric(dimension: str) -> str:
        """The active rubric of a dimension, with what a 1, 3 and 5 look like."""
        if dimension not in rubric_set.rubrics:
            raise ToolError(f"unknown dimension {dimension}; use one of {list(DIMENSIONS)}")
        return rubric_set.rubrics[dimension].render()

    @mcp.resource("rubrics://active", mime_type="application/json")
    def active_rubrics() -> dict[str, str]:
        """Active rubric versions (each covers the dimension's rubric and the knowledge base)."""
        return {d: rubric_set.rubric_version(d) for d in rubric_set.rubrics}

    @mcp.prompt
    def coach_me_on_my_last_call() -> str:
        """Coaching on your most recent analysed call."""
        return (
            "Use search_calls with page_size 1 to find my most recent analysed call, then"
            " get_call_coaching for it. Tell me the two things to keep doing and the one thing to"
            " change first, each with a quote and its Gong link. Read the rubric resource of the"
            " weakest dimension to explain what a 5 would look like."
        )

    @mcp.prompt
    def prepare_my_one_on_one(
        rep: Annotated[str, Field(description="The rep's name, email or Gong user id")],
    ) -> str:
        """Prepare a 1:1 with a rep."""
        return (
            f"Prepare my 1:1 with {rep}. Use get_rep_performance for {rep} (8 weeks) and"
            " get_call_coaching for their best and weakest calls. Give: trend per dimension,"
            " recurring improvements, two praise points with evidence, one focus area with an"
            " exercise for the week, and three open questions to ask."
        )
