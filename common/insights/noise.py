"""Run-to-run noise: how much a dimension's score moves when the same call is scored again.

Every session keeps its paid samples (`result.samples`). The first stage's samples of one
session are the same model reading the same call, so their spread is the scorer's own noise,
nothing about the rep. Pooled over sessions (each session's squared deviations from its own
mean, over the sum of its samples less one), that is the within-session SD per dimension.

A week-on-week change of a mean over n1 and n2 calls is within run-to-run noise when
|change| < 1.96 * sd * sqrt(1/n1 + 1/n2): a change that size is what re-scoring the very same
calls could show. Reports, rankings and alerts say so instead of "improved" or "declined".

The SD is of one sample. A published score is the median of K samples, whose spread is
smaller, so the test is conservative for K > 1 (it calls fewer changes). Below
`MIN_SESSIONS` sessions with two or more samples the SD is not known (None) and changes are
judged as before, without a noise check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from pydantic import BaseModel, Field

from common.config import DIMENSIONS
from common.db import Row

MIN_SESSIONS = 10  # sessions with >= 2 first-stage samples before an SD is stated
Z = 1.96  # two-sided 95%
WINDOW = timedelta(weeks=4)  # sessions measured: the scorer as it is now
MAX_SESSIONS = 5000  # per dimension, newest first: a stable SD from a bounded read
_TTL_S = 300.0


class NoiseEstimate(BaseModel):
    dimension: str
    sd: float | None = Field(
        description="Pooled within-session SD of one sample's score; null below"
        f" {MIN_SESSIONS} sessions with two or more samples"
    )
    sessions: int = Field(description="Sessions with two or more first-stage samples")
    samples: int


class Noise(BaseModel):
    """Run-to-run noise per dimension (an empty mapping: nothing measured)."""

    by_dimension: dict[str, NoiseEstimate] = {}
    min_sessions: int = MIN_SESSIONS

    def sd(self, dimension: str) -> float | None:
        found = self.by_dimension.get(dimension)
        return found.sd if found else None

    def sd_of_mean(self, dimensions: Iterable[str]) -> float | None:
        """SD of the mean of the dimensions' scores (their noise independent); None when
        any of them is unmeasured."""
        sds = [self.sd(d) for d in dimensions]
        if not sds or any(s is None for s in sds):
            return None
        return math.sqrt(sum(s * s for s in sds if s is not None)) / len(sds)


_cache: dict[str, tuple[float, Noise]] = {}


def pooled_sd(groups: Iterable[Sequence[float]], min_groups: int = MIN_SESSIONS) -> float | None:
    """Pooled within-group SD of groups of two or more values; None below `min_groups`."""
    squares, freedom, counted = 0.0, 0, 0
    for g in groups:
        if len(g) < 2:
            continue
        mean = sum(g) / len(g)
        squares += sum((x - mean) ** 2 for x in g)
        freedom += len(g) - 1
        counted += 1
    return math.sqrt(squares / freedom) if counted >= min_groups and freedom else None


def margin(sd: float | None, n1: int, n2: int) -> float | None:
    """The largest change in a mean over n1 then n2 calls that run-to-run noise explains."""
    if sd is None or n1 <= 0 or n2 <= 0:
        return None
    return Z * sd * math.sqrt(1 / n1 + 1 / n2)


def within(change: float | None, sd: float | None, n1: int, n2: int) -> bool | None:
    """True when the change is within run-to-run noise; None when that cannot be said."""
    m = margin(sd, n1, n2)
    if change is None or m is None:
        return None
    return abs(change) < m


def measure(
    conn: psycopg.Connection[Row], until: datetime | None = None, window: timedelta = WINDOW
) -> Noise:
    """Run-to-run noise of the sessions created in the `window` before `until` (now)."""
    end = until or datetime.now(UTC)
    rows = conn.execute(
        """
        WITH newest AS (  -- each dimension's newest, picked before any result is read
            SELECT s.id, s.dimension, s.result FROM unnest(%(dims)s::text[]) AS d(dimension),
            LATERAL (SELECT x.id, x.dimension, x.result FROM coaching_sessions x
                     WHERE x.dimension = d.dimension AND x.status = 'completed'
                       AND x.created_at >= %(since)s AND x.created_at < %(until)s
                     ORDER BY x.created_at DESC LIMIT %(cap)s) s
        ), recent AS (
            SELECT id, dimension, result -> 'samples' AS samples FROM newest
            WHERE jsonb_typeof(result -> 'samples') = 'array'
              AND jsonb_array_length(result -> 'samples') >= 2
        ), per AS (
            SELECT r.id, r.dimension, count(*) AS n, var_samp((x ->> 'overall_score')::float) AS v
            FROM recent r, jsonb_array_elements(r.samples) x
            WHERE (x ->> 'stage')::int = 0 AND jsonb_typeof(x -> 'overall_score') = 'number'
            GROUP BY r.id, r.dimension, x ->> 'model'
            HAVING count(*) >= 2
        )
        SELECT dimension, count(*) AS sessions, sum(n)::int AS samples,
               sum((n - 1) * v) / sum(n - 1) AS pooled_var
        FROM per GROUP BY dimension
        """,
        {"dims": list(DIMENSIONS), "since": end - window, "until": end, "cap": MAX_SESSIONS},
    ).fetchall()
    found = {r["dimension"]: r for r in rows}
    out = {}
    for d in DIMENSIONS:
        r = found.get(d)
        sessions = int(r["sessions"]) if r else 0
        var = float(r["pooled_var"]) if r and r["pooled_var"] is not None else None
        sd = math.sqrt(max(var, 0.0)) if var is not None and sessions >= MIN_SESSIONS else None
        out[d] = NoiseEstimate(
            dimension=d,
            sd=round(sd, 4) if sd is not None else None,
            sessions=sessions,
            samples=int(r["samples"]) if r else 0,
        )
    return Noise(by_dimension=out)


def current(conn: psycopg.Connection[Row]) -> Noise:
    """`measure` of the last four weeks, kept for five minutes per database: every team
    overview and report reads it, and the scorer's noise does not move by the minute."""
    key = conn.info.dsn
    hit = _cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < _TTL_S:
        return hit[1]
    noise = measure(conn)
    _cache[key] = (now, noise)
    return noise
