"""`Insights`: the coaching read side as one service, built once by the server's composition
root. It only reads (and records who read what in `access_log`); what changes things (queueing
an analysis, recording a manager's score) is `common.insights.commands.Commands`, and
re-rendering a stale report is a command the server hands in.

Every method takes the caller's identity (a Gong user id or email, already authenticated by the
transport) and answers only inside the caller's scope; refusals raise `AccessDenied`, invalid
values `InvalidRequest`. Methods are synchronous and borrow a pooled connection each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from threading import Lock
from typing import Any, Literal

import psycopg

from common import deals
from common.access.scope import (
    Caller,
    find_call,
    find_rep,
    find_reps,
    load_caller,
    require_role,
)
from common.access.teams import Teams
from common.accuracy import disputes
from common.accuracy.pairs import Filters, agreement
from common.config import DIMENSIONS, Settings
from common.db import Database, Row
from common.deals import DealCalls
from common.errors import AccessDenied, InvalidRequest
from common.insights import calls, performance, skipped
from common.insights.calls import CallPage, CallView, SearchQuery, decode_cursor, encode_cursor
from common.insights.performance import Comparison, RepPerformance, RepRef, TeamOverview
from common.insights.results import (
    AccessEntry,
    AccessLog,
    AgreementOut,
    CostReport,
    Spend,
    WeeklyRep,
    WeeklyReportOut,
)
from common.insights.skipped import SkippedPage
from common.insights.validity import Scope, WonDealCriteria, not_computed, read_report
from common.insights.week import current_week, day_start, last_weeks, monday, week_bounds
from common.monitoring.health import snapshot
from common.monitoring.status import pipeline_status
from common.rubrics import RubricSet
from common.rubrics import load as load_rubrics
from common.scoring import costs, publishing, run_to_run
from common.storage import ObjectStore
from common.validity import COMPANY, CONVERSATION, kept_report, team_key

Detail = Literal["summary", "full"]
# (the pool, a manager's id, a week) -> the re-rendered team report's summary
RebuildTeam = Callable[[Database, str, date], dict[str, Any]]
Period = Literal["today", "week", "month"]
AGREEMENT_WEEKS = 13  # agreement_report's default window


class Insights:
    """The read side over the server's one pool and object store, built by its composition
    root (`functions.mcp_tools.create_server`). The pool opens on first use and closes with
    the server's lifespan (a later session opens it again)."""

    def __init__(
        self,
        s: Settings,
        store: ObjectStore,
        rebuild_team: RebuildTeam | None = None,
        rubrics: RubricSet | None = None,
    ) -> None:
        self.s, self.store, self.rebuild_team = s, store, rebuild_team
        self.rubrics = rubrics or load_rubrics(s.rubrics_dir)
        self._database: Database | None = None
        self.teams = Teams()  # team listings, kept while `users` is unchanged
        self._lock = Lock()

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                self._database = Database(self.s.database_url, timeout_s=5)
            return self._database

    @contextmanager
    def conn(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection in a transaction (committed when the block succeeds)."""
        with self.database.pool.connection() as conn:
            yield conn

    def ping(self) -> None:
        """Raises when Postgres does not answer (the server's health check)."""
        with self.conn() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None

    def caller(self, conn: psycopg.Connection[Row], identity: str | None) -> Caller:
        if not identity:
            raise AccessDenied("no identity: sign in, send a bearer token, or set MCP_USER")
        return load_caller(conn, identity)

    def _team(self, conn: psycopg.Connection[Row], caller: Caller) -> Mapping[str, tuple[str, str]]:
        """id -> (name, role) of everyone the caller's team view shows (admins: all active)."""
        return self.teams.team(conn, caller).members

    # -- calls ------------------------------------------------------------------------------

    def call_coaching(self, identity: str | None, call_id: str, detail: Detail) -> CallView:
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            find_call(conn, caller, call_id)
            full = calls.call_coaching(conn, call_id, self.s.default_job_role)
            log_access(conn, caller, "get_call_coaching", call_id=call_id)
        if caller.role == "rep":  # a held score is the manager's to decide first
            full = calls.without_suggestions(full)
        return calls.view(full, detail)

    def search_calls(self, identity: str | None, query: SearchQuery) -> CallPage:
        query.check()
        tz = self.s.report_timezone
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            rep_id = find_rep(conn, caller, query.rep)[0] if query.rep else None
            return calls.search_calls(
                conn,
                query,
                scope=self.teams.visible(conn, caller),
                rep_id=rep_id,
                start=day_start(query.from_date, tz) if query.from_date else None,
                end=day_start(query.to_date + timedelta(days=1), tz) if query.to_date else None,
            )

    def skipped_calls(
        self,
        identity: str | None,
        rep: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        cursor: str | None = None,
        page_size: int = 25,
    ) -> SkippedPage:
        """The calls the applicability rules skipped in the caller's scope, and why (a
        manager's team, a rep's own, every call for admins); dates are days in the report
        time zone."""
        if from_date and to_date and from_date > to_date:
            raise InvalidRequest("from_date is after to_date")
        tz = self.s.report_timezone
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            return skipped.skipped_calls(
                conn,
                scope=self.teams.visible(conn, caller),
                rep_id=find_rep(conn, caller, rep)[0] if rep else None,
                start=day_start(from_date, tz) if from_date else None,
                end=day_start(to_date + timedelta(days=1), tz) if to_date else None,
                cursor=cursor,
                page_size=page_size,
            )

    def deal_calls(self, identity: str | None, deal: str) -> DealCalls:
        """A deal's calls in the caller's scope with their scores, the stage at each call and
        the deal's outcome; a deal with no call in scope is refused like one that does not
        exist."""
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            found = deals.deal_calls(conn, deal, self.teams.visible(conn, caller))
            log_access(conn, caller, "list_deal_calls", subject=found.deal.opportunity_id)
        return found

    # -- performance ------------------------------------------------------------------------

    def rep_performance(self, identity: str | None, rep: str, weeks: int) -> RepPerformance:
        since, until = last_weeks(datetime.now(UTC), self.s.report_timezone, weeks)
        with self.conn() as conn:
            rep_id, name = find_rep(conn, self.caller(conn, identity), rep)
            return performance.rep_performance(
                conn,
                RepRef(rep_id=rep_id, rep_name=name),
                since,
                until,
                self.s.report_timezone,
                self.s.default_job_role,
            )

    def team_overview(
        self, identity: str | None, week: date | None, offset: int = 0, limit: int = 50
    ) -> TeamOverview:
        """Reps side by side; managers appear only for weeks they sold themselves. Without a
        week, the latest with calls: nearly always this one, so it is asked first (a query
        saved); calls never start in the future, so a week with calls now is the latest."""
        tz = self.s.report_timezone
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            require_role(caller, "manager", "admin")
            team = self._team(conn, caller)
            names = {rep_id: name for rep_id, (name, _) in team.items()}
            sold_only = frozenset(i for i, (_, role) in team.items() if role != "rep")

            def overview(chosen: date) -> TeamOverview:
                return performance.team_overview(
                    conn,
                    names,
                    chosen,
                    tz,
                    offset=offset,
                    limit=limit,
                    sold_only=sold_only,
                    default_role=self.s.default_job_role,
                )

            if week is not None:
                return overview(monday(week))
            this_week = overview(current_week(datetime.now(UTC), tz))
            return this_week if this_week.calls else overview(self._latest_week(conn, list(team)))

    def _latest_week(self, conn: psycopg.Connection[Row], rep_ids: list[str]) -> date:
        row = conn.execute(
            "SELECT started_at AS last FROM call_scores WHERE rep_id = ANY(%b)"
            " ORDER BY started_at DESC LIMIT 1",  # call_scores_started_idx, stops at the first
            (rep_ids,),
        ).fetchone()
        last = row["last"] if row and row["last"] else datetime.now(UTC)
        return current_week(last, self.s.report_timezone)

    def compare_reps(
        self, identity: str | None, reps: list[str], dimension: str | None, weeks: int
    ) -> Comparison:
        since, until = last_weeks(datetime.now(UTC), self.s.report_timezone, weeks)
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            refs = [RepRef(rep_id=i, rep_name=n) for i, n in find_reps(conn, caller, reps)]
            unique = list({r.rep_id: r for r in refs}.values())
            return performance.compare(
                conn, unique, since, until, dimension, self.s.default_job_role
            )

    # -- weekly reports ---------------------------------------------------------------------

    def weekly_report(
        self,
        identity: str | None,
        rep: str | None,
        week: date | None,
        offset: int = 0,
        limit: int = 50,
    ) -> WeeklyReportOut:
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            if rep or caller.role == "rep":
                scope, (subject, name) = "rep", find_rep(conn, caller, rep or caller.id)
            elif caller.is_admin:
                scope, subject, name = "index", "", None
            else:
                scope, subject, name = "team", caller.id, caller.name
            row = self._stored_report(conn, scope, subject, week)
            log_access(conn, caller, "get_weekly_report", subject=f"{scope}:{subject}")
            visible = {i: n for i, (n, _) in self._team(conn, caller).items()}
        summary = row["summary"]
        stale = scope == "team" and set(summary.get("reps", {})) - set(visible)
        if stale and self.rebuild_team is not None:
            # a rep left (soft-deleted) since it was written: the report is re-rendered without
            # them by the command the server composed (the read model itself never writes)
            summary = self.rebuild_team(self.database, subject, row["week_start"])
        reps, total = _weekly_reps(scope, subject, name, summary, visible, offset, limit)
        return WeeklyReportOut(
            week_start=row["week_start"],
            scope=scope,  # type: ignore[arg-type]
            subject_id=subject,
            subject_name=name,
            reps=reps,
            reps_total=total,
            url=self.store.presigned_url(row["object_key"]),
        )

    @staticmethod
    def _stored_report(
        conn: psycopg.Connection[Row], scope: str, subject: str, week: date | None
    ) -> Row:
        row = conn.execute(
            "SELECT * FROM weekly_reports WHERE scope = %s AND subject_id = %s"
            " AND (%s::date IS NULL OR week_start = %s) ORDER BY week_start DESC LIMIT 1",
            (scope, subject, week, monday(week) if week else None),
        ).fetchone()
        if row is None:
            raise InvalidRequest(
                "no weekly report for that week yet; reports are written on Mondays"
            )
        return row

    # -- costs ------------------------------------------------------------------------------

    def cost_report(self, identity: str | None, period: Period) -> CostReport:
        now = datetime.now(UTC)
        start = {
            "month": costs.month_start(now),
            "week": week_bounds(current_week(now, self.s.report_timezone), self.s.report_timezone)[
                0
            ],
            "today": day_start(now, self.s.report_timezone),
        }[period]
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            require_role(caller, "manager", "admin")
            team = None if caller.is_admin else sorted(self.teams.visible(conn, caller) or [])
            spend = costs.period_spend(conn, start, now + timedelta(seconds=1), team)
            report = CostReport(
                period=period,
                scope="company" if team is None else "team",
                spend=Spend(**{k: spend[k] for k in Spend.model_fields}),
                monthly_budget_usd=None,
                budget_left_usd=None,
                pipeline=None,
            )
            if caller.is_admin:
                mtd = float(costs.month_to_date(conn, now)["usd"])
                report.monthly_budget_usd = self.s.monthly_budget_usd
                report.budget_left_usd = round(self.s.monthly_budget_usd - mtd, 2)
                report.pipeline = pipeline_status(conn, self.s)
        return report

    # -- accuracy ---------------------------------------------------------------------------

    def agreement_report(
        self,
        identity: str | None,
        from_date: date | None,
        to_date: date | None,
        dimension: str | None,
    ) -> AgreementOut:
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            require_role(caller, "manager", "admin")
            reps = self.teams.visible(conn, caller)
            if from_date is None:  # recent agreement is what a manager acts on
                from_date = (datetime.now(UTC) - timedelta(weeks=AGREEMENT_WEEKS)).date()
            filters = Filters(
                start=from_date,
                end=to_date + timedelta(days=1) if to_date else None,
                rep_ids=sorted(reps) if reps is not None else None,
                dimension=dimension,
            )
            contested = disputes.summary(conn, filters.start, filters.end, filters.rep_ids)
            result = agreement(conn, filters, bootstrap=500, criteria_bootstrap=100)
            since = datetime.combine(from_date, datetime.min.time(), tzinfo=UTC)
            return AgreementOut(
                **result,
                disputes=contested,
                run_to_run=run_to_run(conn, since, filters.rep_ids, dimension),
                publishing=publishing(conn, since, filters.rep_ids, dimension),
            )

    def criteria_for_won_deals(
        self, identity: str | None, dimension: str | None = None
    ) -> WonDealCriteria:
        """Which criteria go with won deals, within rep and stage, over the closed deals owned
        by reps in the caller's scope (a manager's team, everyone for admins); below
        `validity_min_deals` closed deals, no numbers, only how many more are needed."""
        if dimension is not None and dimension not in (*DIMENSIONS, CONVERSATION):
            raise InvalidRequest(f"unknown dimension {dimension}")
        with self.conn() as conn:
            caller = self.caller(conn, identity)
            require_role(caller, "manager", "admin")
            scope: Scope = "company" if caller.is_admin else "team"
            kept = kept_report(conn, COMPANY if caller.is_admin else team_key(caller.id))
        if kept is None:
            return not_computed(scope, self.s.validity_min_deals)
        return read_report(
            kept.report, kept.reps, kept.min_deals, scope, dimension, kept.computed_at
        )

    def health(self, identity: str | None) -> dict[str, Any]:
        """The monitors against their thresholds and the open incidents (admins)."""
        with self.conn() as conn:
            require_role(self.caller(conn, identity), "admin")
            return snapshot(conn, self.s)

    def access_log(
        self,
        identity: str | None,
        user: str | None,
        call_id: str | None,
        days: int,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AccessLog:
        """Who read which call or report (admins), newest first, a page at a time (keyset on
        (at, id): a year of reads is millions of rows)."""
        before = decode_cursor(cursor) if cursor else None
        with self.conn() as conn:
            require_role(self.caller(conn, identity), "admin")
            user_ids = None
            if user is not None:  # by id or e-mail, resolved first so the index answers
                user_ids = [
                    r["id"]
                    for r in conn.execute(
                        "SELECT id FROM users WHERE id = %(u)s OR lower(email) = lower(%(u)s)",
                        {"u": user},
                    ).fetchall()
                ] or [user]
            rows = conn.execute(
                """SELECT a.id, a.at, a.user_id, u.name AS user_name, a.action, a.call_id,
                          a.subject
                   FROM access_log a LEFT JOIN users u ON u.id = a.user_id
                   WHERE a.at >= now() - make_interval(days => %(days)s)
                     AND (%(users)s::text[] IS NULL OR a.user_id = ANY(%(users)s::text[]))
                     AND (%(call)s::text IS NULL OR a.call_id = %(call)s)
                     AND (%(b_at)s::timestamptz IS NULL OR (a.at, a.id) < (%(b_at)s, %(b_id)s))
                   ORDER BY a.at DESC, a.id DESC LIMIT %(n)s""",
                {
                    "days": days,
                    "users": user_ids,
                    "call": call_id,
                    "b_at": before[0] if before else None,
                    "b_id": _int(before[1]) if before else None,
                    "n": limit + 1,
                },
            ).fetchall()
        more, rows = len(rows) > limit, rows[:limit]
        return AccessLog(
            entries=[AccessEntry.model_validate(r) for r in rows],
            next_cursor=encode_cursor(rows[-1]["at"], str(rows[-1]["id"])) if more else None,
        )


def _int(key: str) -> int:
    if not key.isdigit():
        raise InvalidRequest("cursor is not one this server returned; start without it")
    return int(key)


def _weekly_reps(
    scope: str,
    subject: str,
    name: str | None,
    summary: dict[str, Any],
    visible: dict[str, str],
    offset: int,
    limit: int,
) -> tuple[list[WeeklyRep], int]:
    """A page of the reps a stored summary covers, and how many it covers: the rep's own
    numbers, a team's visible reps, or none for the index (its summary holds counts)."""
    if scope == "rep":
        rows = [(subject, name or subject, summary)]
    elif scope == "index":
        rows = []
    else:
        rows = [(i, visible[i], v) for i, v in summary.get("reps", {}).items() if i in visible]
    page = [
        WeeklyRep(
            rep_id=rep_id,
            rep_name=rep_name,
            job_role=numbers.get("job_role"),
            calls=numbers.get("calls", 0),
            scores=numbers.get("scores", {}),
        )
        for rep_id, rep_name, numbers in rows[offset : offset + limit]
    ]
    return page, len(rows)


def log_access(
    conn: psycopg.Connection[Row],
    caller: Caller,
    action: str,
    call_id: str | None = None,
    subject: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO access_log (user_id, action, call_id, subject) VALUES (%s, %s, %s, %s)",
        (caller.id, action, call_id, subject),
    )
