"""Reading deals where people look: a call's deal (get_call_coaching), a deal's calls with their
scores (list_deal_calls), a week's closed deals (the team's weekly report). Scores come from the
read model (`call_scores`); only calls of the reps in `visible` are read (None: everyone)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import date, datetime

import psycopg
from pydantic import BaseModel, Field

from common.config import DIMENSIONS
from common.db import Row
from common.errors import AccessDenied, InvalidRequest


class DealRef(BaseModel):
    """A CRM opportunity as Gong last showed it."""

    opportunity_id: str = Field(description="The CRM's id of the opportunity")
    crm_system: str
    name: str | None
    amount: float | None
    close_date: date | None
    stage: str | None = Field(description="The stage now")
    outcome: str = Field(description="won, lost or open (from the stage: DEAL_STAGE_OUTCOMES)")
    stage_mapped: bool = Field(description="False: a stage name the stage map does not know")


class CallDealOut(DealRef):
    """The deal behind a call, and its stage when the call happened."""

    stage_at_call: str | None


class DealCall(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    stage_at_call: str | None
    scores: dict[str, float]
    average: float | None


class DealCalls(BaseModel):
    deal: DealRef
    calls: list[DealCall] = Field(description="The deal's calls in your scope, oldest first")


class ClosedDeal(BaseModel):
    deal: DealRef
    calls: list[DealCall]


_DEAL = "d.opportunity_id, d.crm_system, d.name, d.amount, d.close_date, d.stage, d.outcome,"
_DEAL += " d.stage_mapped"
_CALL = f"""
SELECT cd.deal_id, c.id AS call_id, c.title, c.started_at, c.primary_user_id AS rep_id,
       u.name AS rep_name, cd.stage_at_call, cs.average,
       {", ".join(f"cs.{d}" for d in DIMENSIONS)}
FROM call_deals cd JOIN calls c ON c.id = cd.call_id
LEFT JOIN users u ON u.id = c.primary_user_id
LEFT JOIN call_scores cs ON cs.call_id = c.id
WHERE cd.deal_id = ANY(%(deals)s)
  AND (%(all)s::boolean OR c.primary_user_id = ANY(%(visible)s))
ORDER BY c.started_at NULLS LAST, c.id
"""


def _ref(row: Row) -> DealRef:
    return DealRef(
        opportunity_id=row["opportunity_id"],
        crm_system=row["crm_system"],
        name=row["name"],
        amount=float(row["amount"]) if row["amount"] is not None else None,
        close_date=row["close_date"],
        stage=row["stage"],
        outcome=row["outcome"],
        stage_mapped=row["stage_mapped"],
    )


def _call(row: Row) -> DealCall:
    scores = {d: float(row[d]) for d in DIMENSIONS if row[d] is not None}
    return DealCall(
        call_id=row["call_id"],
        title=row["title"],
        started_at=row["started_at"],
        rep_id=row["rep_id"],
        rep_name=row["rep_name"],
        stage_at_call=row["stage_at_call"],
        scores=scores,
        average=float(row["average"]) if row["average"] is not None else None,
    )


def _calls(
    conn: psycopg.Connection[Row], deal_ids: list[int], visible: AbstractSet[str] | None
) -> dict[int, list[DealCall]]:
    rows = conn.execute(
        _CALL, {"deals": deal_ids, "all": visible is None, "visible": sorted(visible or ())}
    ).fetchall()
    found: dict[int, list[DealCall]] = {}
    for row in rows:
        found.setdefault(row["deal_id"], []).append(_call(row))
    return found


def for_call(conn: psycopg.Connection[Row], call_id: str) -> CallDealOut | None:
    """The call's deal and its stage at the call (None: no deal known)."""
    row = conn.execute(
        f"SELECT {_DEAL}, cd.stage_at_call FROM call_deals cd JOIN deals d ON d.id = cd.deal_id"
        " WHERE cd.call_id = %s",
        (call_id,),
    ).fetchone()
    if row is None:
        return None
    return CallDealOut(**_ref(row).model_dump(), stage_at_call=row["stage_at_call"])


def deal_calls(
    conn: psycopg.Connection[Row], deal: str, visible: AbstractSet[str] | None
) -> DealCalls:
    """The deal (by opportunity id or name) with its calls in scope; a deal none of whose calls
    is in scope is refused exactly like one that does not exist."""
    rows = conn.execute(
        f"SELECT d.id, {_DEAL} FROM deals d WHERE d.opportunity_id = %s OR lower(d.name) = lower(%s)"
        " ORDER BY d.opportunity_id = %s DESC, d.id",
        (deal, deal, deal),
    ).fetchall()
    calls = _calls(conn, [r["id"] for r in rows], visible)
    seen = [r for r in rows if calls.get(r["id"])]
    if not seen:
        raise AccessDenied(f"no deal {deal!r} among the calls in your scope")
    if len(seen) > 1 and seen[0]["opportunity_id"] != deal:
        ids = ", ".join(r["opportunity_id"] for r in seen)
        raise InvalidRequest(f"several deals are named {deal!r}: ask by opportunity id ({ids})")
    return DealCalls(deal=_ref(seen[0]), calls=calls[seen[0]["id"]])


def closed_between(
    conn: psycopg.Connection[Row], start: date, end: date, rep_ids: AbstractSet[str]
) -> list[ClosedDeal]:
    """Deals won or lost in [start, end) (their CRM close date, else the day we saw them close)
    with the calls of these reps, largest first."""
    rows = conn.execute(
        f"""
        SELECT d.id, {_DEAL} FROM deals d
        WHERE d.outcome <> 'open'
          AND coalesce(d.close_date, (d.closed_at AT TIME ZONE 'UTC')::date) >= %s
          AND coalesce(d.close_date, (d.closed_at AT TIME ZONE 'UTC')::date) < %s
          AND EXISTS (SELECT 1 FROM call_deals cd JOIN calls c ON c.id = cd.call_id
                      WHERE cd.deal_id = d.id AND c.primary_user_id = ANY(%s))
        ORDER BY d.amount DESC NULLS LAST, d.name
        """,
        (start, end, sorted(rep_ids)),
    ).fetchall()
    calls = _calls(conn, [r["id"] for r in rows], rep_ids)
    return [ClosedDeal(deal=_ref(r), calls=calls.get(r["id"], [])) for r in rows]
