"""The owner of `deals` and `call_deals`: every write to them is here.

`record_call` keeps what a call's CRM context says: the deal (upserted by CRM system and
opportunity id) and the stage at the call. Context read while storing a call (from the webhook
or the first fetch) never reopens a deal already seen closed (it may be older than the last
refresh); the daily refresh reads Gong now and is authoritative.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from common.db import Row
from common.deals.context import CallDeal, Snapshot
from common.deals.stages import StageMap

_UPSERT_NOW = """
INSERT INTO deals AS d (crm_system, opportunity_id, name, amount, close_date, stage, probability,
                        outcome, stage_mapped, closed_at, refreshed_at)
VALUES (%(system)s, %(opp)s, %(name)s, %(amount)s, %(close_date)s, %(stage)s, %(probability)s,
        %(outcome)s, %(mapped)s, CASE WHEN %(outcome)s::text <> 'open' THEN now() END, now())
ON CONFLICT (crm_system, opportunity_id) DO UPDATE SET
    name = coalesce(EXCLUDED.name, d.name), amount = EXCLUDED.amount,
    close_date = EXCLUDED.close_date, stage = EXCLUDED.stage,
    probability = EXCLUDED.probability, outcome = EXCLUDED.outcome,
    stage_mapped = EXCLUDED.stage_mapped,
    closed_at = CASE WHEN EXCLUDED.outcome = 'open' THEN NULL
                     WHEN d.outcome = EXCLUDED.outcome THEN d.closed_at ELSE now() END,
    refreshed_at = now(), updated_at = now()
WHERE %(authoritative)s::boolean OR d.outcome = 'open'
"""

# Only the stage at the call is known: a first sighting, refreshed (Now) by the daily flow.
_INSERT_AT_CALL = """
INSERT INTO deals (crm_system, opportunity_id, name, amount, close_date, stage, probability,
                   outcome, stage_mapped)
VALUES (%(system)s, %(opp)s, %(name)s, %(amount)s, %(close_date)s, %(stage)s, %(probability)s,
        %(outcome)s, %(mapped)s)
ON CONFLICT (crm_system, opportunity_id) DO NOTHING
"""


def record_call(
    conn: psycopg.Connection[Row],
    call_id: str,
    found: CallDeal,
    stages: StageMap,
    authoritative: bool = False,
) -> int | None:
    """Store the call's deal (None: the call has none) and its stage at the call; returns the
    deal's id."""
    deal_id = _upsert_deal(conn, found, stages, authoritative) if found.opportunity_id else None
    at_call = found.at_call or Snapshot()
    conn.execute(
        """
        INSERT INTO call_deals (call_id, deal_id, stage_at_call, amount_at_call)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (call_id) DO UPDATE SET deal_id = EXCLUDED.deal_id,
            stage_at_call = coalesce(EXCLUDED.stage_at_call, call_deals.stage_at_call),
            amount_at_call = coalesce(EXCLUDED.amount_at_call, call_deals.amount_at_call),
            checked_at = now()
        """,
        (call_id, deal_id, at_call.stage, at_call.amount),
    )
    return deal_id


def _upsert_deal(
    conn: psycopg.Connection[Row], found: CallDeal, stages: StageMap, authoritative: bool
) -> int:
    snap = found.now or found.at_call or Snapshot()
    decision = stages.decide(snap.stage, snap.probability)
    params = {
        "system": found.crm_system,
        "opp": found.opportunity_id,
        "name": snap.name,
        "amount": snap.amount,
        "close_date": snap.close_date,
        "stage": snap.stage,
        "probability": snap.probability,
        "outcome": decision.outcome,
        "mapped": decision.mapped,
        "authoritative": authoritative,
    }
    conn.execute(_UPSERT_NOW if found.now else _INSERT_AT_CALL, params)
    row = conn.execute(
        "SELECT id FROM deals WHERE crm_system = %s AND opportunity_id = %s",
        (found.crm_system, found.opportunity_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def probe_calls(conn: psycopg.Connection[Row]) -> list[str]:
    """One call per open deal (its latest): asking Gong about it tells the deal's state now."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (cd.deal_id) cd.call_id FROM call_deals cd
        JOIN deals d ON d.id = cd.deal_id JOIN calls c ON c.id = cd.call_id
        WHERE d.outcome = 'open'
        ORDER BY cd.deal_id, c.started_at DESC NULLS LAST, cd.call_id
        """
    ).fetchall()
    return [r["call_id"] for r in rows]


def unchecked_calls(conn: psycopg.Connection[Row], since: datetime) -> list[str]:
    """Stored calls since `since` whose context was never read (their webhook carried none)."""
    rows = conn.execute(
        "SELECT id FROM calls c WHERE coalesce(c.started_at, c.created_at) >= %s"
        " AND NOT EXISTS (SELECT 1 FROM call_deals cd WHERE cd.call_id = c.id) ORDER BY id",
        (since,),
    ).fetchall()
    return [r["id"] for r in rows]


def unmapped_stages(conn: psycopg.Connection[Row]) -> dict[str, int]:
    """Stage names now held by deals that DEAL_STAGE_OUTCOMES does not know: deals per name."""
    rows = conn.execute(
        "SELECT coalesce(stage, '(no stage)') AS stage, count(*) AS n FROM deals"
        " WHERE NOT stage_mapped GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {r["stage"]: int(r["n"]) for r in rows}
