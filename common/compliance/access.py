"""The access log summarised for a period (EU AI Act Art. 26(6) and Art. 12: logs kept): how
many reads of which kind each role made, how many people made them, how many calls they
touched, and how many were of another person's call. No user ids, names or call ids.

A role is the reader's role today (`users.role`); a reader no longer in `users` counts as
"removed user". `LOGGED_ACTIONS` names what the system writes to `access_log`
(`common.insights`); a test holds it to the code.
"""

from __future__ import annotations

import psycopg
from pydantic import BaseModel

from common.compliance.md import esc, table
from common.compliance.period import Period
from common.db import Row

LOGGED_ACTIONS: dict[str, str] = {
    "get_call_coaching": "opened one call's scores and coaching",
    "analyze_call": "asked for a call to be analysed",
    "list_deal_calls": "listed the calls of a deal",
    "get_weekly_report": "opened a weekly report",
}
REMOVED = "removed user"


class AccessRow(BaseModel):
    role: str
    action: str
    reads: int
    people: int
    calls: int  # distinct calls read
    others: int  # reads of a call whose rep is someone else


class AccessSummary(BaseModel):
    period: str
    rows: list[AccessRow]


_SUMMARY = """
SELECT coalesce(u.role, %(removed)s) AS role, a.action, count(*) AS reads,
       count(DISTINCT a.user_id) AS people, count(DISTINCT a.call_id) AS calls,
       count(*) FILTER (WHERE c.primary_user_id IS DISTINCT FROM a.user_id
                        AND a.call_id IS NOT NULL) AS others
FROM access_log a
LEFT JOIN users u ON u.id = a.user_id
LEFT JOIN calls c ON c.id = a.call_id
WHERE a.at >= %(since)s AND a.at < %(until)s
GROUP BY 1, 2 ORDER BY 1, 2
"""


def build(conn: psycopg.Connection[Row], period: Period) -> AccessSummary:
    rows = conn.execute(_SUMMARY, {**period.bounds, "removed": REMOVED}).fetchall()
    return AccessSummary(period=period.label, rows=[AccessRow.model_validate(r) for r in rows])


def render(a: AccessSummary) -> str:
    total = sum(r.reads for r in a.rows)
    by_role: dict[str, int] = {}
    for r in a.rows:
        by_role[r.role] = by_role.get(r.role, 0) + r.reads
    roles = ", ".join(f"{esc(role)} {n}" for role, n in sorted(by_role.items()))
    logged = [f"`{name}`: {what}" for name, what in LOGGED_ACTIONS.items()]
    return (
        "\n\n".join(
            [
                "# Access log summary",
                f"Period: {esc(a.period)}. Entries in the access log: {total}"
                + (f" (by role: {roles})." if roles else "."),
                table(
                    ["Role", "Action", "Reads", "People", "Calls", "Of another's call"],
                    [(r.role, r.action, r.reads, r.people, r.calls, r.others) for r in a.rows],
                ),
                "The log records, for each of these actions, who, when and which call or"
                " report (administrators can query it with the `access_log` tool):",
                "\n".join(f"- {line}" for line in logged),
                "Lists and summaries (searches, team overviews, comparisons) are answered"
                " inside the reader's scope and are not logged one by one. The role shown is"
                " the reader's role today.",
            ]
        )
        + "\n"
    )
