"""The company's own figures from its won deals, to replace the vendors' pooled benchmarks.

The weekly report held reps to a 43:57 talk ratio and 11-14 questions per discovery call,
figures from other companies' calls. Once this company has `min_deals` closed deals, its own
won deals say what its good calls look like: the middle half (25th to 75th percentile) of the
rep's talk share over the calls of won deals, and of the rep's questions on their discovery
calls (a title naming discovery, as the report counts them), beside the same for lost deals.
These are descriptions, not targets proven to cause wins; the validity analysis says whether a
figure goes with winning within a rep's own deals.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np
import psycopg
from pydantic import BaseModel

from common.db import Row
from common.validity.source import closed_calls, owners


class Spread(BaseModel):
    calls: int
    low: float  # 25th percentile
    median: float
    high: float  # 75th percentile


class WonDealFigures(BaseModel):
    deals: int  # closed deals behind the figures
    won: int
    talk_ratio_won: Spread | None  # rep share of talk, 0..1
    talk_ratio_lost: Spread | None
    questions_won: Spread | None  # the rep's questions per discovery call
    questions_lost: Spread | None


def won_deal_figures(
    conn: psycopg.Connection[Row], visible: AbstractSet[str] | None, min_deals: int
) -> WonDealFigures | None:
    """The figures over the closed deals of the reps in `visible` (None: all); None below
    `min_deals` closed deals, when the vendors' benchmarks stay."""
    calls = closed_calls(conn)
    owner = owners(calls)
    calls = [c for c in calls if visible is None or owner[c["deal_id"]] in visible]
    outcomes = {c["deal_id"]: c["outcome"] for c in calls}
    if len(outcomes) < min_deals:
        return None

    def spread(outcome: str, key: str, discovery: bool) -> Spread | None:
        values = [
            float(c["metrics"][key])
            for c in calls
            if c["outcome"] == outcome
            and c["metrics"]
            and c["metrics"].get("duration_s") != 0
            and isinstance(c["metrics"].get(key), int | float)
            and (not discovery or "discovery" in (c["title"] or "").lower())
        ]
        if not values:
            return None
        low, median, high = np.percentile(values, [25, 50, 75])
        return Spread(calls=len(values), low=float(low), median=float(median), high=float(high))

    return WonDealFigures(
        deals=len(outcomes),
        won=sum(o == "won" for o in outcomes.values()),
        talk_ratio_won=spread("won", "talk_ratio_rep", False),
        talk_ratio_lost=spread("lost", "talk_ratio_rep", False),
        questions_won=spread("won", "rep_questions", True),
        questions_lost=spread("lost", "rep_questions", True),
    )
