"""Run-to-run agreement: how far a dimension's paid samples of the same call agree, and how
much the gate publishes.

The samples of one stage are independent draws of the same model on the same prompt, so
their agreement is the judge's test-retest reliability: Krippendorff's alpha with the
interval metric, the units being sessions (one call and dimension) and the values each
sample's score (N/A samples are missing values). Only first-stage samples count (one model
per unit). Below `MIN_UNITS` sessions with two or more scored samples, alpha is None: too
few to say.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from itertools import combinations
from typing import Any

import psycopg

from common.db import Row

MIN_UNITS = 10  # sessions with at least two scored samples, before alpha is reported


def interval_alpha(
    units: Sequence[Sequence[float | None]], min_units: int = MIN_UNITS
) -> float | None:
    """Krippendorff's alpha (interval metric) over units of repeated values; None when fewer
    than MIN_UNITS units have two values, or when all values are equal (nothing to explain)."""
    pairable = [[v for v in u if v is not None] for u in units]
    pairable = [u for u in pairable if len(u) >= 2]
    if len(pairable) < min_units:
        return None
    values = [v for u in pairable for v in u]
    n = len(values)
    observed = (
        sum(2 * sum((a - b) ** 2 for a, b in combinations(u, 2)) / (len(u) - 1) for u in pairable)
        / n
    )
    expected = 2 * sum((a - b) ** 2 for a, b in combinations(values, 2)) / (n * (n - 1))
    if expected == 0:
        return None
    return round(1 - observed / expected, 3)


def within_sd(units: Sequence[Sequence[float | None]], min_units: int = MIN_UNITS) -> float | None:
    """The pooled within-unit standard deviation of repeated values: the run-to-run noise of
    one score (None below MIN_UNITS units with two values)."""
    pairable = [[v for v in u if v is not None] for u in units]
    pairable = [u for u in pairable if len(u) >= 2]
    if len(pairable) < min_units:
        return None
    ss = sum(sum((v - sum(u) / len(u)) ** 2 for v in u) for u in pairable)
    df = sum(len(u) - 1 for u in pairable)
    return round(float((ss / df) ** 0.5), 3)


def _splits_on_na(samples: list[dict[str, Any]]) -> int:
    """1 when some criterion (or the dimension) is N/A in some samples and scored in others."""
    if len(samples) < 2:
        return 0
    ids = samples[0]["criteria"].keys()
    keys = [[x.get("overall_score") is None for x in samples]]
    keys += [[x["criteria"].get(c) is None for x in samples] for c in ids]
    return int(any(len(set(k)) > 1 for k in keys))


def _first_stage(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in samples if x.get("stage", 0) == 0]


def run_to_run(
    conn: psycopg.Connection[Row],
    since: datetime | None = None,
    rep_ids: Sequence[str] | None = None,
    dimension: str | None = None,
    min_units: int = MIN_UNITS,
) -> dict[str, dict[str, Any]]:
    """Per dimension: alpha and noise of the dimension score, and alpha per criterion, over
    current sessions with two or more first-stage samples."""
    rows = conn.execute(
        """
        SELECT dimension, result -> 'samples' AS samples FROM current_sessions
        WHERE samples >= 2
          AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
          AND (%(reps)s::text[] IS NULL OR rep_id = ANY(%(reps)s))
          AND (%(dim)s::text IS NULL OR dimension = %(dim)s)
        """,
        {"since": since, "reps": list(rep_ids) if rep_ids is not None else None, "dim": dimension},
    ).fetchall()
    overall: dict[str, list[list[float | None]]] = defaultdict(list)
    na_split: dict[str, int] = defaultdict(int)
    criteria: dict[str, dict[str, list[list[float | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        first = _first_stage(r["samples"] or [])
        overall[r["dimension"]].append([x.get("overall_score") for x in first])
        na_split[r["dimension"]] += _splits_on_na(first)
        for cid in first[0]["criteria"] if first else []:
            criteria[r["dimension"]][cid].append([x["criteria"].get(cid) for x in first])
    return {
        d: {
            "sessions": sum(1 for u in units if sum(v is not None for v in u) >= 2),
            "alpha": interval_alpha(units, min_units),
            "sd": within_sd(units, min_units),
            # alpha leaves N/A out, so an abstaining judge would look steadier: say how often
            # the samples split on N/A (a criterion N/A in some samples and scored in others)
            "na_split_share": round(na_split[d] / len(units), 3) if units else None,
            "criteria": {c: interval_alpha(u, min_units) for c, u in sorted(criteria[d].items())},
            "min_sessions": min_units,
        }
        for d, units in sorted(overall.items())
    }


def publishing(
    conn: psycopg.Connection[Row],
    since: datetime | None = None,
    rep_ids: Sequence[str] | None = None,
    dimension: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per dimension: how many current sessions the gate published at the first stage, after
    escalating, and held for a person, with their shares."""
    rows = conn.execute(
        """
        SELECT dimension, count(*) AS sessions,
               count(*) FILTER (WHERE state = 'published' AND NOT escalated) AS published,
               count(*) FILTER (WHERE state = 'published' AND escalated) AS escalated,
               count(*) FILTER (WHERE state = 'needs_review') AS held,
               count(*) FILTER (WHERE state = 'needs_review' AND escalated) AS escalated_held
        FROM current_sessions
        WHERE (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
          AND (%(reps)s::text[] IS NULL OR rep_id = ANY(%(reps)s))
          AND (%(dim)s::text IS NULL OR dimension = %(dim)s)
        GROUP BY dimension ORDER BY dimension
        """,
        {"since": since, "reps": list(rep_ids) if rep_ids is not None else None, "dim": dimension},
    ).fetchall()
    out = {}
    for r in rows:
        n = r["sessions"]
        counts = {k: r[k] for k in ("published", "escalated", "held")}
        out[r["dimension"]] = {
            "sessions": n,
            **counts,
            "held_after_escalating": r["escalated_held"],
            "shares": {k: round(v / n, 3) for k, v in counts.items()},
        }
    return out
