"""`sales-coach`: operator commands (database, backfill, users, analysis, costs)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from common.config import DIMENSIONS, load_settings
from common.errors import CoachError

_PRINTED = object()  # a command that printed its own output


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


def _init_db(args: argparse.Namespace) -> Any:
    from common.db import apply_schema, ensure_history

    s = load_settings()
    apply_schema(s.database_url)
    return {
        "schema": "applied",
        "session_partitions_created": ensure_history(s.database_url, s.retention_years),
    }


def _init(args: argparse.Namespace) -> Any:
    from common.rubrics import starter

    written = starter(Path(args.dir))
    return {
        "rubrics": str(Path(args.dir) / "rubrics"),
        "written": written,
        "next": "edit knowledge_base/company.md and add your product docs, then set RUBRICS_DIR",
    }


def _forget(args: argparse.Namespace) -> Any:
    import getpass

    from common.lifecycle.privacy import forget

    return forget(
        load_settings(),
        email=args.email,
        phone=args.phone,
        yes=args.yes,
        requested_by=args.by or getpass.getuser(),
    )


def _retention(args: argparse.Namespace) -> Any:
    from common.lifecycle.retention import enforce

    return enforce(load_settings())


def _backfill(args: argparse.Namespace) -> Any:
    from flows.backfill import queue_calls

    if args.end <= args.start:
        raise CoachError("--to must be after --from")
    return queue_calls(load_settings(), args.start, args.end)


def _sync_users(args: argparse.Namespace) -> Any:
    from common.calls.store import upsert_users
    from common.db import transaction
    from common.gong import GongClient

    s = load_settings()
    with GongClient.from_settings(s) as gong, transaction(s.database_url) as conn:
        return {"users": upsert_users(conn, list(gong.users()))}


def _analyze(args: argparse.Namespace) -> Any:
    load_settings()  # a missing setting is one line here, not a traceback from inside a flow run
    from flows.analyze_call import analyze_call

    return analyze_call(
        args.call_id,
        dimensions=args.dimension or None,
        force=args.force,
        override_budget=args.override_budget,
    )


def _status(args: argparse.Namespace) -> Any:
    from common.db import connect
    from common.monitoring.health import snapshot
    from common.monitoring.status import older_scoring_versions, pipeline_status

    s = load_settings()
    with connect(s.database_url) as conn:
        return {
            **pipeline_status(conn, s),
            "sessions_from_older_scorers": older_scoring_versions(conn, s),
            **snapshot(conn, s),
        }


def _health(args: argparse.Namespace) -> Any:
    from common.monitoring.health import check

    return check(load_settings())


def _requeue(args: argparse.Namespace) -> Any:
    from common.db import transaction
    from common.intake.outbox import requeue_parked

    with transaction(load_settings().database_url) as conn:
        return {"requeued": requeue_parked(conn, args.call_id)}


def _agreement(args: argparse.Namespace) -> Any:
    from common.accuracy.agreement import PairsFileError, read_pairs, report, table

    if args.pairs:  # CSV mode: no database
        try:
            result = report(read_pairs(Path(args.pairs)), bootstrap=args.bootstrap)
        except (PairsFileError, OSError) as exc:
            raise CoachError(str(exc)) from None
    else:
        result = _agreement_from_db(args)
    if args.json:
        print(json.dumps(result))
    elif args.pairs:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    return _PRINTED


def _agreement_from_db(args: argparse.Namespace) -> dict[str, Any]:
    from common.access import load_caller, visible_reps
    from common.accuracy.pairs import Filters, agreement
    from common.db import connect

    with connect(load_settings().database_url) as conn:
        reps = None
        if args.team:
            reps = visible_reps(conn, load_caller(conn, args.team))
        filters = Filters(
            start=args.start,
            end=args.end,
            rep_ids=sorted(reps) if reps is not None else None,
            dimension=args.dimension,
            rubric_version=args.rubric_version,
        )
        return agreement(conn, filters, args.bootstrap)


def _scorecards(args: argparse.Namespace) -> Any:
    from common.accuracy.scorecards import MAPPING_FILE, ScorecardMapping, describe
    from common.gong import GongClient
    from common.rubrics import load

    s = load_settings()
    mapping = ScorecardMapping.load(s.rubrics_dir / MAPPING_FILE, load(s.rubrics_dir))
    with GongClient.from_settings(s) as gong:
        cards = describe(gong.scorecards(), mapping)
    unmapped = [q for c in cards for q in c["questions"] if q["maps_to"] == "UNMAPPED"]
    return {
        "mapping_file": str(s.rubrics_dir / MAPPING_FILE),
        "scorecards": cards,
        "unmapped_questions": len(unmapped),
    }


def _import_scorecards(args: argparse.Namespace) -> Any:
    from flows.scorecards import import_range

    return import_range(load_settings(), args.start, args.end)


def _eval(args: argparse.Namespace) -> Any:
    from common.accuracy.evaluation import run_eval, side_by_side
    from common.rubrics import load
    from common.scoring.service import ScoringService

    candidate = load(Path(args.rubrics))
    service = ScoringService.from_settings(load_settings())
    try:
        report = run_eval(service, candidate, args.rubrics, args.sample, args.poll_seconds)
    finally:
        service.close()
    if args.json:
        return dataclasses.asdict(report)
    print(side_by_side(report))
    return _PRINTED


def _import_manager_scores(args: argparse.Namespace) -> Any:
    from common.accuracy.agreement import PairsFileError
    from common.accuracy.manager_scores import import_csv
    from common.db import transaction
    from common.rubrics import load

    s = load_settings()
    try:
        with transaction(s.database_url) as conn:
            return import_csv(conn, Path(args.file), load(s.rubrics_dir))
    except (PairsFileError, OSError) as exc:
        raise CoachError(str(exc)) from None


def _calibrate(args: argparse.Namespace) -> Any:
    from common.accuracy.calibration import calibrate
    from common.db import transaction

    s = load_settings()
    with transaction(s.database_url) as conn:
        result = calibrate(conn, s.rubrics_dir, Path(args.out), args.min_gap)
    out = dataclasses.asdict(result)
    out["next"] = f"sales-coach eval --rubrics {args.out}"
    return out


def _costs(args: argparse.Namespace) -> Any:
    from common.db import connect
    from common.scoring.costs import month_to_date

    with connect(load_settings().database_url) as conn:
        return month_to_date(conn)


def _dispatch(args: argparse.Namespace) -> Any:
    from flows.dispatcher import dispatch_once, run_forever

    s = load_settings()
    if args.loop:
        run_forever(s, interval_s=args.interval)
    return dataclasses.asdict(dispatch_once(s))


def _set_role(args: argparse.Namespace) -> Any:
    from common.access import load_caller
    from common.db import transaction

    with transaction(load_settings().database_url) as conn:
        user = load_caller(conn, args.user)
        conn.execute(
            "UPDATE users SET role = %s, updated_at = now() WHERE id = %s", (args.role, user.id)
        )
    return {"user": user.id, "role": args.role}


def _token(args: argparse.Namespace) -> Any:
    from common import access
    from common.db import transaction

    s = load_settings()
    with transaction(s.database_url) as conn:
        if args.action == "create":
            if not args.user:
                raise CoachError("token create needs --user (a Gong user id or email)")
            days = s.mcp_token_days if args.days is None else args.days
            token_id, token = access.create_token(conn, args.user, args.label, days)
            return {
                "id": token_id,
                "user": args.user,
                "token": token,
                "note": "shown once; only its hash is stored",
            }
        if args.action == "list":
            return [t.model_dump(mode="json") for t in access.list_tokens(conn, args.user)]
        if args.id is None:
            raise CoachError("token revoke needs --id (see `sales-coach token list`)")
        return {"id": args.id, "revoked": access.revoke_token_id(conn, args.id)}


def _desktop(args: argparse.Namespace) -> Any:
    from functions.desktop_config import claude_desktop_config

    if not args.remote and not args.user:
        raise CoachError("claude-desktop-config needs --user (stdio) or --remote URL")
    s = load_settings()
    if args.user:  # an entry for nobody would only fail later, inside Claude Desktop
        from common.access import load_caller
        from common.db import connect

        with connect(s.database_url) as conn:
            load_caller(conn, args.user)
    return claude_desktop_config(s, args.user, args.remote, args.token)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sales-coach", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="apply pending migrations (idempotent)").set_defaults(
        func=_init_db
    )
    f = sub.add_parser("forget", help="find (and with --yes erase) every call a person appears in")
    who = f.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's e-mail address")
    who.add_argument("--phone", help="the person's phone number")
    f.add_argument(
        "--yes", action="store_true", help="erase what was found (default: only show it)"
    )
    f.add_argument("--by", help="who asked, for the erasure record (default: your login)")
    f.set_defaults(func=_forget)
    i = sub.add_parser("init", help="write a starter rubrics/ folder for a new company into DIR")
    i.add_argument("dir", help="folder to create rubrics/ in (it must not exist yet)")
    i.set_defaults(func=_init)
    sub.add_parser("retention", help="drop data older than RETENTION_YEARS").set_defaults(
        func=_retention
    )
    b = sub.add_parser("backfill", help="queue Gong calls of a date range for analysis")
    b.add_argument(
        "--from", dest="start", required=True, type=iso_datetime, help="ISO date, inclusive"
    )
    b.add_argument("--to", dest="end", required=True, type=iso_datetime, help="ISO date, exclusive")
    b.set_defaults(func=_backfill)
    sub.add_parser("sync-users", help="sync users and managers from Gong").set_defaults(
        func=_sync_users
    )
    a = sub.add_parser("analyze", help="analyse one call now, in this process")
    a.add_argument("call_id")
    a.add_argument("--dimension", action="append", help="repeat for several (default: all)")
    a.add_argument("--force", action="store_true", help="bypass the analysis cache (admins)")
    a.add_argument(
        "--override-budget", action="store_true", help="ignore the monthly budget (admins)"
    )
    a.set_defaults(func=_analyze)
    sub.add_parser("costs", help="month-to-date spend and hit rates").set_defaults(func=_costs)
    sub.add_parser(
        "health", help="check the monitors now: alert on changes, write the ops page"
    ).set_defaults(func=_health)
    sub.add_parser(
        "status",
        help="outbox (waiting, running, parked calls), failures, slots, Gong budget, spend,"
        " monitors against their thresholds",
    ).set_defaults(func=_status)
    sub.add_parser(
        "scorecards", help="the company's Gong scorecards, each question mapped or UNMAPPED"
    ).set_defaults(func=_scorecards)
    m = sub.add_parser(
        "import-scorecards", help="import managers' answered scorecards (default: incremental)"
    )
    m.add_argument(
        "--from", dest="start", type=iso_date, help="review date, inclusive (YYYY-MM-DD)"
    )
    m.add_argument("--to", dest="end", type=iso_date, help="review date, exclusive (YYYY-MM-DD)")
    m.set_defaults(func=_import_scorecards)
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
    g.set_defaults(func=_agreement)
    e = sub.add_parser(
        "eval", help="score the calls managers scored with candidate rubrics (batches, half price)"
    )
    e.add_argument("--rubrics", required=True, help="a full rubrics/ folder with the candidate")
    e.add_argument("--sample", type=count(1), help="at most this many calls (a seeded sample)")
    e.add_argument("--poll-seconds", type=float, default=30.0, help="batch status polling")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_eval)
    i = sub.add_parser(
        "import-manager-scores",
        help="manager scores from a CSV: call_id,reviewer,dimension,criterion,score,note",
    )
    i.add_argument("file")
    i.set_defaults(func=_import_manager_scores)
    k = sub.add_parser(
        "calibrate",
        help="anchored examples where managers and the AI disagree, in a candidate rubric folder",
    )
    k.add_argument("--out", default=str(Path(".data") / "calibration" / "rubrics"))
    k.add_argument(
        "--min-gap", type=count(1, 4), default=2, help="points apart to propose an example"
    )
    k.set_defaults(func=_calibrate)
    q = sub.add_parser("requeue", help="send calls parked as needs_attention back to the queue")
    q.add_argument("call_id", nargs="*", help="call ids (default: every parked call)")
    q.set_defaults(func=_requeue)
    d = sub.add_parser("dispatch", help="start runs for pending webhook events")
    d.add_argument("--loop", action="store_true", help="keep dispatching (local dispatcher)")
    d.add_argument("--interval", type=float, default=5.0)
    d.set_defaults(func=_dispatch)
    r = sub.add_parser(
        "set-role", help="make a user a rep, manager or admin (admins see everything)"
    )
    r.add_argument("user", help="Gong user id or email")
    r.add_argument("role", choices=["rep", "manager", "admin"])
    r.set_defaults(func=_set_role)
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
    t.set_defaults(func=_token)
    c = sub.add_parser("claude-desktop-config", help="print the claude_desktop_config.json entry")
    c.add_argument("--user", help="stdio: the Gong user id or email the local server acts as")
    c.add_argument(
        "--remote",
        metavar="URL",
        help="the company's MCP server, e.g. https://coach.example.com/mcp",
    )
    c.add_argument("--token", help="remote with bearer tokens: the user's token (omit for OAuth)")
    c.set_defaults(func=_desktop)
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
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    if result is not _PRINTED:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
