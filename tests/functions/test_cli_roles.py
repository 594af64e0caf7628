"""`sales-coach set-job-role USER ROLE` (functions/cli_roles.py) on real Postgres."""

from __future__ import annotations

import argparse
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.calls import roles
from common.errors import InvalidRequest
from functions import cli_roles


def _run(argv: list[str]) -> Any:
    parser = argparse.ArgumentParser(prog="sales-coach")
    cli_roles.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_set_job_role_records_the_admins_role_with_its_history(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute(
            "INSERT INTO users (id, name, email) VALUES ('r-1', 'Ann Lee', 'ann@x.example')"
        )
        roles.apply_gong_titles(conn, [("r-1", "Account Executive")], roles.DEFAULT_MAP)
    out = _run(["set-job-role", "ann@x.example", "se", "--since", "2026-01-05"])
    assert (out["user_id"], out["job_role"], out["label"], out["previous"]) == (
        "r-1",
        "se",
        "sales engineer",
        "ae",
    )
    assert [(p["job_role"], p["source"], p["until"]) for p in out["history"]] == [
        ("ae", "gong", "2026-01-05T00:00:00Z"),
        ("se", "admin", None),
    ]
    with pytest.raises(InvalidRequest, match="slug"):
        _run(["set-job-role", "r-1", "Sales Engineer"])
    with pytest.raises(SystemExit):
        _run(["set-job-role", "r-1", "se", "--since", "last week"])
