"""The coaching MCP server for Claude Desktop (stdio) and HTTP clients (bearer tokens).

Every tool knows who is asking: over HTTP from the bearer token (stored hashed; created and
revoked with `sales-coach token ...`), over stdio from `MCP_USER`. Data outside the caller's
scope is refused with a clear error, never answered with an empty result.

    python -m functions.mcp_server            # stdio, for Claude Desktop
    python -m functions.mcp_server --http 8765
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.dependencies import get_access_token
from pydantic import BaseModel, Field

from common import access, coaching, costs, performance
from common.access import Caller
from common.accuracy import manager_scores
from common.accuracy.pairs import Filters, agreement
from common.config import DIMENSIONS, Settings, settings
from common.db import Row, connect
from common.errors import AccessDenied, CoachError
from common.rubrics import load as load_rubrics
from common.status import pipeline_status

log = logging.getLogger("sales_coach.mcp")
# (call_id, dimensions, force) -> flow run id; the default starts the analyze-call deployment
AnalysisStarter = Callable[[str, list[str], bool], str]
# flow run id -> why it ended without finishing (None while it runs or once it succeeded)
RunProblem = Callable[[str], str | None]


class AnalysisStatus(BaseModel):
    call_id: str
    status: str  # cached | completed | running | failed
    flow_run_id: str | None
    coaching: coaching.CallCoaching | None
    message: str


class WeeklyReportOut(BaseModel):
    week_start: date
    scope: str
    subject_id: str
    summary: dict[str, Any]
    url: str


class ManagerScoreRecorded(BaseModel):
    id: int
    call_id: str
    dimension: str
    criterion: str
    score: int | None


class AgreementOut(BaseModel):
    ai_vs_manager: dict[str, Any]
    human_ceiling: dict[str, Any]
    ai_consistency: dict[str, Any]


Dimension = Literal["product_knowledge", "discovery", "objections", "engagement"]


class CostReport(BaseModel):
    period: str
    spend: dict[str, Any]
    monthly_budget_usd: float
    budget_left_usd: float
    pipeline: dict[str, Any] | None = None  # admins: waiting, running and parked calls


class PostgresTokenVerifier(TokenVerifier):
    """Bearer tokens checked against `api_tokens` (hashed), revocation included."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.database_url = database_url

    async def verify_token(self, token: str) -> AccessToken | None:
        caller = await asyncio.to_thread(self._lookup, token)
        if caller is None:
            return None
        return AccessToken(
            token=token,
            client_id=caller.id,
            scopes=[caller.role],
            claims={"user_id": caller.id, "role": caller.role},
        )

    def _lookup(self, token: str) -> Caller | None:
        with connect(self.database_url) as conn:
            return access.caller_for_token(conn, token)


def _default_starter(s: Settings) -> AnalysisStarter:
    def start(call_id: str, dimensions: list[str], force: bool) -> str:
        from prefect.deployments import run_deployment

        run = run_deployment(
            s.analyze_deployment,
            parameters={"call_ids": [call_id], "dimensions": dimensions, "force": force},
            timeout=0,
            as_subflow=False,
        )
        return str(run.id)  # type: ignore[union-attr]

    return start


def _prefect_run_problem(run_id: str) -> str | None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state  # type: ignore[arg-type]
    if state is not None and (state.is_failed() or state.is_crashed() or state.is_cancelled()):
        return f"{state.name}: {state.message or 'see the flow run'}"
    return None


