"""`sales-coach rubric-preview`: its arguments and the question before anything is paid.

Registered by `functions.cli` (`cli_preview.add_parser(sub)`); what it does is
`common.accuracy.preview`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from common.accuracy.preview import Confirm, RubricPreview, run_preview, table
from common.errors import CoachError
from functions.cli_commands import PRINTED


def add_parser(sub: Any) -> None:
    """The `rubric-preview` subcommand on `sub` (argparse's subparsers)."""
    p = sub.add_parser(
        "rubric-preview",
        help="re-score a sample of recent calls with an edited rubrics/ folder (batches, half"
        " price, apart from production): before and after per criterion and per rep, the cost",
    )
    p.add_argument("--rubrics", required=True, help="the edited rubrics/ folder")
    p.add_argument("--sample", type=_positive, default=30, help="at most this many calls")
    p.add_argument("--days", type=_positive, default=30, help="calls of the last N days")
    p.add_argument("--seed", type=int, default=7, help="the sample's seed (same seed, same calls)")
    p.add_argument("--poll-seconds", type=float, default=30.0, help="batch status polling")
    p.add_argument(
        "--yes",
        action="store_true",
        help="submit without asking (default: show the estimate and ask on a terminal)",
    )
    p.add_argument("--json", action="store_true", help="the preview as JSON")
    p.set_defaults(func=rubric_preview)


def rubric_preview(args: argparse.Namespace) -> Any:
    result = run_preview(
        args.rubrics,
        args.sample,
        args.days,
        args.seed,
        confirm=ask(args.yes, sys.stdin, sys.stderr),
        poll_s=args.poll_seconds,
    )
    if args.json:
        return result.model_dump(mode="json")
    print(table(result))
    return PRINTED


def ask(yes: bool, stdin: TextIO, out: TextIO) -> Confirm:
    """Submit at once with `--yes`; else show the estimate on `out` and ask on a terminal,
    and refuse (a CoachError, nothing paid) when there is none to ask on."""

    def confirm(p: RubricPreview) -> bool:
        if yes:
            return True
        print(table(p), file=out)
        if not stdin.isatty():
            raise CoachError(
                "not submitted: there is no terminal to ask on; run again with --yes to submit"
            )
        requests = sum(len(c.dimensions) for c in p.sample)
        out.write(f"submit {requests} call dimensions (~${p.cost.estimate_usd:.4f})? [y/N] ")
        out.flush()
        return stdin.readline().strip().lower() in {"y", "yes"}

    return confirm


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
