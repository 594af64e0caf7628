"""The validity and agreement evidence available (EU AI Act Art. 26(5): the deployer monitors
the system's operation). Other packages own the analyses (`common.accuracy` agreement,
`common.validity`); their summaries come in as `Evidence`. When one is absent the pack says so,
and why, with the counts that decide whether it can be made yet.
"""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
from pydantic import BaseModel, ConfigDict

from common.compliance.md import esc
from common.compliance.period import Period
from common.config import Settings
from common.db import Row


class Evidence(BaseModel):
    """Summaries made elsewhere, as plain text (kept as written, in a fixed-width block)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agreement: str | None = None  # the AI's agreement with managers (`sales-coach agreement`)
    validity: str | None = None  # which criteria go with won deals (`sales-coach validity`)


class EvidenceFacts(BaseModel):
    period: str
    agreement_cmd: str
    paired_scores: int  # managers' overall scores in the period with an AI score beside them
    closed_deals: int  # won or lost deals with at least one call that has a shown score
    min_deals: int
    evidence: Evidence


_PAIRED = """
SELECT count(*) AS n FROM manager_scores
WHERE criterion = 'overall' AND scored_at >= %(since)s AND scored_at < %(until)s
  AND (ai_score IS NOT NULL OR ai_not_applicable)
"""
_CLOSED = """
SELECT count(DISTINCT d.id) AS n
FROM deals d
JOIN call_deals cd ON cd.deal_id = d.id
JOIN call_scores cs ON cs.call_id = cd.call_id
WHERE d.outcome <> 'open'
"""


def build(
    conn: psycopg.Connection[Row], s: Settings, period: Period, evidence: Evidence | None
) -> EvidenceFacts:
    paired = conn.execute(_PAIRED, period.bounds).fetchone()
    closed = conn.execute(_CLOSED).fetchone()
    assert paired is not None and closed is not None
    to = period.end + timedelta(days=1)  # the command's --to is exclusive
    return EvidenceFacts(
        period=period.label,
        agreement_cmd=f"sales-coach agreement --from {period.start.isoformat()} --to {to}",
        paired_scores=int(paired["n"]),
        closed_deals=int(closed["n"]),
        min_deals=s.validity_min_deals,
        evidence=evidence or Evidence(),
    )


def render(f: EvidenceFacts) -> str:
    return (
        "\n\n".join(
            [
                "# Validity and agreement evidence",
                f"Period: {esc(f.period)}.",
                "## Agreement of the AI's scores with managers'",
                _agreement(f),
                "## Validity: which criteria go with won deals",
                _validity(f),
            ]
        )
        + "\n"
    )


def _agreement(f: EvidenceFacts) -> str:
    basis = (
        f"In the period, {f.paired_scores} managers' scores of a dimension have the AI's"
        " score beside them (reviews, audit answers, dispute decisions, Gong scorecards,"
        " imports): these are what agreement is measured on."
    )
    if f.evidence.agreement:
        return f"{basis}\n\n{_block(f.evidence.agreement)}"
    return (
        f"**Not available in this pack:** no agreement summary was given to it. {basis}"
        f" To produce it, run `{esc(f.agreement_cmd)}`; with few paired scores its intervals"
        " are wide, and with none it cannot be measured."
    )


def _validity(f: EvidenceFacts) -> str:
    basis = (
        f"Closed (won or lost) deals with at least one scored call: {f.closed_deals}; the"
        f" analysis reports numbers from {f.min_deals} (VALIDITY_MIN_DEALS)."
    )
    if f.evidence.validity:
        return f"{basis}\n\n{_block(f.evidence.validity)}"
    why = (
        f" There are not enough closed deals yet: {f.min_deals - f.closed_deals} more are needed."
        if f.closed_deals < f.min_deals
        else " There are enough closed deals: run `sales-coach validity` and pass its summary"
        " to the pack."
    )
    return f"**Not available in this pack:** no validity summary was given to it. {basis}{why}"


def _block(text: str) -> str:
    """Text kept as written: a fence longer than any run of backticks inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"
