"""`sales-coach`: operator commands (database, backfill, users, analysis, costs).

This module is the command line: the arguments of each command, their types and the error
boundary that turns a failure a user can act on into one line. What each command does is in
`functions.cli_commands`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from common.config import DIMENSIONS
from common.errors import CoachError
from functions import cli_commands as commands
from functions import cli_preview, cli_roles


def iso_date(text: str) -> date:
    """argparse type: YYYY-MM-DD, or a one-line usage error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def iso_datetime(text: str) -> datetime:
    """argparse type: an ISO date or date-time, UTC when no offset is given."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def count(low: int, high: int | None = None) -> Any:
    """argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"{low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sales-coach", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="apply pending migrations (idempotent)").set_defaults(
        func=commands.init_db
    )
    f = sub.add_parser("forget", help="find (and with --yes erase) every call a person appears in")
    who = f.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's e-mail address")
    who.add_argument("--phone", help="the person's phone number")
    f.add_argument(
        "--yes", action="store_true", help="erase what was found (default: only show it)"
    )
    f.add_argument("--by", help="who asked, for the erasure record (default: your login)")
    f.set_defaults(func=commands.forget)
    i = sub.add_parser("init", help="write a starter rubrics/ folder for a new company into DIR")
    i.add_argument("dir", help="folder to create rubrics/ in (it must not exist yet)")
    i.set_defaults(func=commands.init)
    sub.add_parser("retention", help="drop data older than RETENTION_YEARS").set_defaults(
        func=commands.retention
    )
    b = sub.add_parser("backfill", help="queue Gong calls of a date range for analysis")
    b.add_argument(
        "--from", dest="start", required=True, type=iso_datetime, help="ISO date, inclusive"
    )
    b.add_argument("--to", dest="end", required=True, type=iso_datetime, help="ISO date, exclusive")
    b.set_defaults(func=commands.backfill)
    sub.add_parser("sync-users", help="sync users and managers from Gong").set_defaults(
        func=commands.sync_users
    )
    a = sub.add_parser("analyze", help="analyse one call now, in this process")
    a.add_argument("call_id")
    a.add_argument("--dimension", action="append", help="repeat for several (default: all)")
    a.add_argument("--force", action="store_true", help="bypass the analysis cache (admins)")
    a.add_argument(
        "--override-budget", action="store_true", help="ignore the monthly budget (admins)"
    )
    a.add_argument(
        "--verbose",
        action="store_true",
        help="show Prefect's run log (progress, a failure's traceback)",
    )
    a.set_defaults(func=commands.analyze, unexpected=commands.analysis_failed)
    sub.add_parser("costs", help="month-to-date spend and hit rates").set_defaults(
        func=commands.costs
    )
    sub.add_parser(
        "health", help="check the monitors now: alert on changes, write the ops page"
    ).set_defaults(func=commands.health)
    sub.add_parser(
        "status",
        help="outbox (waiting, running, parked calls), failures, slots, Gong budget, spend,"
        " monitors against their thresholds",
    ).set_defaults(func=commands.status)
    sub.add_parser(
        "scorecards", help="the company's Gong scorecards, each question mapped or UNMAPPED"
    ).set_defaults(func=commands.scorecards)
    m = sub.add_parser(
        "import-scorecards", help="import managers' answered scorecards (default: incremental)"
    )
    m.add_argument(
        "--from", dest="start", type=iso_date, help="review date, inclusive (YYYY-MM-DD)"
    )
    m.add_argument("--to", dest="end", type=iso_date, help="review date, exclusive (YYYY-MM-DD)")
    m.set_defaults(func=commands.import_scorecards)
    sub.add_parser(
        "refresh-deals",
        help="refresh open deals' outcomes from Gong's CRM context now (the daily flow's work)",
    ).set_defaults(func=commands.refresh_deals)
    g = sub.add_parser(
        "agreement",
        help="agreement between AI and manager scores (exact, within one, bias, QWK, alpha)",
    )
    g.add_argument(
        "--pairs",
        help="CSV with call_id,dimension,criterion,ai_score,manager_score (no database needed)",
    )
    g.add_argument(
        "--from", dest="start", type=iso_date, help="manager scores given on or after (YYYY-MM-DD)"
    )
    g.add_argument(
        "--to", dest="end", type=iso_date, help="manager scores given before (YYYY-MM-DD)"
    )
    g.add_argument("--team", help="a manager's id or email: their team's calls only")
    g.add_argument("--dimension", choices=DIMENSIONS)
    g.add_argument("--rubric-version", help="AI sessions scored under this rubric version")
    g.add_argument("--json", action="store_true", help="one JSON object on one line")
    g.add_argument(
        "--bootstrap",
        type=count(0, 100_000),
        default=1000,
        help="bootstrap rounds for the 95%% CIs (0: none)",
    )
    g.set_defaults(func=commands.agreement)
    v = sub.add_parser(
        "validity",
        help="which criteria go with won deals: odds ratio per score point within rep and stage",
    )
    v.add_argument(
        "--from-csv",
        dest="from_csv",
        metavar="FILE",
        help="CSV with call_id,rep_id,deal_id,stage,outcome,dimension,criterion,score"
        " (outcome won or lost; a blank score is not applicable); default: this project's"
        " closed deals and the scores people may see",
    )
    v.add_argument("--team", help="a manager's id or email: deals their team's reps own")
    v.add_argument("--json", action="store_true", help="one JSON object on one line")
    v.add_argument(
        "--min-deals",
        type=count(2),
        help="closed deals below which there are no numbers (default VALIDITY_MIN_DEALS, 100)",
    )
    v.set_defaults(func=commands.validity)
    ce = sub.add_parser(
        "coaching-effect",
        help="did coaching change anything: coached reps' change on the coached criterion"
        " against reps not coached in the same weeks (difference in differences)",
    )
    ce.add_argument("--team", help="a manager's id or email: their team's reps only")
    ce.add_argument(
        "--weeks", type=count(1, 26), default=4, help="weeks before and after each event"
    )
    ce.add_argument(
        "--min-events",
        type=count(2),
        help="usable events below which there are no numbers (default COACHING_MIN_EVENTS, 30)",
    )
    ce.add_argument("--json", action="store_true", help="one JSON object on one line")
    ce.set_defaults(func=commands.coaching_effect)
    w = sub.add_parser(
        "compliance-pack",
        help="write the works-council pack (Markdown and one HTML page) into DIR",
    )
    w.add_argument("dir", help="the folder to write into (created if missing)")
    w.add_argument(
        "--from", dest="start", type=iso_date, help="first day, inclusive (default: 90 days)"
    )
    w.add_argument("--to", dest="end", type=iso_date, help="last day, inclusive (default: today)")
    w.set_defaults(func=commands.compliance_pack)
    e = sub.add_parser(
        "eval",
        help="score the calls managers scored with candidate rubrics or models (batches, half price)",
    )
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument("--rubrics", help="a full rubrics/ folder with the candidate")
    what.add_argument(
        "--models",
        nargs="+",
        metavar="CONFIG",
        help="scoring configurations to compare: a cascade (as SCORING_CASCADE, e.g."
        " claude-haiku-5-5x3>claude-sonnet-5-5x1), or dimension=cascade pairs (as"
        " SCORING_CASCADE_BY_DIMENSION); recommends the cheapest good enough per dimension",
    )
    e.add_argument(
        "--delta",
        type=float,
        default=0.05,
        help="with --models: how much lower than the best's a recommended configuration's"
        " kappa may be (non-inferiority margin, default 0.05)",
    )
    e.add_argument("--sample", type=count(1), help="at most this many calls (a seeded sample)")
    e.add_argument("--poll-seconds", type=float, default=30.0, help="batch status polling")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=commands.evaluate)
    i = sub.add_parser(
        "import-manager-scores",
        help="manager scores from a CSV: call_id,reviewer,dimension,criterion,score,note",
    )
    i.add_argument("file")
    i.set_defaults(func=commands.import_manager_scores)
    k = sub.add_parser(
        "calibrate",
        help="anchored examples where managers and the AI disagree, in a candidate rubric folder",
    )
    k.add_argument("--out", default=str(Path(".data") / "calibration" / "rubrics"))
    k.add_argument(
        "--min-gap", type=count(1, 4), default=2, help="points apart to propose an example"
    )
    k.set_defaults(func=commands.calibrate)
    q = sub.add_parser("requeue", help="send calls parked as needs_attention back to the queue")
    q.add_argument("call_id", nargs="*", help="call ids (default: every parked call)")
    q.set_defaults(func=commands.requeue)
    d = sub.add_parser("dispatch", help="start runs for pending webhook events")
    d.add_argument("--loop", action="store_true", help="keep dispatching (local dispatcher)")
    d.add_argument("--interval", type=float, default=5.0)
    d.set_defaults(func=commands.dispatch)
    r = sub.add_parser(
        "set-role", help="make a user a rep, manager or admin (admins see everything)"
    )
    r.add_argument("user", help="Gong user id or email")
    r.add_argument("role", choices=["rep", "manager", "admin"])
    r.set_defaults(func=commands.set_role)
    t = sub.add_parser("token", help="MCP bearer tokens: create, list, revoke by id")
    t.add_argument("action", choices=["create", "list", "revoke"])
    t.add_argument("--user", help="Gong user id or email (create; filters list)")
    t.add_argument("--label", default="", help="what the token is for, e.g. laptop")
    t.add_argument(
        "--days",
        type=count(1, 366),
        help="valid for this many days, 1 to 366 (default MCP_TOKEN_DAYS)",
    )
    t.add_argument("--id", type=int, help="the token id to revoke")
    t.set_defaults(func=commands.token)
    c = sub.add_parser("claude-desktop-config", help="print the claude_desktop_config.json entry")
    c.add_argument("--user", help="stdio: the Gong user id or email the local server acts as")
    c.add_argument(
        "--remote",
        metavar="URL",
        help="the company's MCP server, e.g. https://coach.example.com/mcp",
    )
    c.add_argument("--token", help="remote with bearer tokens: the user's token (omit for OAuth)")
    c.set_defaults(func=commands.desktop)
    cli_preview.add_parser(sub)
    cli_roles.add_parser(sub)
    return p


def known_failure(exc: BaseException) -> str | None:
    """One line for a failure a user can act on (a setting, the database, a file, a value);
    None for anything else, which is a bug and keeps its traceback."""
    import psycopg

    from common.accuracy.agreement import PairsFileError

    if isinstance(exc, CoachError | PairsFileError):
        return str(exc)
    if isinstance(
        exc, psycopg.OperationalError | psycopg.ProgrammingError | psycopg.InterfaceError
    ):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot use DATABASE_URL: {first}"
    if isinstance(exc, psycopg.DataError):
        return f"the database refused a value: {str(exc).strip().splitlines()[0]}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.func(args)
    except Exception as exc:
        line = known_failure(exc)
        unexpected = getattr(args, "unexpected", None)  # a command that never shows a traceback
        if line is None and unexpected is not None and not getattr(args, "verbose", False):
            line = unexpected(args, exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    if result is not commands.PRINTED:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
