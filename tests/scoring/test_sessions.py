"""The tier-1 analysis cache and the writer of coaching_sessions (`common/scoring/sessions.py`):
the key's formula, what is a hit, superseding, reuse, copies and a race of finishing runs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.scoring.analysis import DimensionResult
from common.scoring.applicability import Applicability
from common.scoring.sessions import (
    NewSession,
    analysed,
    cache_key,
    copy_session,
    current_for_call,
    erase_calls,
    find_cached,
    save_session,
)


def test_cache_key_is_the_documented_formula() -> None:
    expected = hashlib.sha256(b"discovery:abc123:1.0.0+kb.ff:s1").hexdigest()
    assert cache_key("discovery", "abc123", "1.0.0+kb.ff", "s1") == expected
    assert cache_key("engagement", "abc123", "1.0.0+kb.ff", "s1") != expected
    assert cache_key("discovery", "abc123", "1.0.1+kb.ff", "s1") != expected
    assert cache_key("discovery", "abc123", "1.0.0+kb.ff", "s2") != expected


# -- the tier-1 cache and the sessions' writer, on real Postgres ------------------------------

VERSION = "1.0.0+kb.ff"


def _new(call_id: str, score: float | None = 3.5, version: str = VERSION) -> NewSession:
    result = DimensionResult(
        dimension="discovery",
        overall_score=score,
        weighted_score=score,
        criteria=[],
        strengths=["Clear agenda"],
        improvements=["Ask why"],
        coaching_note="",
        quotes_dropped=0,
        chunks=1,
    )
    return NewSession(
        call_id=call_id,
        rep_id="r1",
        dimension="discovery",
        model="claude-sonnet-4-5",
        key=cache_key("discovery", "h1", version, "s1"),
        transcript_hash="h1",
        rubric_version=version,
        result=result if score is not None else None,
        error=None if score is not None else "InvalidAnalysis: no JSON",
    )


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        c.execute("INSERT INTO calls (id) VALUES ('c1'), ('c2')")
        yield c


def test_the_cache_finds_completed_work_of_any_call_under_its_rubric(
    conn: psycopg.Connection[Any],
) -> None:
    key = _new("c1").key
    save_session(conn, _new("c1", score=None))  # a failure is never a cache hit
    assert find_cached(conn, key, "h1", VERSION) is None
    first = save_session(conn, _new("c1"))
    hit = find_cached(conn, key, "h1", VERSION)
    assert hit is not None and hit["id"] == first
    assert find_cached(conn, key, "h1", "1.0.1+kb.ff") is None  # a new rubric re-scores
    copied = copy_session(conn, hit, "c2", "r2")  # the same transcript under another call id
    c2 = current_for_call(conn, "c2")["discovery"]
    assert c2["id"] == copied and c2["cached_from"] == first and c2["rep_id"] == "r2"
    assert c2["result"] == hit["result"] and float(c2["overall_score"]) == 3.5


def test_a_new_result_supersedes_and_the_same_one_is_reused(
    conn: psycopg.Connection[Any],
) -> None:
    first = save_session(conn, _new("c1"))
    assert save_session(conn, _new("c1")) == first  # a retry that finished the same work
    forced = save_session(conn, _new("c1", score=4.5), reuse=False)  # a forced re-analysis
    rows = conn.execute(
        "SELECT id, superseded_at IS NULL AS current FROM coaching_sessions"
        " WHERE call_id = 'c1' ORDER BY id"
    ).fetchall()
    assert [(r["id"], r["current"]) for r in rows] == [(first, False), (forced, True)]
    assert current_for_call(conn, "c1")["discovery"]["id"] == forced
    save_session(conn, _new("c1", score=None))  # a later failure leaves the current one
    assert current_for_call(conn, "c1")["discovery"]["id"] == forced
    assert erase_calls(conn, ["c1"]) == 2 + 1 and current_for_call(conn, "c1") == {}


def test_two_runs_finishing_the_same_work_leave_one_current_session(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO calls (id) VALUES ('c1')")
    start = threading.Barrier(6)

    def finish() -> None:
        with psycopg.connect(db_url, row_factory=dict_row) as c:  # one transaction each
            start.wait()
            save_session(c, _new("c1"))

    threads = [threading.Thread(target=finish) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        rows = c.execute(
            "SELECT count(*) FILTER (WHERE superseded_at IS NULL) AS current, count(*) AS n"
            " FROM coaching_sessions WHERE call_id = 'c1'"
        ).fetchone()
    assert rows == {"current": 1, "n": 1}


RULES = Applicability.model_validate(
    {
        "version": "1.0.0",
        "call_types": [
            {"name": "renewal", "dimensions": ["product_knowledge", "objections", "engagement"]},
            {
                "name": "sales",
                "dimensions": ["product_knowledge", "discovery", "objections", "engagement"],
            },
        ],
    }
)
FOUR = ("product_knowledge", "discovery", "objections", "engagement")


def _session(conn: psycopg.Connection[Any], call_id: str, dimension: str, **kw: Any) -> None:
    status, superseded = kw.get("status", "completed"), kw.get("superseded", False)
    conn.execute(
        "INSERT INTO coaching_sessions (call_id, dimension, model, cache_key, transcript_hash,"
        " rubric_version, status, superseded_at) VALUES (%s, %s, 'm', 'k', 'h', 'v', %s,"
        " CASE WHEN %s THEN now() END)",
        (call_id, dimension, status, superseded),
    )


def test_analysed_is_the_dimensions_of_the_call_type_or_a_skip(
    conn: psycopg.Connection[Any],
) -> None:
    """One rule: a current session for every dimension the call's type scores, or skipped."""
    conn.execute(
        "INSERT INTO calls (id, call_type, skipped_reason) VALUES"
        " ('renewal-3', 'renewal', NULL), ('renewal-2', 'renewal', NULL),"
        " ('sales-3', 'sales', NULL), ('sales-4', 'sales', NULL), ('gone-type', 'retired', NULL),"
        " ('untyped', NULL, NULL), ('skipped', 'sales', 'internal meeting'),"
        " ('stale', 'sales', NULL), ('failed', 'renewal', NULL)"
    )
    for dim in FOUR[:1] + FOUR[2:]:
        _session(conn, "renewal-3", dim)
        _session(conn, "sales-3", dim)
        _session(conn, "failed", dim, status="failed" if dim == "engagement" else "completed")
    for dim in FOUR[2:]:
        _session(conn, "renewal-2", dim)
    for dim in FOUR:
        _session(conn, "sales-4", dim)
        _session(conn, "gone-type", dim)  # a type no rule names any more: every dimension
        _session(conn, "untyped", dim)
        _session(conn, "stale", dim, superseded=dim == "discovery")  # only a superseded one
        _session(conn, "not-stored", dim)  # sessions of a call without a calls row
    asked = [
        "renewal-3",
        "renewal-2",
        "sales-3",
        "sales-4",
        "gone-type",
        "untyped",
        "skipped",
        "stale",
        "failed",
        "not-stored",
        "unknown",
    ]
    assert analysed(conn, asked, RULES) == {
        "renewal-3",
        "sales-4",
        "gone-type",
        "untyped",
        "skipped",
        "not-stored",
    }
    assert analysed(conn, [], RULES) == set()
    with psycopg.connect(conn.info.dsn) as tuples:  # the benches' connections
        assert analysed(tuples, ["renewal-3", "renewal-2"], RULES) == {"renewal-3"}
