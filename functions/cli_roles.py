"""`sales-coach set-job-role USER ROLE`: an admin's job role for a person (issue 30, item 3).

Registered by `functions.cli` (`cli_roles.add_parser(sub)`); what it does is
`common.calls.roles.set_job_role`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from common.calls import roles
from common.config import load_settings
from common.db import transaction


def add_parser(sub: Any) -> None:
    """The `set-job-role` subcommand on `sub` (argparse's subparsers)."""
    p = sub.add_parser(
        "set-job-role",
        help="set a person's job role (ae, se, csm or your own): it wins over their Gong title"
        " until changed here again; the role chooses rubric variants and who they are ranked with",
    )
    p.add_argument("user", help="the person's Gong user id, e-mail or full name")
    p.add_argument("role", help="a slug: ae, se, csm, or the company's own (e.g. partner_manager)")
    p.add_argument(
        "--since",
        type=_moment,
        help="in force from this date or date-time (UTC without an offset; default: now): calls"
        " from then count under the new role; re-analyse them for its rubric variants",
    )
    p.set_defaults(func=set_job_role)


def set_job_role(args: argparse.Namespace) -> Any:
    """The change and the person's role history, as JSON."""
    s = load_settings()
    with transaction(s.database_url) as conn:
        change = roles.set_job_role(conn, args.user, args.role, since=args.since)
    return change.model_dump(mode="json")


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
