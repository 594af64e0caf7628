"""The retention settings in force and what they delete (EU AI Act Art. 26(6): logs kept at
least six months; GDPR's storage limitation), with evidence that the daily job runs: rows
still kept from before the cutoff, and the erasures done in the period (counts only).

`DELETED` describes each count `common.lifecycle.retention.apply_retention` returns; a test
holds the two together, so the pack never lists a table the job does not expire, or misses
one it does.
"""

from __future__ import annotations

from datetime import date

import psycopg
from pydantic import BaseModel

from common.compliance.md import esc, table
from common.compliance.period import Period
from common.config import Settings
from common.db import Row

DELETED: dict[str, str] = {  # a count apply_retention returns -> what it deletes
    "session_partitions": (
        "the AI's scores, quotes and coaching notes (a whole quarter at a time, once all of it"
        " is past the cutoff)"
    ),
    "coaching_sessions_default": "the AI's scores outside the quarterly partitions",
    "calls": "calls and their transcripts in object storage, with their disputes",
    "manager_scores": "managers' scores and notes",
    "access_log": "the access log",
    "weekly_reports": "weekly reports and their pages",
    "scoring_work": "scoring work in progress (paid responses kept for resuming)",
    "claude_usage": "usage and cost records of AI requests",
    "claude_errors": "AI requests refused",
    "cache_lookups": "analysis-cache lookups",
    "webhook_events": "Gong's notifications of new calls",
}
LOG_MINIMUM_MONTHS = 6  # Art. 26(6)

# Rows kept that the job should have deleted, per kind the notice names (each by its retention
# column). The AI's scores go a quarter at a time: those of the quarter holding the cutoff stay
# until the whole quarter is past it.
_PAST_CUTOFF = """
SELECT (SELECT count(*) FROM calls
        WHERE coalesce(started_at, created_at) < %(cutoff)s) AS calls,
       (SELECT count(*) FROM coaching_sessions
        WHERE created_at < date_trunc('quarter', %(cutoff)s::date)) AS scores,
       (SELECT count(*) FROM manager_scores WHERE scored_at < %(cutoff)s) AS manager_scores,
       (SELECT count(*) FROM access_log WHERE at < %(cutoff)s) AS access_log
"""


class Erasures(BaseModel):
    requests: int
    calls: int
    by_kind: dict[str, int]  # email | phone -> requests


class Retention(BaseModel):
    period: str
    years: int
    cutoff: date  # data from before this day is deleted
    past_cutoff: dict[str, int]  # kind -> rows still kept from before the cutoff
    redact_kinds: list[str]
    token_days: int
    erasures: Erasures


def build(conn: psycopg.Connection[Row], s: Settings, period: Period) -> Retention:
    row = conn.execute(
        "SELECT (now() - make_interval(years => %s))::date AS cutoff", (s.retention_years,)
    ).fetchone()
    assert row is not None
    cutoff: date = row["cutoff"]
    past = conn.execute(_PAST_CUTOFF, {"cutoff": cutoff}).fetchone()
    assert past is not None
    return Retention(
        period=period.label,
        years=s.retention_years,
        cutoff=cutoff,
        past_cutoff={k: int(v) for k, v in past.items()},
        redact_kinds=list(s.redact_kinds),
        token_days=s.mcp_token_days,
        erasures=_erasures(conn, period),
    )


def _erasures(conn: psycopg.Connection[Row], period: Period) -> Erasures:
    rows = conn.execute(
        "SELECT kind, count(*) AS n, sum(calls) AS calls FROM erasures"
        " WHERE at >= %(since)s AND at < %(until)s GROUP BY kind ORDER BY kind",
        period.bounds,
    ).fetchall()
    return Erasures(
        requests=sum(int(r["n"]) for r in rows),
        calls=sum(int(r["calls"] or 0) for r in rows),
        by_kind={r["kind"]: int(r["n"]) for r in rows},
    )


def render(r: Retention) -> str:
    months = r.years * 12
    log_check = (
        f"This keeps the logs {months} months, at least the {LOG_MINIMUM_MONTHS} months"
        " Art. 26(6) asks of a deployer."
        if months >= LOG_MINIMUM_MONTHS
        else f"This keeps the logs {months} months, less than the {LOG_MINIMUM_MONTHS} months"
        " Art. 26(6) asks of a deployer."
    )
    past = sum(r.past_cutoff.values())
    job = (
        "Nothing from before the cutoff is kept: the retention job has run."
        if past == 0
        else f"{past} rows from before the cutoff are still kept: the daily retention job"
        " (`sales-coach retention`, the `retention` deployment) has not run since they"
        " expired."
    )
    redaction = ", ".join(esc(k) for k in r.redact_kinds) if r.redact_kinds else "none"
    e = r.erasures
    kinds = ", ".join(f"by {esc(k)} {n}" for k, n in e.by_kind.items())
    return (
        "\n\n".join(
            [
                "# Retention settings in force",
                table(
                    ["Setting", "Value"],
                    [
                        ("RETENTION_YEARS", r.years),
                        ("Deleted: data from before", r.cutoff.isoformat()),
                        ("REDACT (replaced before storing or sending to the AI)", redaction),
                        ("MCP_TOKEN_DAYS (days an access token is valid)", r.token_days),
                    ],
                ),
                f"Everything below is deleted {r.years} years after the call or the event, by a"
                " daily job: " + "; ".join(DELETED.values()) + ". " + log_check,
                "## Kept from before the cutoff",
                job,
                table(
                    ["Kind", "Rows before the cutoff"],
                    [(k.replace("_", " "), n) for k, n in r.past_cutoff.items()],
                ),
                "## Erasures on request",
                f"Period: {esc(r.period)}. Erasure requests carried out: {e.requests}"
                + (f" ({kinds})" if kinds else "")
                + f", erasing {e.calls} calls. Each erasure is recorded with who asked and the"
                " counts, never the address erased (`sales-coach forget`).",
            ]
        )
        + "\n"
    )
