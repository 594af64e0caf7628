"""The human-oversight record of a period (EU AI Act Art. 14 and Art. 26(2)): what the publish
gate held for a person, every person's word on a score (reviews, audit answers, dispute
resolutions, managers' own scores) and whether it confirmed or changed the AI's, the disputes
and their outcomes, and the scores still waiting for a person now.

Counts only: no call ids, names, notes, reasons or quotes. "A person's word" is a manager
score on a dimension's overall score (`manager_scores`, criterion 'overall'), the score the rep
then sees (`shown_scores`); its origin is read from its source and reference as the writers
set them (`review:`, `audit:`, `dispute:` from the tools, `gong` scorecards, `csv` imports).
"""

from __future__ import annotations

from datetime import date

import psycopg
from pydantic import BaseModel

from common.accuracy import disputes
from common.compliance.md import esc, number, table
from common.compliance.period import Period
from common.config import Settings
from common.db import Row

ORIGINS: dict[str, str] = {  # origin -> what it is, in the order shown
    "review": "answer to the review queue (a score the gate held)",
    "audit": "answer to the audit (a published score drawn for a check)",
    "dispute": "resolution of a rep's dispute",
    "own": "a manager's own score (Claude Desktop)",
    "gong": "a manager's Gong scorecard",
    "csv": "imported from a spreadsheet",
}


class GateRow(BaseModel):
    dimension: str
    scored: int  # current sessions scored in the period
    published: int  # published by the gate
    held: int  # held by the gate for a person
    answered: int  # of the held, a person has given their word since
    still_held: int  # of the held, still waiting now


class WordRow(BaseModel):
    origin: str
    scores: int
    confirmed: int  # the AI's score stands (a confirmation, an upheld dispute)
    own: int  # the person gave their own score
    changed: int  # of `own`, different from the AI's (on the 1-5 scale, or N/A one side)


class DisputeRecord(BaseModel):
    opened: int  # opened in the period
    open: int  # of those, still open
    upheld: int
    overridden: int
    by_dimension: dict[str, dict[str, int]]
    resolved: int  # resolved in the period (whenever opened)
    median_days: float | None  # of those resolved in the period


class HeldNow(BaseModel):
    dimension: str
    held: int
    oldest: date


class Oversight(BaseModel):
    period: str
    publish_tolerance: float
    audit_share: float
    gate: list[GateRow]
    words: list[WordRow]
    disputes: DisputeRecord
    held_now: list[HeldNow]


_GATE = """
SELECT s.dimension, count(*) AS scored,
       count(*) FILTER (WHERE s.state = 'published') AS published,
       count(*) FILTER (WHERE s.state = 'needs_review') AS held,
       count(*) FILTER (WHERE s.state = 'needs_review' AND NOT v.held) AS answered,
       count(*) FILTER (WHERE v.held) AS still_held
FROM current_sessions s
JOIN shown_scores v ON v.session_id = s.id AND v.call_id = s.call_id
WHERE s.created_at >= %(since)s AND s.created_at < %(until)s
GROUP BY s.dimension ORDER BY s.dimension
"""

# A changed score: N/A on one side only, or both scored and the person's differs from the AI's
# rounded half up to the 1-5 scale (as `manager_scores.ai_on_scale`). No AI score beside it
# (a call the AI did not score): neither confirmed nor changed.
_WORDS = """
SELECT CASE WHEN source = 'mcp' AND source_ref LIKE 'review:%%' THEN 'review'
            WHEN source = 'mcp' AND source_ref LIKE 'audit:%%' THEN 'audit'
            WHEN source = 'mcp' AND source_ref LIKE 'dispute:%%' THEN 'dispute'
            WHEN source = 'mcp' THEN 'own'
            ELSE source END AS origin,
       count(*) AS scores,
       count(*) FILTER (WHERE confirms_ai) AS confirmed,
       count(*) FILTER (WHERE NOT confirms_ai) AS own,
       count(*) FILTER (WHERE NOT confirms_ai AND (ai_score IS NOT NULL OR ai_not_applicable)
           AND (not_applicable <> ai_not_applicable
                OR (NOT not_applicable
                    AND score <> least(5, greatest(1, floor(ai_score + 0.5))))))
           AS changed
FROM manager_scores
WHERE criterion = 'overall' AND scored_at >= %(since)s AND scored_at < %(until)s
GROUP BY 1
"""

_RESOLVED = """
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM resolved_at - opened_at) / 86400.0) AS median_days
FROM disputes
WHERE status <> 'open' AND resolved_at >= %(since)s AND resolved_at < %(until)s
"""

_HELD_NOW = """
SELECT v.dimension, count(*) AS held, min(s.created_at)::date AS oldest
FROM shown_scores v
JOIN current_sessions s ON s.id = v.session_id AND s.call_id = v.call_id
WHERE v.held
GROUP BY v.dimension ORDER BY v.dimension
"""


