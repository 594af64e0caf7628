"""coaching_sessions queries and the tier-1 analysis cache; the table's only writer.

The cache key is `sha256(f"{dimension}:{transcript_hash}:{rubric_version}:{scoring_version}")`:
the same transcript under the same rubric (and knowledge base), instructions, output schema and
model (`prompts.scoring_version`) is never scored twice, whatever the call id; a change to any
of them re-scores. Every lookup is recorded in `cache_lookups`, so hit rates are queryable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import scalar_row
from psycopg.types.json import Jsonb

from common.db import Row
from common.scoring.analysis import DimensionResult
from common.scoring.applicability import Applicability
from common.scoring.model import Scored


def cache_key(
    dimension: str, transcript_hash: str, rubric_version: str, scoring_version: str
) -> str:
    text = f"{dimension}:{transcript_hash}:{rubric_version}:{scoring_version}"
    return hashlib.sha256(text.encode()).hexdigest()


def find_cached(
    conn: psycopg.Connection[Row], key: str, transcript_hash: str, rubric_version: str
) -> Row | None:
    """The newest completed session with this key (any call), or None."""
    return conn.execute(
        """
        SELECT * FROM coaching_sessions
        WHERE cache_key = %s AND transcript_hash = %s AND rubric_version = %s
          AND status = 'completed'
        ORDER BY created_at DESC LIMIT 1
        """,
        (key, transcript_hash, rubric_version),
    ).fetchone()


def record_lookup(
    conn: psycopg.Connection[Row], call_id: str, dimension: str, key: str, hit: bool
) -> None:
    conn.execute(
        "INSERT INTO cache_lookups (call_id, dimension, cache_key, hit) VALUES (%s, %s, %s, %s)",
        (call_id, dimension, key, hit),
    )


@dataclass(frozen=True)
class NewSession:
    """A coaching_sessions row to insert (a failure when `result` is None)."""

    call_id: str
    rep_id: str | None
    dimension: str
    model: str
    key: str
    transcript_hash: str
    rubric_version: str
    result: DimensionResult | None
    error: str | None = None
    cached_from: int | None = None

    @classmethod
    def of(cls, scored: Scored) -> NewSession:
        return cls(
            call_id=scored.call.call_id,
            rep_id=scored.call.rep_id,
            dimension=scored.dimension,
            model=scored.model,
            key=scored.cache_key,
            transcript_hash=scored.call.transcript_hash,
            rubric_version=scored.rubric_version,
            result=scored.result,
            error=scored.error,
        )


def insert_session(conn: psycopg.Connection[Row], new: NewSession) -> int:
    result = new.result
    if result is not None:
        conn.execute(
            "UPDATE coaching_sessions SET superseded_at = now() WHERE call_id = %s"
            " AND dimension = %s AND status = 'completed' AND superseded_at IS NULL",
            (new.call_id, new.dimension),
        )
    row = conn.execute(
        """
        INSERT INTO coaching_sessions (call_id, rep_id, dimension, model, cache_key,
            transcript_hash, rubric_version, status, overall_score, result, chunk_count,
            quotes_dropped, cached_from, error, state, samples, escalated)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (
            new.call_id,
            new.rep_id,
            new.dimension,
            new.model,
            new.key,
            new.transcript_hash,
            new.rubric_version,
            "completed" if result else "failed",
            result.overall_score if result else None,
            Jsonb(result.model_dump(mode="json")) if result else None,
            result.chunks if result else 1,
            result.quotes_dropped if result else 0,
            new.cached_from,
            new.error,
            result.state if result else "published",
            max(1, len(result.samples)) if result else 1,
            result.escalated if result else False,
        ),
    ).fetchone()
    assert row is not None
    session_id: int = row["id"]
    return session_id


def save_session(conn: psycopg.Connection[Row], new: NewSession, reuse: bool = True) -> int:
    """Insert a session, or with `reuse` return the current completed one with the same key.

    Serialised per (call, dimension) by an advisory lock, so two runs that finish the same
    work at the same time leave one current session, not two.
    """
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"session:{new.call_id}:{new.dimension}",),
    )
    if reuse and new.result is not None:
        row = conn.execute(
            "SELECT id FROM current_sessions WHERE call_id = %s AND dimension = %s"
            " AND cache_key = %s ORDER BY created_at DESC LIMIT 1",
            (new.call_id, new.dimension, new.key),
        ).fetchone()
        if row is not None:
            existing: int = row["id"]
            return existing
    return insert_session(conn, new)


def copy_session(
    conn: psycopg.Connection[Row], source: Row, call_id: str, rep_id: str | None
) -> int:
    """Reuse a cached session for another call with the same transcript (no request)."""
    return insert_session(
        conn,
        NewSession(
            call_id=call_id,
            rep_id=rep_id,
            dimension=source["dimension"],
            model=source["model"],
            key=source["cache_key"],
            transcript_hash=source["transcript_hash"],
            rubric_version=source["rubric_version"],
            result=DimensionResult.model_validate(source["result"]),
            cached_from=source["id"],
        ),
    )


def current_for_call(conn: psycopg.Connection[Row], call_id: str) -> dict[str, Row]:
    """The current session of each dimension of a call (`current_sessions`, migration 0016)."""
    rows = conn.execute(
        "SELECT * FROM current_sessions WHERE call_id = %s ORDER BY dimension", (call_id,)
    ).fetchall()
    return {r["dimension"]: r for r in rows}


def analysed(
    conn: psycopg.Connection[Any], call_ids: Sequence[str], rules: Applicability
) -> set[str]:
    """The calls among `call_ids` that are analysed: skipped by a rule, or with a current
    session for every dimension their call type scores. The one rule the outbox, the demo
    and the benches use; it is SQL's `analysed_calls` (migration 0016), given the types'
    dimensions from the applicability rules."""
    types = {kind.name: list(kind.dimensions) for kind in rules.call_types}
    cur = conn.cursor(row_factory=scalar_row)  # any connection's row factory: the benches' too
    cur.execute(
        "SELECT analysed_calls(%s::text[], %s, %s::text[])",
        (list(call_ids), Jsonb(types), rules.dimensions_of(None)),
    )
    return {str(call_id) for call_id in cur.fetchall()}


# -- erasure and retention call these: this module is the table's only writer ---------------

_OLD_PARTITIONS = """
SELECT c.relname AS name
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'coaching_sessions'::regclass
  AND c.relname ~ '^coaching_sessions_[0-9]{4}q[1-4]$'
  AND make_date(substr(c.relname, 19, 4)::int, (substr(c.relname, 24, 1)::int - 1) * 3 + 1, 1)
      + interval '3 months' <= now() - make_interval(years => %s)
"""


def erase_calls(conn: psycopg.Connection[Row], call_ids: list[str]) -> int:
    """Erasure: every session (and its quotes) of these calls; returns how many."""
    cur = conn.execute("DELETE FROM coaching_sessions WHERE call_id = ANY(%s)", (call_ids,))
    return cur.rowcount


def expire(conn: psycopg.Connection[Row], years: int) -> tuple[int, int]:
    """Retention: whole quarterly partitions past the cutoff are dropped (no row-by-row
    delete), and older rows of the default partition deleted; returns (partitions, rows)."""
    old = [r["name"] for r in conn.execute(_OLD_PARTITIONS, (years,)).fetchall()]
    for name in old:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
    cur = conn.execute(
        "DELETE FROM coaching_sessions_default"
        " WHERE created_at < now() - make_interval(years => %s)",
        (years,),
    )
    return len(old), cur.rowcount
