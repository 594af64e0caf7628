"""What each `sales-coach` command does, one function per command (`functions.cli` holds
their arguments): each takes the parsed arguments, builds what it needs from the settings, and
returns what the command prints as JSON, or `PRINTED` when it printed its own output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.config import load_settings
from common.errors import CoachError

PRINTED = object()  # a command that printed its own output


def init_db(args: argparse.Namespace) -> Any:
    from common.db import apply_schema, ensure_history

    s = load_settings()
    apply_schema(s.database_url)
    return {
        "schema": "applied",
        "session_partitions_created": ensure_history(s.database_url, s.retention_years),
    }


def init(args: argparse.Namespace) -> Any:
    from common.rubrics import starter

    written = starter(Path(args.dir))
    return {
        "rubrics": str(Path(args.dir) / "rubrics"),
        "written": written,
        "next": "edit knowledge_base/company.md and add your product docs, then set RUBRICS_DIR",
    }


def forget(args: argparse.Namespace) -> Any:
    import getpass

    from common.lifecycle.privacy import forget

    return forget(
        load_settings(),
        email=args.email,
        phone=args.phone,
        yes=args.yes,
        requested_by=args.by or getpass.getuser(),
    )


def retention(args: argparse.Namespace) -> Any:
    from common.lifecycle.retention import enforce

    return enforce(load_settings())


def backfill(args: argparse.Namespace) -> Any:
    from flows.backfill import queue_calls

    if args.end <= args.start:
        raise CoachError("--to must be after --from")
    return queue_calls(load_settings(), args.start, args.end)


def sync_users(args: argparse.Namespace) -> Any:
    from common.calls import roles
    from common.calls.store import upsert_users
    from common.db import transaction
    from common.gong import GongClient

    s = load_settings()
    with GongClient.from_settings(s) as gong, transaction(s.database_url) as conn:
        return {"users": upsert_users(conn, list(gong.users()), roles.titles_from(s))}


def analyze(args: argparse.Namespace) -> Any:
    load_settings()  # a missing setting is one line here, not a traceback from inside a flow run
    from flows.analyze_call import analyze_call

    with prefect_console(shown=args.verbose):
        return analyze_call(
            args.call_id,
            dimensions=args.dimension or None,
            force=args.force,
            override_budget=args.override_budget,
        )


@contextmanager
def prefect_console(*, shown: bool) -> Iterator[None]:
    """Prefect's console log (run progress, and a failed run's traceback) muted unless `shown`:
    the command ends in its JSON or one error line. The run's log still goes to Prefect's API."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    levels = [h.level for h in handlers]
    if not shown:
        for handler in handlers:
            handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


def analysis_failed(args: argparse.Namespace, exc: BaseException) -> str:
    """One line for what stopped `analyze` that is not a known failure: Prefect itself (its API
    unreachable or refusing), or the run (a bug: its traceback is in the run's Prefect log)."""
    from prefect.settings import PREFECT_API_URL

    cause = _root_cause(exc)
    why = _first_line(exc)
    if cause is not exc:
        why = f"{why} ({_first_line(cause)})"
    if _raised_in_prefect(exc):
        api = PREFECT_API_URL.value() or "a temporary server"
        return f"Prefect could not run the analysis (PREFECT_API_URL: {api}): {why}"
    return f"call {args.call_id} not analysed: {why}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def _raised_in_prefect(exc: BaseException) -> bool:
    """Was `exc` raised by Prefect's own code (not re-raised from the flow's)?"""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}prefect{os.sep}" in tb.tb_frame.f_code.co_filename


def status(args: argparse.Namespace) -> Any:
    from common.db import connect
    from common.monitoring.health import snapshot
    from common.monitoring.status import older_scoring_versions, pipeline_status
    from common.scoring import publishing, run_to_run

    s = load_settings()
    since = datetime.now(UTC) - timedelta(days=30)
    with connect(s.database_url) as conn:
        return {
            **pipeline_status(conn, s),
            "sessions_from_older_scorers": older_scoring_versions(conn, s),
            "publish_gate_30d": publishing(conn, since),
            "run_to_run_30d": run_to_run(conn, since),
            **snapshot(conn, s),
        }


def health(args: argparse.Namespace) -> Any:
    from common.monitoring.health import check

    return check(load_settings())


def requeue(args: argparse.Namespace) -> Any:
    from common.db import transaction
    from common.intake.outbox import requeue_parked

    with transaction(load_settings().database_url) as conn:
        return {"requeued": requeue_parked(conn, args.call_id)}


def agreement(args: argparse.Namespace) -> Any:
    from common.accuracy.agreement import PairsFileError, read_pairs, report, table

    if args.pairs:  # CSV mode: no database
        try:
            result = report(read_pairs(Path(args.pairs)), bootstrap=args.bootstrap)
        except (PairsFileError, OSError) as exc:
            raise CoachError(str(exc)) from None
    else:
        result = agreement_from_db(args)
    if args.json:
        print(json.dumps(result))
    elif args.pairs:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    return PRINTED


def validity(args: argparse.Namespace) -> Any:
    """Deals from a scores CSV, or this project's own; with --json the exact JSON shape on
    stdout, and the count of deals still needed (when too few) on stderr."""
    import sys

    from common.validity import ValidityFileError, analyse, read_rows, table

    if args.from_csv:
        try:
            rows = read_rows(Path(args.from_csv))
        except (ValidityFileError, OSError) as exc:
            raise CoachError(str(exc)) from None
        report = analyse(rows, min_deals=args.min_deals or _default_min_deals())
    else:
        report = _validity_from_db(args)
    if not args.json:
        print(table(report))
        return PRINTED
    print(json.dumps(report.public()))
    if not report.enough_deals:
        print(table(report), file=sys.stderr)
    return PRINTED


