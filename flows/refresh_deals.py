"""The daily deal refresh (`common.deals.refresh`): open deals' outcomes and the deals of calls
whose context was never read, through calls/extensive with Extended context, 100 ids a request,
inside the company's shared Gong budget."""

from __future__ import annotations

from typing import Any

from prefect import flow

from common.config import load_settings
from common.deals import refresh_now


@flow(name="refresh-deals")
def refresh_deals() -> dict[str, Any]:
    return refresh_now(load_settings())