def build(conn: psycopg.Connection[Row], s: Settings, period: Period) -> Oversight:
    return Oversight(
        period=period.label,
        publish_tolerance=s.publish_tolerance,
        audit_share=s.audit_share,
        gate=[GateRow.model_validate(r) for r in conn.execute(_GATE, period.bounds)],
        words=_words(conn, period),
        disputes=_disputes(conn, period),
        held_now=[HeldNow.model_validate(r) for r in conn.execute(_HELD_NOW)],
    )


def _words(conn: psycopg.Connection[Row], period: Period) -> list[WordRow]:
    rows = {r["origin"]: WordRow.model_validate(r) for r in conn.execute(_WORDS, period.bounds)}
    return [rows[o] for o in ORIGINS if o in rows]


def _disputes(conn: psycopg.Connection[Row], period: Period) -> DisputeRecord:
    opened = disputes.summary(conn, period.since, period.until, None)
    resolved = conn.execute(_RESOLVED, period.bounds).fetchone()
    assert resolved is not None
    median = resolved["median_days"]
    return DisputeRecord(
        opened=opened["opened"],
        open=opened["open"],
        upheld=opened["upheld"],
        overridden=opened["overridden"],
        by_dimension=opened["by_dimension"],
        resolved=resolved["n"],
        median_days=round(float(median), 1) if median is not None else None,
    )


# -- rendering -----------------------------------------------------------------------------


def render(o: Oversight) -> str:
    parts = [
        "# Human oversight record",
        f"Period: {esc(o.period)}. Counts only: no calls, names, notes or reasons are listed.",
        _gate(o),
        _words_part(o),
        _disputes_part(o.disputes),
        _held_now(o.held_now),
    ]
    return "\n\n".join(parts) + "\n"


def _gate(o: Oversight) -> str:
    scored, published = sum(r.scored for r in o.gate), sum(r.published for r in o.gate)
    held, answered = sum(r.held for r in o.gate), sum(r.answered for r in o.gate)
    still = sum(r.still_held for r in o.gate)
    return "\n\n".join(
        [
            "## Scores the AI made, and what the publish gate held",
            f"Scores made in the period (one per call and dimension): {scored}. Published by"
            f" the gate: {published}. Held for a person: {held}; of these, answered by a"
            f" person: {answered}, still held: {still}.",
            "The gate publishes a score only when the AI's samples agree within"
            f" {number(o.publish_tolerance)} point, every score quotes evidence from the call,"
            " and no other check fails; otherwise the rep sees no score until a person has"
            " given theirs.",
            table(
                ["Dimension", "Scored", "Published", "Held", "Answered", "Still held"],
                [
                    (r.dimension, r.scored, r.published, r.held, r.answered, r.still_held)
                    for r in o.gate
                ],
            ),
        ]
    )


def _words_part(o: Oversight) -> str:
    scores, confirmed = sum(w.scores for w in o.words), sum(w.confirmed for w in o.words)
    own, changed = sum(w.own for w in o.words), sum(w.changed for w in o.words)
    audit = (
        f"The audit draws a share of {number(o.audit_share)} of published scores for a manager"
        " to check."
        if o.audit_share
        else "The audit is off (AUDIT_SHARE is 0)."
    )
    return "\n\n".join(
        [
            "## Reviews and overrides: a person's word on a score",
            f"People gave their word on {scores} scores in the period: {confirmed} confirmed"
            f" the AI's score, {own} gave their own score, of which {changed} changed it"
            " (overrides). The person's score is the one the rep sees.",
            table(
                ["Origin", "Scores", "Confirmed the AI", "Own score", "Changed the AI's"],
                [(ORIGINS[w.origin], w.scores, w.confirmed, w.own, w.changed) for w in o.words],
            ),
            audit,
        ]
    )


def _disputes_part(d: DisputeRecord) -> str:
    median = (
        f" The median time from dispute to decision was {d.median_days:g} days."
        if d.median_days is not None
        else ""
    )
    return "\n\n".join(
        [
            "## Disputes and their outcomes",
            f"Reps opened {d.opened} disputes in the period: {d.upheld} upheld (the AI's score"
            f" stands), {d.overridden} overridden (the manager changed the score), {d.open}"
            f" still open. Disputes decided in the period, whenever opened: {d.resolved}." + median,
            table(
                ["Dimension", "Opened", "Upheld", "Overridden", "Open"],
                [
                    (dim, sum(c.values()), c["upheld"], c["overridden"], c["open"])
                    for dim, c in d.by_dimension.items()
                ],
            ),
        ]
    )


def _held_now(held: list[HeldNow]) -> str:
    total = sum(h.held for h in held)
    return "\n\n".join(
        [
            "## Scores held for review now",
            f"Scores waiting for a person at the time of writing (whenever made): {total}.",
            table(
                ["Dimension", "Held", "Oldest (scored on)"],
                [(h.dimension, h.held, h.oldest.isoformat()) for h in held],
            ),
        ]
    )