def _default_min_deals() -> int:
    """VALIDITY_MIN_DEALS, checked as settings check it, without the settings (a database,
    Gong keys) a run on a CSV does not need."""
    from common.config import Settings

    field = Settings.model_fields["validity_min_deals"]
    raw = os.environ.get("VALIDITY_MIN_DEALS", "").strip()
    if not raw:
        return int(field.default)
    if not raw.isdigit() or int(raw) < 2:
        raise CoachError(f"VALIDITY_MIN_DEALS is invalid: {raw!r} ({field.description})")
    return int(raw)


def _validity_from_db(args: argparse.Namespace) -> Any:
    from common.access import load_caller, visible_reps
    from common.db import connect
    from common.validity import from_db

    settings = load_settings()
    with connect(settings.database_url) as conn:
        reps = visible_reps(conn, load_caller(conn, args.team)) if args.team else None
        return from_db(conn, reps, args.min_deals or settings.validity_min_deals)


def coaching_effect(args: argparse.Namespace) -> Any:
    """One line for people, or the whole result with --json."""
    from common.access import load_caller, visible_reps
    from common.db import connect
    from common.validity import coaching_effect, coaching_line

    s = load_settings()
    with connect(s.database_url) as conn:
        reps = visible_reps(conn, load_caller(conn, args.team)) if args.team else None
        result = coaching_effect(conn, reps, args.weeks, args.min_events or s.coaching_min_events)
    print(json.dumps(result.public()) if args.json else coaching_line(result))
    return PRINTED


def compliance_pack(args: argparse.Namespace) -> Any:
    """The works-council pack for [--from, --to] (both days included, UTC), read in one
    snapshot so every part counts the same rows."""
    from psycopg import IsolationLevel

    from common.compliance import write_pack
    from common.db import connect

    s, end = load_settings(), args.end or datetime.now(UTC).date()
    with connect(s.database_url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        files = write_pack(conn, s, Path(args.dir), args.start or end - timedelta(days=89), end)
    return {"written": [str(p) for p in files.paths]}


def agreement_from_db(args: argparse.Namespace) -> dict[str, Any]:
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


def scorecards(args: argparse.Namespace) -> Any:
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


def import_scorecards(args: argparse.Namespace) -> Any:
    from flows.scorecards import import_range

    return import_range(load_settings(), args.start, args.end)


def refresh_deals(args: argparse.Namespace) -> Any:
    from common.deals import refresh_now

    return refresh_now(load_settings())


def evaluate(args: argparse.Namespace) -> Any:
    from common.accuracy.evaluation import run_eval, side_by_side
    from common.rubrics import load
    from common.scoring.service import ScoringService

    if args.models:
        return advise(args)
    candidate = load(Path(args.rubrics))
    service = ScoringService.from_settings(load_settings())
    try:
        report = run_eval(service, candidate, args.rubrics, args.sample, args.poll_seconds)
    finally:
        service.close()
    if args.json:
        return dataclasses.asdict(report)
    print(side_by_side(report))
    return PRINTED


def advise(args: argparse.Namespace) -> Any:
    """`eval --models`: each configuration scored apart from production, then compared."""
    from common.accuracy.advisor import run_models, settings_for, table
    from common.scoring.service import ScoringService

    if not 0 < args.delta < 1:
        raise CoachError("--delta is a margin in kappa, between 0 and 1")
    s = load_settings()
    for config in args.models:  # a malformed cascade is refused before anything is paid
        try:
            settings_for(s, config)
        except ValueError as exc:
            raise CoachError(f"{config}: {exc}") from None
    service = ScoringService.from_settings(s)
    try:
        report = run_models(service, args.models, args.sample, args.poll_seconds, args.delta)
    finally:
        service.close()
    if args.json:
        return dataclasses.asdict(report)
    print(table(report))
    return PRINTED


def import_manager_scores(args: argparse.Namespace) -> Any:
    from common.accuracy.agreement import PairsFileError
    from common.accuracy.manager_scores import import_csv
    from common.db import connect
    from common.rubrics import load

    s = load_settings()
    try:  # committed a page at a time; a bad row is reported in the output and skipped
        with connect(s.database_url) as conn:
            return import_csv(conn, Path(args.file), load(s.rubrics_dir))
    except (PairsFileError, OSError) as exc:
        raise CoachError(str(exc)) from None


def calibrate(args: argparse.Namespace) -> Any:
    from common.accuracy.calibration import calibrate
    from common.db import transaction

    s = load_settings()
    with transaction(s.database_url) as conn:
        result = calibrate(conn, s.rubrics_dir, Path(args.out), args.min_gap)
    out = dataclasses.asdict(result)
    out["next"] = f"sales-coach eval --rubrics {args.out}"
    return out


def costs(args: argparse.Namespace) -> Any:
    from common.db import connect
    from common.scoring.costs import month_to_date

    with connect(load_settings().database_url) as conn:
        return month_to_date(conn)


def dispatch(args: argparse.Namespace) -> Any:
    from flows.dispatcher import dispatch_once, run_forever

    s = load_settings()
    if args.loop:
        run_forever(s, interval_s=args.interval)
    return dataclasses.asdict(dispatch_once(s))


def set_role(args: argparse.Namespace) -> Any:
    from common.access import load_caller
    from common.db import transaction

    with transaction(load_settings().database_url) as conn:
        user = load_caller(conn, args.user)
        conn.execute(
            "UPDATE users SET role = %s, updated_at = now() WHERE id = %s", (args.role, user.id)
        )
    return {"user": user.id, "role": args.role}


def token(args: argparse.Namespace) -> Any:
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


def desktop(args: argparse.Namespace) -> Any:
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
