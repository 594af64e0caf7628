"""Importing managers' Gong scorecards: daily and incremental, or a backfill of a date range.

`import_scorecards()` (scheduled daily) reads answers reviewed since the newest one imported
(one day of overlap: reviews land late; nothing is stored twice); with `start` and `end` it
backfills review dates [start, end).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from common.accuracy.scorecards import (
    MAPPING_FILE,
    ScorecardMapping,
    import_answers,
    incremental_window,
)
from common.config import Settings, load_settings
from common.db import connect
from common.gong import GongClient
from common.rubrics import load


def import_range(s: Settings, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    rubrics = load(s.rubrics_dir)
    mapping = ScorecardMapping.load(s.rubrics_dir / MAPPING_FILE, rubrics)
    with GongClient.from_settings(s) as gong, connect(s.database_url) as conn:
        if start is None or end is None:
            with conn.transaction():
                start, end = incremental_window(conn, datetime.now(UTC).date())
        # committed a page at a time: a window of any size, resumed where a stopped run left it
        return asdict(import_answers(conn, gong, mapping, rubrics, start, end))


@flow(name="import-scorecards")
def import_scorecards(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    return import_range(load_settings(), start, end)
