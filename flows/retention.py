"""The retention flow: daily, drops data older than RETENTION_YEARS (`common.lifecycle.retention`)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from common.config import load_settings
from common.lifecycle.retention import enforce


@flow(name="retention")
def retention() -> dict[str, Any]:
    return enforce(load_settings())
