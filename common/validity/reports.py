"""Validity reports kept for the company and each manager's team (`validity_reports`; this
module owns it). Computing one reads every closed deal's calls and fits a model per criterion,
seconds for a large team, so the daily deal refresh computes them and the MCP tool reads
them: a manager's question is answered from a table, not by a model fit in their request.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from common.access import Caller, visible_reps
from common.db import Row
from common.validity.analysis import Report, analyse
from common.validity.deals import ScoreRow
from common.validity.source import closed_deal_rows

COMPANY = "company"


def team_key(manager_id: str) -> str:
    return f"team:{manager_id}"


@dataclass(frozen=True)
class Kept:
    report: Report
    reps: int  # reps owning the deals
    min_deals: int
    computed_at: datetime


def compute(
    rows: list[ScoreRow], teams: Mapping[str, AbstractSet[str]], min_deals: int
) -> dict[str, tuple[Report, int]]:
    """The company's report and each team's (manager id -> the reps they see), from the
    company's rows read once."""
    out = {COMPANY: (analyse(rows, min_deals), len({r.rep_id for r in rows}))}
    for manager, reps in teams.items():
        mine = [r for r in rows if r.rep_id in reps]
        out[team_key(manager)] = (analyse(mine, min_deals), len({r.rep_id for r in mine}))
    return out


def save(
    conn: psycopg.Connection[Row],
    reports: dict[str, tuple[Report, int]],
    min_deals: int,
    at: datetime,
) -> int:
    """Keep these reports (replacing each scope's previous one); drops scopes not among them
    (a manager who left)."""
    for key, (report, reps) in reports.items():
        conn.execute(
            "INSERT INTO validity_reports (scope_key, computed_at, min_deals, reps, report)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope_key) DO UPDATE SET"
            " computed_at = excluded.computed_at, min_deals = excluded.min_deals,"
            " reps = excluded.reps, report = excluded.report",
            (key, at, min_deals, reps, Jsonb(report.model_dump(mode="json"))),
        )
    conn.execute("DELETE FROM validity_reports WHERE NOT scope_key = ANY(%s)", (list(reports),))
    return len(reports)


def latest(conn: psycopg.Connection[Row], key: str) -> Kept | None:
    row = conn.execute(
        "SELECT computed_at, min_deals, reps, report FROM validity_reports WHERE scope_key = %s",
        (key,),
    ).fetchone()
    if row is None:
        return None
    return Kept(
        report=Report.model_validate(row["report"]),
        reps=row["reps"],
        min_deals=row["min_deals"],
        computed_at=row["computed_at"],
    )


def refresh(conn: psycopg.Connection[Row], min_deals: int, at: datetime) -> int:
    """Compute and keep the company's report and every active manager's team's; returns how
    many were kept. The closed deals are read once."""
    managers = conn.execute(
        "SELECT id, name FROM users WHERE role = 'manager' AND deleted_at IS NULL AND active"
    ).fetchall()
    teams = {
        m["id"]: visible_reps(conn, Caller(m["id"], m["name"], "manager")) or set()
        for m in managers
    }
    return save(conn, compute(closed_deal_rows(conn, None), teams, min_deals), min_deals, at)
