"""The MCP admin tool `set_job_role`: a person's job role (issue 30, item 3), registered by
`functions.mcp_commands.register`; `common.calls.roles` does the work and the checks."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic import Field

from common.calls import roles
from common.insights.commands import Commands
from functions.mcp_boundary import Answer, Rep

IDEMPOTENT = ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False)


class JobRoles:
    """Job roles as the caller (their identity first), over the read side's pool."""

    def __init__(self, commands: Commands) -> None:
        self.reads = commands.reads

    def set(self, identity: str | None, user: str, role: str) -> roles.RoleChange:
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            return roles.set_job_role_as(conn, caller, user, role)


def register(mcp: FastMCP, commands: Commands, answer: Answer) -> None:
    """Adds `set_job_role` to `mcp`; `answer` is the server's (see create_server)."""
    job_roles = JobRoles(commands)

    @mcp.tool(annotations=IDEMPOTENT)
    def set_job_role(
        user: Annotated[Rep, Field(description="The person: Gong user id, e-mail or full name")],
        role: Annotated[
            str,
            Field(
                min_length=1,
                max_length=40,
                description="Job role slug: ae (account executive), se (sales engineer), csm"
                " (customer success) or the company's own, e.g. partner_manager",
            ),
        ],
    ) -> roles.RoleChange:
        """Set a person's job role from now on: it wins over their Gong title until an admin
        changes it, chooses the rubric variants their calls are scored with, and the group
        they are ranked and compared in (never across roles). Returns the role history.
        Admins only."""
        return answer(job_roles.set, user, role)
