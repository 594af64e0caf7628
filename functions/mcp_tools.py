"""The coaching MCP server: `create_server` builds its services once and registers the read
tools here (thin tools over `common.insights.Insights`) and the command tools of
`functions.mcp_commands`; `functions.mcp_server` serves it over stdio or HTTP.

Who is asking comes from the transport: over HTTP from the verified credential (`MCP_AUTH`:
our bearer tokens, the identity provider's JWTs, or OAuth sign-in through it), over stdio from
`MCP_USER`. Every tool answers inside the caller's scope only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from threading import Lock
from typing import Annotated, Any, Literal, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from common.access.identity import Checks, auth_provider, caller_for_identity, identity_of
from common.accuracy.disputes import DisputeList
from common.accuracy.reviews import ReviewQueue
from common.config import DIMENSIONS, Settings
from common.db import Database, transaction
from common.deals import DealCalls
from common.insights.calls import CallPage, CallView, SearchQuery
from common.insights.commands import Commands
from common.insights.performance import Comparison, RepPerformance, TeamOverview
from common.insights.results import AccessLog, AgreementOut, CostReport, HealthOut, WeeklyReportOut
from common.insights.service import Insights
from common.insights.skipped import SkippedPage
from common.insights.validity import WonDealCriteria
from common.reports.weekly import rebuild_team
from common.storage import ObjectStore
from functions import mcp_commands
from functions.mcp_boundary import (
    INSTRUCTIONS,
    READ,
    UNAVAILABLE,
    CallId,
    Detail,
    Dimension,
    Limit,
    Offset,
    Rep,
    Score,
    Weeks,
    tool_errors,
)

T = TypeVar("T")
FRONT_DOOR_CAPACITY = 4  # threads and connections for token checks and /healthz


class FrontDoor:
    """Token checks and /healthz on threads and connections of their own, so no tool (a
    rep's flood of look-ups, a slow report) can keep a sign-in or the platform's health check
    waiting. Opened on first use, closed with the server's lifespan (and opened again by the
    next). The pool's wait (3 s) stays inside the image's 4 s health check."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = Lock()
        self._database: Database | None = None
        self._threads: ThreadPoolExecutor | None = None

    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                self._database = Database(
                    self.database_url, max_size=FRONT_DOOR_CAPACITY, timeout_s=3
                )
            return self._database

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(FRONT_DOOR_CAPACITY, "front-door")
            threads = self._threads
        return await asyncio.get_running_loop().run_in_executor(threads, fn)

    def ping(self) -> None:
        """Raises when Postgres does not answer."""
        with transaction(self.database()) as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, None
            database, self._database = self._database, None
        if threads is not None:
            threads.shutdown(wait=False)
        if database is not None:
            database.close()


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
    front = FrontDoor(s.database_url)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        yield {}
        await asyncio.to_thread(commands.close)
        await asyncio.to_thread(service.close)
        await asyncio.to_thread(front.close)

    mcp = FastMCP(
        "sales-coach",
        instructions=INSTRUCTIONS,
        auth=auth_provider(s, Checks(front.database, front.run, UNAVAILABLE)),
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

    def answer(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
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
    def skipped_calls(
        rep: Annotated[Rep | None, Field(description="Only this rep (id, email or name)")] = None,
        from_date: Annotated[date | None, Field(description="Calls started on or after")] = None,
        to_date: Annotated[date | None, Field(description="Calls started on or before")] = None,
        cursor: Annotated[
            str | None, Field(max_length=200, description="next_cursor of the previous page")
        ] = None,
        page_size: Annotated[int, Field(ge=1, le=100, description="Calls per page")] = 25,
    ) -> SkippedPage:
        """Calls in your scope the applicability rules skipped (not scored), newest first, with
        why, and how many people from outside the company took part: check that no sales call
        was hidden by its title (an admin can have one scored with analyze_call force)."""
        return answer(service.skipped_calls, rep, from_date, to_date, cursor, page_size)

    @mcp.tool(annotations=READ)
    def list_deal_calls(
        deal: Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="The deal's CRM opportunity id, or its name (get_call_coaching"
                " names a call's deal)",
            ),
        ],
    ) -> DealCalls:
        """A deal's calls in your scope, oldest first: each call's scores and the deal's stage
        at the call, with the deal's stage and outcome (won, lost or open) now."""
        return answer(service.deal_calls, deal)

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

    people = mcp_commands.Reviews(commands, s)

    @mcp.tool(annotations=READ)
    def review_queue(
        limit: Annotated[int, Field(ge=1, le=200, description="Items at most")] = 50,
    ) -> ReviewQueue:
        """Scores in your team waiting for your word: those held for review (the AI was not
        sure enough to publish; the rep sees nothing until you answer) with the AI's
        suggestion, its criteria and why it was held, then a small random sample of published
        scores to confirm (the audit). Answer each with review_score. Managers and admins."""
        return answer(people.queue, limit)

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

    @mcp.tool(annotations=READ)
    def criteria_for_won_deals(
        dimension: Annotated[
            Dimension | Literal["conversation"] | None,
            Field(
                description="One dimension's criteria only (conversation: talk ratio,"
                " questions, longest monologue); default: all"
            ),
        ] = None,
    ) -> WonDealCriteria:
        """Which of our rubric criteria (and conversation metrics) go with won deals: per
        criterion, the odds ratio of winning per score point within each rep's own deals and at
        the same stage, its 95% interval, q (false-discovery adjusted) and a reading in plain
        words, over the closed deals of your team's reps (admins: the company). Association,
        not proof of cause: pass the caveat on. Below the minimum of closed deals, no numbers,
        only how many more are needed. Managers and admins."""
        return answer(service.criteria_for_won_deals, dimension)

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
        """For the platform's health check (HTTP): 200 when Postgres answers, without a token
        (on the front door's own threads and connections)."""
        try:
            await front.run(front.ping)
        except Exception as exc:
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    mcp_commands.register(mcp, commands, answer, who, s)
    _resources_and_prompts(mcp, service)
    return mcp


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
