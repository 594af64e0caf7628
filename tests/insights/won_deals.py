"""Closed deals on seeded history (`local.seed`), for the tests of what reads the validity
analysis: the MCP tool, the weekly reports' leadership section and benchmarks."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from common.config import Settings
from common.deals import CallDeal, Snapshot, StageMap, record_call


def close_deal(conn: Any, opp: str, calls: list[str], won: bool, stage: str = "Discovery") -> None:
    """A deal `opp` on `calls`, closed won or lost (after every seeded call), at `stage`."""
    for call in calls:
        record_call(
            conn,
            call,
            CallDeal(
                "Salesforce",
                opp,
                now=Snapshot(name=opp, stage="Closed Won" if won else "Closed Lost"),
                at_call=Snapshot(name=opp, stage=stage),
            ),
            StageMap.from_settings(Settings.model_construct()),
        )


def close_every_call(
    conn: Any,
    reps: list[str],
    seed: int,
    planted: bool = False,
    flip: float = 0.15,
    leave: str | None = None,
) -> dict[str, bool]:
    """Each of the reps' calls (but those whose id is LIKE `leave`) its own closed deal; call
    id -> won. Null (`planted` False):
    won by a fair coin. Planted: within each rep, a call with less than the rep's median
    talk share wins, the rest lose, each outcome flipped with probability `flip`; every rep
    wins about half, so the effect is within rep only."""
    rng = random.Random(seed)
    rows = conn.execute(
        "SELECT id, primary_user_id AS rep, (metrics ->> 'talk_ratio_rep')::float8 AS talk"
        " FROM calls WHERE primary_user_id = ANY(%s) AND (%s::text IS NULL OR id NOT LIKE %s)"
        " ORDER BY id",
        (reps, leave, leave),
    ).fetchall()
    by_rep: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_rep[r["rep"]].append(r["talk"])
    median = {rep: sorted(v)[len(v) // 2] for rep, v in by_rep.items()}
    outcomes = {}
    for r in rows:
        quiet = r["talk"] < median[r["rep"]]
        won = quiet != (rng.random() < flip) if planted else rng.random() < 0.5
        close_deal(conn, f"006-{r['id']}", [r["id"]], won)
        outcomes[r["id"]] = won
    return outcomes
