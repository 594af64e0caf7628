"""The daily deal refresh: open deals' outcomes, and the deals of calls never asked about.

For each open deal one of its calls (the latest) is asked of Gong's calls/extensive with
Extended context, Now and TimeOfCall: the Now opportunity is the deal today, so a deal closed in
the CRM since is picked up as won or lost. Calls stored recently whose webhook carried no
context are asked too. Ids go 100 a request, through the client's shared Gong limiter (the
company's rate and daily budget); each batch is stored in its own transaction, so a budget spent
half-way keeps what was read and the next run carries on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.config import Settings
from common.db import Db, transaction
from common.deals.context import call_deal
from common.deals.stages import StageMap
from common.deals.store import probe_calls, record_call, unchecked_calls, unmapped_stages
from common.gong import MAX_IDS, GongClient

UNCHECKED_DAYS = 30  # calls stored this recently without context are asked about once


@dataclass
class Refreshed:
    open_deals: int = 0  # open deals asked about
    unchecked_calls: int = 0  # calls asked about whose deal was not known yet
    requests: int = 0  # Gong requests made
    calls_read: int = 0  # calls Gong answered with their context
    closed: list[dict[str, Any]] = field(default_factory=list)  # deals seen closing now
    unmapped_stages: dict[str, int] = field(default_factory=dict)


def refresh(db: Db, gong: GongClient, stages: StageMap, now: datetime | None = None) -> Refreshed:
    now = now or datetime.now(UTC)
    with transaction(db) as conn:
        probes = probe_calls(conn)
        unchecked = unchecked_calls(conn, now - timedelta(days=UNCHECKED_DAYS))
        was_open = {r["id"] for r in conn.execute("SELECT id FROM deals WHERE outcome = 'open'")}
    result = Refreshed(open_deals=len(probes), unchecked_calls=len(unchecked))
    ids = list(dict.fromkeys(probes + unchecked))
    start = gong.requests_made
    try:
        for offset in range(0, len(ids), MAX_IDS):
            batch = ids[offset : offset + MAX_IDS]
            found = gong.calls_by_id(batch)
            with transaction(db) as conn:
                for call_id, call in found.items():
                    # we asked for Extended context: none sent means the call links to nothing
                    deal = call_deal(call.context if call.context is not None else [])
                    if deal is not None:
                        record_call(conn, call_id, deal, stages, authoritative=True)
                        result.calls_read += 1
    finally:
        result.requests = gong.requests_made - start
    with transaction(db) as conn:
        rows = conn.execute(
            "SELECT opportunity_id, name, outcome, stage FROM deals"
            " WHERE id = ANY(%s) AND outcome <> 'open' ORDER BY name",
            (sorted(was_open),),
        ).fetchall()
        result.closed = [dict(r) for r in rows]
        result.unmapped_stages = unmapped_stages(conn)
    return result


def refresh_now(s: Settings, db: Db | None = None) -> dict[str, Any]:
    """The refresh with the configured Gong account, stage map and database."""
    with GongClient.from_settings(s, db) as gong:
        return asdict(refresh(db or s.database_url, gong, StageMap.from_settings(s)))
