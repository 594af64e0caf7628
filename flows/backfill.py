"""Backfill: queue a date range of Gong calls, for teams that start mid-quarter.

Calls are listed by polling Gong's `/v2/calls/extensive` and written to the outbox exactly
like webhook deliveries (idempotent on the call id), so the dispatcher analyses them and a
call that also arrives by webhook is analysed once.
"""

from __future__ import annotations

import json
from datetime import datetime

from prefect import flow

from common.config import Settings, load_settings
from common.db import transaction
from common.gong import GongClient
from common.intake import outbox


def queue_calls(s: Settings, start: datetime, end: datetime) -> dict[str, int]:
    queued = existing = 0
    with GongClient.from_settings(s) as gong, transaction(s.database_url) as conn:
        for call in gong.calls(from_dt=start, to_dt=end):
            payload = {
                "callData": json.loads(call.model_dump_json()),
                "isTest": False,
                "source": "backfill",
            }
            new = outbox.store_found(conn, call.metaData.id, payload)
            queued, existing = (queued + 1, existing) if new else (queued, existing + 1)
    return {"queued": queued, "already_known": existing}


@flow(name="backfill")
def backfill(start: datetime, end: datetime) -> dict[str, int]:
    return queue_calls(load_settings(), start, end)
