"""The weekly plan's MCP tools: a manager lists their team's plans, edits and approves them
(only then is a plan sent); a rep acknowledges theirs. Thin tools over `common.plans.store`,
which does the work and the checks; registered by `functions.mcp_commands.register`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic import Field, StrictInt

from common import plans
from common.config import Settings
from common.insights.commands import Commands
from common.insights.service import log_access
from common.insights.week import previous_week
from common.rubrics import RubricSet
from functions.mcp_boundary import READ, WRITE, Answer

IDEMPOTENT = ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False)
PlanId = Annotated[
    StrictInt, Field(ge=1, description="The plan's number, as list_plans or its message names it")
]


def criterion_keys(rubric_set: RubricSet) -> frozenset[str]:
    """Every `dimension.criterion` of the rubrics and their variants."""
    rubrics = [*rubric_set.rubrics.values(), *rubric_set.variants.values()]
    return frozenset(f"{r.dimension}.{c.id}" for r in rubrics for c in r.criteria)


class Plans:
    """The weekly plans, as the caller (their identity first)."""

    def __init__(self, commands: Commands, s: Settings) -> None:
        self.reads, self.s = commands.reads, s
        self.known = criterion_keys(commands.rubrics)

    def listed(self, identity: str | None, week: date | None) -> plans.PlanList:
        week = week or previous_week(datetime.now(UTC), self.s.report_timezone)
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            found = plans.list_plans(conn, caller, week)
            log_access(conn, caller, "list_plans", subject=found.week_start.isoformat())
            return found

    def edit(
        self,
        identity: str | None,
        plan_id: int,
        working: list[plans.ItemEdit] | None,
        tighten: list[plans.ItemEdit] | None,
        exercise: plans.ExerciseEdit | None,
    ) -> plans.Plan:
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            return plans.edit_plan(
                conn,
                caller,
                plan_id,
                known=self.known,
                working=working,
                tighten=tighten,
                exercise=exercise,
            )

    def approve(self, identity: str | None, plan_id: int) -> plans.Plan:
        with self.reads.conn() as conn:
            return plans.approve_plan(conn, self.reads.caller(conn, identity), plan_id)

    def acknowledge(self, identity: str | None, plan_id: int) -> plans.PlanAcknowledged:
        with self.reads.conn() as conn:
            return plans.acknowledge_plan(conn, self.reads.caller(conn, identity), plan_id)


def register(mcp: FastMCP, commands: Commands, answer: Answer, s: Settings) -> None:
    """Adds the plan tools to `mcp`; `answer` is the server's (see create_server)."""
    weekly = Plans(commands, s)

    @mcp.tool(annotations=READ)
    def list_plans(
        week: Annotated[
            date | None,
            Field(description="Any day of the week (YYYY-MM-DD); default: last week"),
        ] = None,
    ) -> plans.PlanList:
        """Your team's weekly plans for a week (drafts to edit and approve, and those approved,
        sent or acknowledged), each with what is working, what to tighten, the exercise from
        a moment of the rep's own call, and its edit history. Managers and admins."""
        return answer(weekly.listed, week)

    @mcp.tool(annotations=WRITE)
    def edit_plan(
        plan_id: PlanId,
        working: Annotated[
            list[plans.ItemEdit] | None,
            Field(
                min_length=1,
                max_length=3,
                description="What is working, up to 3 items (null: unchanged); an item keeps"
                " the criterion and quote at its place unless it names another criterion",
            ),
        ] = None,
        tighten: Annotated[
            list[plans.ItemEdit] | None,
            Field(
                min_length=1,
                max_length=2,
                description="What to tighten, up to 2 items (null: unchanged)",
            ),
        ] = None,
        exercise: Annotated[
            plans.ExerciseEdit | None,
            Field(
                description="Changes to the exercise; fields left out are kept (null: unchanged)"
            ),
        ] = None,
    ) -> plans.Plan:
        """Edit a plan of your team before it is sent (each change is kept in its history).
        An approved plan you edit needs approve_plan again. Managers and admins, for their
        team's plans, not their own."""
        return answer(weekly.edit, plan_id, working, tighten, exercise)

    @mcp.tool(annotations=IDEMPOTENT)
    def approve_plan(plan_id: PlanId) -> plans.Plan:
        """Approve a plan as it reads now: it goes to the rep (Slack DM or e-mail, as they
        chose for their notes) within minutes. Only approved plans are sent. Managers and
        admins, for their team's plans, not their own."""
        return answer(weekly.approve, plan_id)

    @mcp.tool(annotations=IDEMPOTENT)
    def acknowledge_plan(plan_id: PlanId) -> plans.PlanAcknowledged:
        """Acknowledge your weekly coaching plan once you have read it (the first time is
        kept). Your own plans only."""
        return answer(weekly.acknowledge, plan_id)
