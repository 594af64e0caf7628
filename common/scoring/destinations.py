"""Where a scorer's results go, injected into the `Scorer` (not chosen by subclassing).

A destination keys the chunk work, labels the paid responses in the ledger and saves a
dimension's result. Production scoring goes to `coaching_sessions` (`Sessions`); a rubric or
model evaluation to `eval_results` (`common.accuracy.evaluation.EvalResults`), apart from
production and never served as coaching.
"""

from __future__ import annotations

from typing import Protocol

from common.db import Db, transaction
from common.scoring import claims, sessions
from common.scoring.model import PreparedCall, Scored


class Destination(Protocol):
    def work_key(
        self, call: PreparedCall, dimension: str, cache_key: str, owner: str, force: bool
    ) -> str:
        """What a chunk's claim is keyed by."""
        ...

    def label(self, purpose: str) -> str:
        """The ledger's `purpose` of a paid response (`score` or `repair` for production)."""
        ...

    def save(self, scored: Scored, force: bool) -> int:
        """Save a completed result or a failure; returns its row id."""
        ...


class Sessions:
    """Production: `coaching_sessions`, keyed by the tier-1 cache key (per owner when forced)."""

    def __init__(self, database: Db) -> None:
        self.database = database

    def work_key(
        self, call: PreparedCall, dimension: str, cache_key: str, owner: str, force: bool
    ) -> str:
        return claims.forced_key(cache_key, owner) if force else cache_key

    def label(self, purpose: str) -> str:
        return purpose

    def save(self, scored: Scored, force: bool) -> int:
        """Saved once: two runs finishing the same work keep one current session."""
        with transaction(self.database) as conn:
            return sessions.save_session(conn, sessions.NewSession.of(scored), reuse=not force)
