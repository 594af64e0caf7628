"""Deals: the CRM opportunity behind each call, from Gong's Extended context (`deals`,
`call_deals`; the owner of both is `store`).

- `context`: a call's deal read from `context[]` (Now and TimeOfCall).
- `stages`: won / lost / open from the tenant's stage names (DEAL_STAGE_OUTCOMES), Probability
  100 / 0 as a fallback, unknown names reported.
- `store`: writes; `record_context` is what storing a call calls.
- `refresh`: the daily refresh of open deals' outcomes (flows/refresh_deals.py).
- `reads`: a call's deal, a deal's calls with their scores, a week's closed deals.
"""

from __future__ import annotations

import psycopg

from common.db import Row
from common.deals.context import CallDeal, Snapshot, call_deal
from common.deals.reads import (
    CallDealOut,
    ClosedDeal,
    DealCall,
    DealCalls,
    DealRef,
    closed_between,
    deal_calls,
    for_call,
)
from common.deals.refresh import Refreshed, refresh, refresh_now
from common.deals.stages import StageMap
from common.deals.store import record_call, unmapped_stages
from common.gong import CallContext

__all__ = [
    "CallDeal",
    "CallDealOut",
    "ClosedDeal",
    "DealCall",
    "DealCalls",
    "DealRef",
    "Refreshed",
    "Snapshot",
    "StageMap",
    "call_deal",
    "closed_between",
    "deal_calls",
    "for_call",
    "record_call",
    "record_context",
    "refresh",
    "refresh_now",
    "unmapped_stages",
]


def record_context(
    conn: psycopg.Connection[Row],
    call_id: str,
    context: list[CallContext] | None,
    stages: StageMap,
) -> None:
    """Keep the deal a stored call's context names (from its webhook or its first fetch).
    Context that cannot say (not sent, Basic) leaves the call for the daily refresh."""
    deal = call_deal(context)
    if deal is not None:
        record_call(conn, call_id, deal, stages)
