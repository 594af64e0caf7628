"""Draining a scoring process that was asked to stop (SIGTERM: a deploy, a scale-in, a spot
interruption's notice).

Once `Drain.start()` is called the scorer claims no new chunk and sends no new request
(`Drain.check` raises `Draining`, an outage-like failure: the call is retried later and never
parked for it); requests already in flight finish and are recorded as usual. The flow waits for
them until `deadline` (`ANALYSIS_DRAIN_S` after the signal) and the process then exits; a request
still in flight at that point is left to the ledger's recovery, which records it as an estimate.
"""

from __future__ import annotations

import math
import threading
import time

from common.errors import ClaudeError


class Draining(ClaudeError):
    """The process is stopping: no new Claude work starts here; the call is retried later."""


class Drain:
    def __init__(self) -> None:
        self._started = threading.Event()
        self.deadline = math.inf  # time.monotonic() by which in-flight work must be over

    def start(self, seconds: float) -> None:
        if not self._started.is_set():
            self.deadline = time.monotonic() + seconds
            self._started.set()

    @property
    def started(self) -> bool:
        return self._started.is_set()

    def check(self, what: str) -> None:
        """Raise `Draining` instead of starting `what`, once the drain has started."""
        if self._started.is_set():
            raise Draining(f"not started: {what} (the process is stopping; retried later)")
