"""The chunk protocol: claim a chunk, pay for its response once, record it, finish the claim.

A chunk is claimed in `scoring_work` before its request (`common.scoring.claims`): a second
run of the same work waits for the first and reuses its result instead of paying again. The
claim is a lease renewed while the request runs (`renewer`), released on a crash (`release`)
or finished with the validated assessment or the failure (`finish`). A paid response is
recorded in the ledger, with its text kept on the claim, before anything that can fail
(`record`), and journalled responses are flushed before every claim, so a response paid
before a crash is resumed from instead of paid again. Every Postgres step waits out a
restart for up to DB_OUTAGE_WAIT_S.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from common.claude import ClaudeResponse
from common.config import Settings
from common.db import Db, retrying, transaction
from common.errors import ClaudeError
from common.scoring import claims, costs
from common.scoring.chunking import Chunk
from common.scoring.ledger import Ledger, paid
from common.scoring.model import Job, PreparedCall

log = logging.getLogger("sales_coach.scoring")


class ChunkProtocol:
    """`label` names a paid response's purpose in the ledger (the destination's: `score` and
    `repair` in production, `eval:<run>` in an eval)."""

    def __init__(
        self,
        s: Settings,
        database: Db,
        ledger: Ledger,
        prices: costs.PriceTable,
        label: Callable[[str], str] = str,
    ) -> None:
        self.s, self.database, self.ledger, self.prices = s, database, ledger, prices
        self.label = label

    def db(self, fn: Callable[[], Any], what: str = "database") -> Any:
        """Run a Postgres step, waiting out a restart for up to DB_OUTAGE_WAIT_S."""
        return retrying(fn, self.s.db_outage_wait_s, what)

    def claim(self, job: Job, chunk: Chunk) -> claims.ChunkWork:
        """Our claim on the chunk, or the finished work of whoever held it.

        Waits (at most CLAUDE_CLAIM_WAIT_S) while another live owner holds it; raises a
        transient ClaudeError after that, so the call is tried again later.
        """
        self.db(self.ledger.flush, "ledger")  # journalled responses first: never pay twice
        deadline = time.monotonic() + self.s.claude_claim_wait_s
        while True:
            work: claims.ChunkWork = self.db(lambda: self._try_claim(job, chunk))
            if work.mine or work.status == "done":
                return work
            if time.monotonic() > deadline:
                raise ClaudeError(
                    f"call {job.call.call_id} {job.dimension} chunk {chunk.index} is still being"
                    f" scored by {work.owner}; try again later"
                )
            time.sleep(0.5)

    def _try_claim(self, job: Job, chunk: Chunk) -> claims.ChunkWork:
        with transaction(self.database) as conn:
            return claims.claim(
                conn,
                work_key=job.work_key,
                chunk=chunk.index,
                call_id=job.call.call_id,
                dimension=job.dimension,
                owner=job.owner,
                lease_s=self.s.claude_claim_lease_s,
            )

    def renewer(self, job: Job, chunk: Chunk) -> Callable[[], None]:
        def renew() -> None:
            with transaction(self.database) as conn:
                claims.renew(
                    conn, job.work_key, chunk.index, job.owner, self.s.claude_claim_lease_s
                )

        return renew

    def finish(
        self, job: Job, chunk: Chunk, assessment: dict[str, Any] | None, error: str | None
    ) -> None:
        with transaction(self.database) as conn:
            claims.finish(conn, job.work_key, chunk.index, job.owner, assessment, error)

    def release(self, job: Job, chunk: Chunk) -> None:
        try:
            with transaction(self.database) as conn:
                claims.release(conn, job.work_key, chunk.index, job.owner)
        except Exception:  # the lease expires by itself
            log.info("claim on %s chunk %d left to expire", job.dimension, chunk.index)

    def record(
        self,
        job: Job,
        chunk: Chunk,
        response: ClaudeResponse,
        purpose: str,
        attempt: int,
        batch: bool = False,
    ) -> None:
        """The response in the ledger, labelled, with its text on the claim: durably, once."""
        self.ledger.record(
            paid(
                self.prices,
                response_id=response.id,
                request_id=response.request_id,
                model=response.model,
                asked=job.model,
                usage=response.usage,
                batch=batch,
                call_id=job.call.call_id,
                dimension=job.dimension,
                chunk_index=chunk.index,
                purpose=self.label(purpose),
                work_key=job.work_key,
                owner=job.owner,
                attempt=attempt,
                text=response.text,
            )
        )

    def record_error(
        self, call: PreparedCall, dimension: str, model: str, status: int | None, message: str
    ) -> None:
        def write() -> None:
            with transaction(self.database) as conn:
                costs.record_error(
                    conn,
                    model=model,
                    call_id=call.call_id,
                    dimension=dimension,
                    status_code=status,
                    message=message,
                )

        self.db(write)
