"""Claims on (work key, chunk) in `scoring_work` (this module is its only writer): who may pay
for a chunk's request.

A scorer claims a chunk before paying for it. The claim is a lease that its holder renews
while the request runs; a claim whose holder died expires and can be taken over. The same
owner (a flow run, across its task retries) re-takes its own claim at once. Paid responses
and validated assessments are kept on the row as they arrive, so whoever holds the claim next
resumes from them instead of paying again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.db import Row


@dataclass(frozen=True)
class ChunkWork:
    """The row of one (work key, chunk) as the claimer sees it."""

    status: str  # claimed | done | failed
    owner: str
    responses: int
    response_text: str | None
    assessment: dict[str, Any] | None
    mine: bool  # True when this claim is held by the caller


def forced_key(cache_key: str, owner: str) -> str:
    """A forced re-analysis is new work: keyed apart from the cache key, once per owner."""
    return hashlib.sha256(f"force:{cache_key}:{owner}".encode()).hexdigest()


def claim(
    conn: psycopg.Connection[Row],
    *,
    work_key: str,
    chunk: int,
    call_id: str,
    dimension: str,
    owner: str,
    lease_s: float,
) -> ChunkWork:
    """Take the claim if it is free, expired, failed or ours; else report who holds it."""
    row = conn.execute(
        """
        INSERT INTO scoring_work (work_key, chunk_index, call_id, dimension, status, owner,
                                  lease_until)
        VALUES (%s, %s, %s, %s, 'claimed', %s, clock_timestamp() + make_interval(secs => %s))
        ON CONFLICT (work_key, chunk_index) DO UPDATE SET
            owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until, status = 'claimed',
            responses = CASE WHEN scoring_work.status = 'failed' THEN 0
                             ELSE scoring_work.responses END,
            response_text = CASE WHEN scoring_work.status = 'failed' THEN NULL
                                 ELSE scoring_work.response_text END,
            error = NULL, updated_at = now()
        WHERE scoring_work.status <> 'done'
          AND (scoring_work.owner = EXCLUDED.owner OR scoring_work.status = 'failed'
               OR scoring_work.lease_until < clock_timestamp())
        RETURNING status, owner, responses, response_text, assessment
        """,
        (work_key, chunk, call_id, dimension, owner, lease_s),
    ).fetchone()
    if row is not None:
        return _work(row, mine=True)
    held = conn.execute(
        "SELECT status, owner, responses, response_text, assessment FROM scoring_work"
        " WHERE work_key = %s AND chunk_index = %s",
        (work_key, chunk),
    ).fetchone()
    assert held is not None
    return _work(held, mine=False)


def renew(
    conn: psycopg.Connection[Row], work_key: str, chunk: int, owner: str, lease_s: float
) -> None:
    conn.execute(
        "UPDATE scoring_work SET lease_until = clock_timestamp() + make_interval(secs => %s)"
        " WHERE work_key = %s AND chunk_index = %s AND owner = %s AND status = 'claimed'",
        (lease_s, work_key, chunk, owner),
    )


def keep_response(
    conn: psycopg.Connection[Row], work_key: str, chunk: int, owner: str, n: int, text: str
) -> None:
    """Keep the n-th paid response of the chunk (1 = score, 2 = repair) for resuming."""
    conn.execute(
        "UPDATE scoring_work SET responses = greatest(responses, %s), response_text = %s,"
        " updated_at = now() WHERE work_key = %s AND chunk_index = %s AND owner = %s"
        " AND status = 'claimed' AND responses < %s",
        (n, text, work_key, chunk, owner, n),
    )


def finish(
    conn: psycopg.Connection[Row],
    work_key: str,
    chunk: int,
    owner: str,
    assessment: dict[str, Any] | None,
    error: str | None = None,
) -> None:
    """Mark the chunk done with its assessment, or failed with the error (claimable again)."""
    conn.execute(
        "UPDATE scoring_work SET status = %s, assessment = %s, error = %s,"
        " lease_until = clock_timestamp(), updated_at = now()"
        " WHERE work_key = %s AND chunk_index = %s AND owner = %s",
        (
            "done" if assessment is not None else "failed",
            Jsonb(assessment) if assessment is not None else None,
            error,
            work_key,
            chunk,
            owner,
        ),
    )


def release(conn: psycopg.Connection[Row], work_key: str, chunk: int, owner: str) -> None:
    """Give a claim back early (the holder stopped without finishing), keeping what was paid."""
    conn.execute(
        "UPDATE scoring_work SET lease_until = clock_timestamp() WHERE work_key = %s"
        " AND chunk_index = %s AND owner = %s AND status = 'claimed'",
        (work_key, chunk, owner),
    )


def _work(row: Row, mine: bool) -> ChunkWork:
    return ChunkWork(
        status=row["status"],
        owner=row["owner"],
        responses=row["responses"],
        response_text=row["response_text"],
        assessment=row["assessment"],
        mine=mine,
    )


def erase_calls(conn: psycopg.Connection[Row], call_ids: list[str]) -> int:
    """Erasure: the calls' scoring work (with the paid responses' text kept on it)."""
    return conn.execute("DELETE FROM scoring_work WHERE call_id = ANY(%s)", (call_ids,)).rowcount


def expire(conn: psycopg.Connection[Row], years: int) -> int:
    """Retention: scoring work last touched more than `years` ago."""
    cur = conn.execute(
        "DELETE FROM scoring_work WHERE updated_at < now() - make_interval(years => %s)",
        (years,),
    )
    return cur.rowcount
