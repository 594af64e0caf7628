"""The chunk protocol on a real Postgres, without Claude: who may pay for a chunk, and how a
second owner reuses or resumes the first one's work instead of paying again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from common.claude import ClaudeResponse
from common.config import ROOT, Settings, load_settings
from common.db import Database
from common.errors import ClaudeError
from common.scoring.chunk_work import ChunkProtocol
from common.scoring.chunking import Chunk
from common.scoring.costs import Usage, price_table
from common.scoring.ledger import Journal, Ledger
from common.scoring.model import Job, PreparedCall

CHUNK = Chunk(index=0, start=0, end=0, new_from=0, tokens=100, new_tokens=100)


@pytest.fixture
def protocol(db_url: str, tmp_path: Path) -> Iterator[ChunkProtocol]:
    s: Settings = load_settings(
        database_url=db_url, claude_claim_wait_s=1.0, claude_claim_lease_s=2.0
    )
    with Database(db_url) as database:
        ledger = Ledger(database, Journal(tmp_path), wait_s=1)
        yield ChunkProtocol(s, database, ledger, price_table(ROOT / "common" / "prices.csv"))


def job(owner: str) -> Job:
    call = PreparedCall(
        "7001001",
        "u-r000",
        "Demo",
        "2026-11-02",
        None,
        "hash",
        [],
        [CHUNK],
        None,  # type: ignore[arg-type]
    )
    return Job(call, "discovery", "claude-sonnet-5-5", "work-key", owner)


def response(text: str) -> ClaudeResponse:
    return ClaudeResponse("msg_1", text, Usage(100, 50), "req_1", "claude-sonnet-5-5", "end_turn")


def test_a_live_claim_keeps_a_second_owner_out_then_expires(protocol: ChunkProtocol) -> None:
    assert protocol.claim(job("run-a"), CHUNK).mine
    with pytest.raises(ClaudeError, match="still being scored by run-a"):
        protocol.claim(job("run-b"), CHUNK)  # waits CLAUDE_CLAIM_WAIT_S, then gives up
    assert protocol.claim(job("run-a"), CHUNK).mine  # the same owner re-takes its claim


def test_finished_work_is_reused_not_paid_again(protocol: ChunkProtocol) -> None:
    protocol.claim(job("run-a"), CHUNK)
    protocol.finish(job("run-a"), CHUNK, {"overall_score": 4}, None)
    work = protocol.claim(job("run-b"), CHUNK)
    assert work.status == "done" and work.assessment == {"overall_score": 4} and not work.mine


def test_a_released_claim_is_taken_over_at_once(protocol: ChunkProtocol) -> None:
    protocol.claim(job("run-a"), CHUNK)
    protocol.release(job("run-a"), CHUNK)
    assert protocol.claim(job("run-b"), CHUNK).mine


def test_a_paid_response_is_resumed_by_the_next_owner(protocol: ChunkProtocol, db_url: str) -> None:
    """run-a pays, records and dies before validating; run-b takes the claim over once the
    lease ends and finds the response's text: nothing is paid twice."""
    protocol.claim(job("run-a"), CHUNK)
    protocol.record(job("run-a"), CHUNK, response('{"kept": true}'), "score", 1)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE scoring_work SET lease_until = clock_timestamp()")
    work = protocol.claim(job("run-b"), CHUNK)
    assert work.mine and work.responses == 1 and work.response_text == '{"kept": true}'
    with psycopg.connect(db_url) as conn:
        paid = conn.execute("SELECT response_id, purpose FROM claude_usage").fetchall()
    assert paid == [("msg_1", "score")]
