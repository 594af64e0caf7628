"""Synthetic sales worlds with a planted truth, for the validity tests.

Each rep has a skill; each deal reaches a furthest stage (discovery, demo or negotiation) with
one call per stage reached, and a latent behaviour the planted criterion measures. Winning
depends on the rep's skill, the furthest stage and (with `planted` > 0) the behaviour:

- `planted`: scores the deal's behaviour; the only criterion that changes the odds within rep
  and stage (when `planted` > 0).
- `rep_skill`: scores the rep's skill (strong reps score higher and win more), nothing else.
- `stage`: scores the call's stage (late calls score higher; late deals win more), nothing else.
- `null_1`...: noise.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from common.validity import ScoreRow

STAGES = ("discovery", "demo", "negotiation")
HEADER = ["call_id", "rep_id", "deal_id", "stage", "outcome", "dimension", "criterion", "score"]
Row = tuple[str, str, str, str, str, str, str, float]


def world(
    seed: int, reps: int = 20, deals_per_rep: int = 20, planted: float = 1.0, nulls: int = 5
) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for r in range(reps):
        skill = rng.normal()
        for d in range(deals_per_rep):
            deal = f"d{r}-{d}"
            furthest = int(rng.integers(0, len(STAGES)))
            behaviour = rng.normal(0.0, 0.8)
            logit = 1.2 * skill + 0.9 * (furthest - 1) + planted * behaviour
            outcome = "won" if rng.random() < 1 / (1 + math.exp(-logit)) else "lost"
            for k in range(furthest + 1):
                call = f"{deal}-c{k}"
                scores = {
                    "planted": 3 + behaviour + rng.normal(0, 0.5),
                    "rep_skill": 3 + 0.8 * skill + rng.normal(0, 0.7),
                    "stage": 2.2 + 0.8 * k + rng.normal(0, 0.7),
                } | {f"null_{i}": 3 + rng.normal(0, 1) for i in range(1, nulls + 1)}
                for criterion, value in scores.items():
                    score = float(min(5, max(1, round(value))))
                    rows.append(
                        (call, f"rep{r}", deal, STAGES[k], outcome, "discovery", criterion, score)
                    )
    return rows


def write_csv(path: Path, rows: list[Row]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def score_rows(rows: list[Row]) -> list[ScoreRow]:
    return [ScoreRow.model_validate(dict(zip(HEADER, row, strict=True))) for row in rows]
