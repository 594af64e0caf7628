"""Claims on chunks (`common/scoring/claims.py`, the only writer of `scoring_work`) directly on
real Postgres: who may pay for a chunk, what a holder keeps for the next, and a race of
owners for one free chunk (the chunk protocol over it: test_chunk_work.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.scoring import claims

KEY, CHUNK = "k" * 64, 0


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        c.execute("INSERT INTO calls (id) VALUES ('c1')")
        yield c


def take(conn: psycopg.Connection[Any], owner: str, lease_s: float = 60) -> claims.ChunkWork:
    return claims.claim(
        conn,
        work_key=KEY,
        chunk=CHUNK,
        call_id="c1",
        dimension="discovery",
        owner=owner,
        lease_s=lease_s,
    )


def test_a_held_claim_is_reported_not_taken(conn: psycopg.Connection[Any]) -> None:
    assert take(conn, "run-a").mine
    held = take(conn, "run-b")
    assert not held.mine and (held.status, held.owner) == ("claimed", "run-a")
    assert take(conn, "run-a").mine  # its owner (a task retry) re-takes it at once


def test_an_expired_or_released_claim_is_taken_over_with_what_was_paid(
    conn: psycopg.Connection[Any],
) -> None:
    take(conn, "run-a", lease_s=0.05)
    claims.keep_response(conn, KEY, CHUNK, "run-a", 1, '{"overall_score": 4}')
    claims.keep_response(conn, KEY, CHUNK, "run-a", 1, "a late duplicate")  # kept once
    conn.execute("SELECT pg_sleep(0.1)")
    work = take(conn, "run-b")
    assert work.mine and (work.responses, work.response_text) == (1, '{"overall_score": 4}')
    claims.renew(conn, KEY, CHUNK, "run-a", 60)  # the old holder's renewal changes nothing
    assert not take(conn, "run-a").mine
    claims.release(conn, KEY, CHUNK, "run-b")
    assert take(conn, "run-c").responses == 1


def test_done_is_final_and_failed_starts_again(conn: psycopg.Connection[Any]) -> None:
    take(conn, "run-a")
    claims.keep_response(conn, KEY, CHUNK, "run-a", 2, "repaired")
    claims.finish(conn, KEY, CHUNK, "run-a", None, "InvalidAnalysis: no JSON")
    retry = take(conn, "run-b")
    assert retry.mine and (retry.responses, retry.response_text) == (0, None)
    claims.finish(conn, KEY, CHUNK, "run-b", {"overall_score": 3})
    done = take(conn, "run-c")
    assert not done.mine and done.status == "done" and done.assessment == {"overall_score": 3}
    assert not take(conn, "run-b").mine  # not even its own holder takes a done chunk back


def test_one_owner_wins_a_race_for_a_free_chunk(db_url: str, conn: psycopg.Connection[Any]) -> None:
    start, won = threading.Barrier(8), []

    def race(owner: str) -> None:
        with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
            start.wait()
            if take(c, owner).mine:
                won.append(owner)

    threads = [threading.Thread(target=race, args=(f"run-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and take(conn, won[0]).mine


def test_forced_work_is_keyed_apart_per_owner() -> None:
    a, b = claims.forced_key(KEY, "run-a"), claims.forced_key(KEY, "run-b")
    assert len({a, b, KEY}) == 3 and claims.forced_key(KEY, "run-a") == a


def test_erasure_and_retention_remove_the_work(conn: psycopg.Connection[Any]) -> None:
    take(conn, "run-a")
    assert claims.expire(conn, 1) == 0
    conn.execute("UPDATE scoring_work SET updated_at = now() - interval '2 years'")
    assert claims.expire(conn, 1) == 1
    take(conn, "run-a")
    assert claims.erase_calls(conn, ["c1"]) == 1
    assert conn.execute("SELECT count(*) AS n FROM scoring_work").fetchone() == {"n": 0}
