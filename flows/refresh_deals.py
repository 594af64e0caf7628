"""The daily deal refresh (`common.deals.refresh`): open deals' outcomes and the deals of calls
whose context was never read, through calls/extensive with Extended context, 100 ids a request,
inside the company's shared Gong budget; then the validity reports of the company and each
manager's team (`common.validity.refresh_reports`), kept for the MCP tool."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from common.config import load_settings
from common.db import connect
from common.deals import refresh_now
from common.validity import refresh_reports


@flow(name="refresh-deals")
def refresh_deals() -> dict[str, Any]:
    s = load_settings()
    out = refresh_now(s)
    with connect(s.database_url) as conn:
        out["validity_reports"] = refresh_reports(conn, s.validity_min_deals, datetime.now(UTC))
    return out
