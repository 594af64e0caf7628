"""The health flow: every five minutes, the monitors against their thresholds, an alert when
one crosses or recovers (once each), and the ops page (`common.monitoring.health`)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from common.config import load_settings
from common.monitoring.health import check


@flow(name="health")
def health() -> dict[str, Any]:
    return check(load_settings())