def create_server(
    s: Settings,
    *,
    stdio_user: str | None = None,
    start_analysis: AnalysisStarter | None = None,
    run_problem: RunProblem | None = None,
    wait_s: float = 20.0,
) -> FastMCP:
    starter = start_analysis or _default_starter(s)
    problem_of = run_problem or (_prefect_run_problem if start_analysis is None else None)
    mcp = FastMCP(
        "sales-coach",
        instructions=(
            "Sales-call coaching from Gong calls scored by Claude on four dimensions (product_knowledge,"
            " discovery, objections, engagement; 1-5). Quote evidence with its Gong link. Scores are"
            " only as good as the rubric: read the rubric resources to explain a score."
        ),
        auth=PostgresTokenVerifier(s.database_url),
    )

    @contextmanager
    def session() -> Iterator[tuple[psycopg.Connection[Row], Caller]]:
        token = get_access_token()
        user = (token.claims or {}).get("user_id") if token else stdio_user
        try:
            with connect(s.database_url) as conn:
                if not user:
                    raise AccessDenied("no identity: set MCP_USER for stdio or send a bearer token")
                yield conn, access.load_caller(conn, str(user))
        except CoachError as exc:
            raise ToolError(str(exc)) from None

    @mcp.tool
    async def analyze_call(
        call_id: str,
        dimensions: list[str] | None = None,
        force: bool = False,
        ctx: Context | None = None,
    ) -> AnalysisStatus:
        """Coaching for a call: cached at once, else starts the analysis and waits for it."""
        dims = list(dimensions or DIMENSIONS)
        with session() as (conn, caller):
            if force:
                access.require_role(caller, "admin")
            known = conn.execute("SELECT 1 FROM calls WHERE id = %s", (call_id,)).fetchone()
            if known:
                access.require_call(conn, caller, call_id)
                current = coaching.call_coaching(conn, call_id)
                if not force and not set(dims) & set(current.missing_dimensions):
                    return AnalysisStatus(
                        call_id=call_id,
                        status="cached",
                        flow_run_id=None,
                        coaching=current,
                        message="from the analysis cache",
                    )
            else:
                access.require_role(caller, "manager", "admin")
        run_id = await asyncio.to_thread(starter, call_id, dims, force)
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            with session() as (conn, _):
                if conn.execute("SELECT 1 FROM calls WHERE id = %s", (call_id,)).fetchone():
                    current = coaching.call_coaching(conn, call_id)
                    done = len(dims) - len(set(dims) & set(current.missing_dimensions))
                    if ctx is not None:
                        await ctx.report_progress(
                            done, len(dims), f"{done} of {len(dims)} dimensions"
                        )
                    if done == len(dims) and (
                        not force or _fresh(current, dims, run_started=deadline - wait_s)
                    ):
                        return AnalysisStatus(
                            call_id=call_id,
                            status="completed",
                            flow_run_id=run_id,
                            coaching=current,
                            message="analysed now",
                        )
            if problem_of is not None and (problem := await asyncio.to_thread(problem_of, run_id)):
                return AnalysisStatus(
                    call_id=call_id,
                    status="failed",
                    flow_run_id=run_id,
                    coaching=None,
                    message=f"the analysis did not finish: {problem}",
                )
            await asyncio.sleep(0.5)
        return AnalysisStatus(
            call_id=call_id,
            status="running",
            flow_run_id=run_id,
            coaching=None,
            message="still running: call analyze_call again in a minute",
        )

    @mcp.tool
    def get_call_coaching(call_id: str) -> coaching.CallCoaching:
        """Per-dimension scores, criteria, strengths, improvements, evidence with Gong links, metrics."""
        with session() as (conn, caller):
            access.require_call(conn, caller, call_id)
            return coaching.call_coaching(conn, call_id)

    @mcp.tool
    def search_calls(
        rep: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        dimension: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        text: str | None = None,
        page: int = 1,
        page_size: int = 25,
    ) -> coaching.CallPage:
        """Analysed calls in your scope, newest first, paged (page_size at most 100)."""
        with session() as (conn, caller):
            rep_id = coaching.resolve_rep(conn, rep) if rep else None
            if rep_id:
                access.require_rep(conn, caller, rep_id)
            return coaching.search_calls(
                conn,
                scope=access.visible_reps(conn, caller),
                include_deleted=caller.is_admin,
                rep_id=rep_id,
                start=_dt(from_date),
                end=_dt(to_date + timedelta(days=1)) if to_date else None,
                dimension=dimension,
                min_score=min_score,
                max_score=max_score,
                text=text,
                page=page,
                page_size=page_size,
            )

    @mcp.tool
    def get_rep_performance(rep: str, weeks: int = 8) -> performance.RepPerformance:
        """Weekly per-dimension averages and trend, best and worst calls, recurring improvements."""
        with session() as (conn, caller):
            rep_id = coaching.resolve_rep(conn, rep)
            access.require_rep(conn, caller, rep_id)
            return performance.rep_performance(
                conn, rep_id, min(max(weeks, 1), 52), datetime.now(UTC)
            )

    @mcp.tool
    def team_overview(week: date | None = None) -> performance.TeamOverview:
        """Every rep of your team side by side for a week (default: the latest week with calls)."""
        with session() as (conn, caller):
            access.require_role(caller, "manager", "admin")
            scope = access.visible_reps(conn, caller)
            reps = (
                sorted(scope)
                if scope is not None
                else [
                    r["id"]
                    for r in conn.execute(
                        "SELECT id FROM users WHERE deleted_at IS NULL"
                    ).fetchall()
                ]
            )
            return performance.team_overview(conn, reps, _monday(week or _latest_week(conn, reps)))

    @mcp.tool
    def compare_reps(
        reps: list[str], dimension: str | None = None, weeks: int = 8
    ) -> dict[str, Any]:
        """Reps' average scores side by side over the last `weeks` weeks, ranked."""
        with session() as (conn, caller):
            ids = [coaching.resolve_rep(conn, r) for r in reps]
            for rep_id in ids:
                access.require_rep(conn, caller, rep_id)
            now = datetime.now(UTC)
            return performance.compare(conn, ids, now - timedelta(weeks=weeks), now, dimension)

    @mcp.tool
    def get_weekly_report(rep: str | None = None, week: date | None = None) -> WeeklyReportOut:
        """The weekly report's summary and link, for a rep or (default) your team."""
        from common.storage import ObjectStore

        with session() as (conn, caller):
            if rep or caller.role == "rep":
                scope, subject = "rep", coaching.resolve_rep(conn, rep) if rep else caller.id
                access.require_rep(conn, caller, subject)
            else:
                scope, subject = ("index", "") if caller.is_admin else ("team", caller.id)
            row = conn.execute(
                "SELECT * FROM weekly_reports WHERE scope = %s AND subject_id = %s"
                " AND (%s::date IS NULL OR week_start = %s) ORDER BY week_start DESC LIMIT 1",
                (scope, subject, week, _monday(week) if week else None),
            ).fetchone()
            if row is None:
                raise ToolError(
                    "no weekly report yet for that week; reports are written on Mondays"
                )
            url = ObjectStore.from_settings(s).presigned_url(row["object_key"])
            return WeeklyReportOut(
                week_start=row["week_start"],
                scope=row["scope"],
                subject_id=row["subject_id"],
                summary=row["summary"],
                url=url,
            )

    @mcp.tool
    def cost_report(period: str = "month") -> CostReport:
        """Spend, tokens by kind, tier-1 and prompt-cache hit rates, budget left (month|week|today)."""
        with session() as (conn, caller):
            access.require_role(caller, "manager", "admin")
            now = datetime.now(UTC)
            start = {
                "month": costs.month_start(now),
                "week": now - timedelta(days=7),
                "today": now.replace(hour=0, minute=0, second=0, microsecond=0),
            }.get(period)
            if start is None:
                raise ToolError("period must be month, week or today")
            spend = costs.period_spend(conn, start, now + timedelta(seconds=1))
            mtd = float(costs.month_to_date(conn, now)["usd"])
            return CostReport(
                period=period,
                spend=spend,
                monthly_budget_usd=s.monthly_budget_usd,
                budget_left_usd=round(s.monthly_budget_usd - mtd, 2),
                pipeline=pipeline_status(conn, s) if caller.is_admin else None,
            )

    rubric_set = load_rubrics(s.rubrics_dir)

    @mcp.tool
    def record_manager_score(
        call_id: str,
        dimension: Dimension,
        score: Annotated[int | None, Field(ge=1, le=5)],
        reason: str,
        criterion: str = "overall",
    ) -> ManagerScoreRecorded:
        """Record your own 1-5 score (null: not applicable) for a dimension of a call, or for
        one criterion of it (a criterion id from the rubric resource), with your reason. Kept
        beside the AI's score, never over it; used to measure agreement. Managers and admins,
        for calls in their scope; nobody rates their own calls."""
        with session() as (conn, caller):
            access.require_role(caller, "manager", "admin")
            rep_id = access.require_call(conn, caller, call_id)
            if rep_id == caller.id:
                raise ToolError("you cannot score your own calls")
            criteria = {c.id for c in rubric_set.rubrics[dimension].criteria}
            if criterion != "overall" and criterion not in criteria:
                raise ToolError(f"criterion must be 'overall' or one of {sorted(criteria)}")
            score_id = manager_scores.record(
                conn,
                call_id=call_id,
                rep_id=rep_id,
                reviewer_id=caller.id,
                dimension=dimension,
                criterion=criterion,
                score=score,
                note=reason,
                rubric_version=rubric_set.rubric_version(dimension),
            )
            conn.commit()
            return ManagerScoreRecorded(
                id=score_id, call_id=call_id, dimension=dimension, criterion=criterion, score=score
            )

    @mcp.tool
    def agreement_report(
        from_date: date | None = None,
        to_date: date | None = None,
        dimension: Dimension | None = None,
    ) -> AgreementOut:
        """How often the AI agrees with managers' scores on calls in your scope (exact, within
        one point, bias, QWK, Krippendorff's alpha, with 95% intervals), beside how often two
        managers agree with each other (the human ceiling). Managers and admins."""
        with session() as (conn, caller):
            access.require_role(caller, "manager", "admin")
            reps = access.visible_reps(conn, caller)
            filters = Filters(
                start=from_date,
                end=to_date + timedelta(days=1) if to_date else None,
                rep_ids=sorted(reps) if reps is not None else None,
                dimension=dimension,
            )
            return AgreementOut(**agreement(conn, filters, bootstrap=500))

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
    def prepare_my_one_on_one(rep: str) -> str:
        """Prepare a 1:1 with a rep."""
        return (
            f"Prepare my 1:1 with {rep}. Use get_rep_performance for {rep} (8 weeks) and"
            " get_call_coaching for their best and worst calls. Give: trend per dimension,"
            " recurring improvements, two praise points with evidence, one focus area with an"
            " exercise for the week, and three open questions to ask."
        )

    return mcp


def _fresh(current: coaching.CallCoaching, dims: list[str], run_started: float) -> bool:
    """With force, wait until every dimension has a session newer than the request."""
    cutoff = datetime.now(UTC) - timedelta(seconds=asyncio.get_running_loop().time() - run_started)
    return all(d.analysed_at >= cutoff for d in current.dimensions if d.dimension in dims)


def _dt(d: date | None) -> datetime | None:
    return datetime.combine(d, datetime.min.time(), tzinfo=UTC) if d else None


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _latest_week(conn: psycopg.Connection[Row], reps: list[str]) -> date:
    row = conn.execute(
        "SELECT max(started_at) AS last FROM calls WHERE primary_user_id = ANY(%s) AND transcript_hash IS NOT NULL",
        (reps,),
    ).fetchone()
    last = row["last"] if row and row["last"] else datetime.now(UTC)
    return last.date()  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description="Sales-coach MCP server")
    ap.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on this port")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    s = settings()
    server = create_server(s, stdio_user=s.mcp_user or None)
    if args.http:
        server.run(transport="http", host=args.host, port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
