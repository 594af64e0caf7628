"""Limits shared by every worker, kept in Postgres so they hold across processes and machines.

- `ClaudeSlots`: at most N Claude requests in flight across all workers. A slot is a row with
  a lease; the holder renews it while its request runs (`Heartbeat`), so a worker that dies
  loses its slot when the lease runs out instead of holding it for ever (Prefect tag limits
  leak slots when a worker is killed between acquire and release).
- `SharedRateLimiter`: Gong's 3 requests/s and 10,000 requests/day are per company, so the
  spacing and the daily count live in one row that every worker updates in turn.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

from common.db import Db, Row, transaction
from common.errors import GongBudgetSpent, SlotTimeout

log = logging.getLogger("sales_coach.limits")


class Heartbeat:
    """Calls `beat()` every `interval_s` in a daemon thread until stopped.

    A failing beat (Postgres restarting) is logged and tried again at the next interval.
    """

    def __init__(self, beat: Callable[[], None], interval_s: float) -> None:
        self._beat, self._interval = beat, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception as exc:
                log.warning("lease renewal failed (%s); retrying", type(exc).__name__)


class ClaudeSlots:
    """A counting semaphore in Postgres with leased slots (table `claude_slots`)."""

    def __init__(self, db: Db, slots: int, lease_s: float = 120.0) -> None:
        self.database_url, self.slots, self.lease_s = db, slots, lease_s

    def ensure(self) -> None:
        with transaction(self.database_url) as conn:
            conn.execute(
                "INSERT INTO claude_slots (slot) SELECT generate_series(1, %s)"
                " ON CONFLICT DO NOTHING",
                (self.slots,),
            )

    def try_acquire(self, holder: str) -> int | None:
        with transaction(self.database_url) as conn:
            row = conn.execute(
                """
                UPDATE claude_slots SET holder = %s,
                    lease_until = clock_timestamp() + make_interval(secs => %s)
                WHERE slot = (
                    SELECT slot FROM claude_slots
                    WHERE slot <= %s AND (holder IS NULL OR lease_until < clock_timestamp())
                    ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING slot
                """,
                (holder, self.lease_s, self.slots),
            ).fetchone()
        return int(row["slot"]) if row else None

    def renew(self, slot: int, holder: str) -> None:
        with transaction(self.database_url) as conn:
            conn.execute(
                "UPDATE claude_slots SET lease_until = clock_timestamp()"
                " + make_interval(secs => %s) WHERE slot = %s AND holder = %s",
                (self.lease_s, slot, holder),
            )

    def release(self, slot: int, holder: str) -> None:
        """Best effort: if Postgres is away the lease runs out by itself."""
        try:
            with transaction(self.database_url) as conn:
                conn.execute(
                    "UPDATE claude_slots SET holder = NULL, lease_until = '-infinity'"
                    " WHERE slot = %s AND holder = %s",
                    (slot, holder),
                )
        except Exception as exc:
            log.warning("slot %s not released (%s); its lease will expire", slot, type(exc))

    @contextmanager
    def slot(self, timeout_s: float) -> Iterator[int]:
        """Hold one slot for the duration of the block, renewing its lease meanwhile.

        Raises SlotTimeout when none frees up within `timeout_s` (a transient failure).
        """
        holder = uuid.uuid4().hex
        deadline, pause = time.monotonic() + timeout_s, 0.05
        while (slot := self._try(holder)) is None:
            if time.monotonic() > deadline:
                raise SlotTimeout(f"no Claude slot free within {timeout_s:.0f} s")
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 1.5, 1.0)
        try:
            with Heartbeat(lambda: self.renew(slot, holder), self.lease_s / 3):
                yield slot
        finally:
            self.release(slot, holder)

    def _try(self, holder: str) -> int | None:
        try:
            return self.try_acquire(holder)
        except Exception as exc:  # Postgres restarting: wait like for a busy slot
            log.warning("slot acquisition failed (%s); retrying", type(exc).__name__)
            return None

    def in_use(self) -> int:
        with transaction(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM claude_slots WHERE slot <= %s AND holder IS NOT NULL"
                " AND lease_until >= clock_timestamp()",
                (self.slots,),
            ).fetchone()
        return int(row["n"]) if row else 0


# One more request counted against today (UTC); the count starts again on a new day.
_COUNT_TODAY = """used_today = CASE WHEN day = (now() AT TIME ZONE 'UTC')::date
                      THEN used_today + 1 ELSE 1 END,
                    day = (now() AT TIME ZONE 'UTC')::date"""


class SharedRateLimiter:
    """At most `rate` acquisitions per second and `daily_budget` per UTC day, across workers."""

    def __init__(
        self,
        db: Db,
        name: str,
        rate: float,
        daily_budget: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.database_url, self.name = db, name
        self.interval_s, self.daily_budget, self._sleep = 1.0 / rate, daily_budget, sleep

    def acquire(self) -> None:
        """Wait for this request's turn; GongBudgetSpent when today's budget is used up."""
        with transaction(self.database_url) as conn:
            self._ensure(conn)
            row = conn.execute(
                f"""
                UPDATE rate_limits SET {_COUNT_TODAY},
                    next_at = greatest(next_at, clock_timestamp()) + make_interval(secs => %s)
                WHERE name = %s
                RETURNING used_today,
                    greatest(next_at - make_interval(secs => %s) - clock_timestamp(),
                             interval '0') AS wait
                """,
                (self.interval_s, self.name, self.interval_s),
            ).fetchone()
        assert row is not None
        if row["used_today"] > self.daily_budget:
            raise self._spent()
        wait: timedelta = row["wait"]
        if wait.total_seconds() > 0:
            self._sleep(wait.total_seconds())

    def _ensure(self, conn: psycopg.Connection[Row]) -> None:
        conn.execute(
            "INSERT INTO rate_limits (name) VALUES (%s) ON CONFLICT DO NOTHING", (self.name,)
        )

    def _spent(self) -> GongBudgetSpent:
        return GongBudgetSpent(
            f"{self.name}: today's budget of {self.daily_budget} requests is used up",
            retry_after_s=seconds_to_utc_midnight(),
        )

    def try_acquire(self) -> float:
        """Take a turn if one is due now (0.0), else take nothing and return the seconds until
        the next is due, so the caller can wait without holding a connection or a thread (or
        refuse). GongBudgetSpent when today's budget is used up; a refused or not-due ask
        does not count against it."""
        with transaction(self.database_url) as conn:
            self._ensure(conn)
            row = conn.execute(
                """
                SELECT day = (now() AT TIME ZONE 'UTC')::date AND used_today >= %s AS spent,
                    extract(epoch FROM next_at - clock_timestamp())::float8 AS wait
                FROM rate_limits WHERE name = %s FOR UPDATE
                """,
                (self.daily_budget, self.name),
            ).fetchone()
            assert row is not None
            if row["spent"]:
                raise self._spent()
            if row["wait"] > 0:
                return float(row["wait"])
            conn.execute(
                f"""
                UPDATE rate_limits SET {_COUNT_TODAY},
                    next_at = clock_timestamp() + make_interval(secs => %s)
                WHERE name = %s
                """,
                (self.interval_s, self.name),
            )
        return 0.0

    def used_today(self) -> int:
        with transaction(self.database_url) as conn:
            row = conn.execute(
                "SELECT used_today FROM rate_limits WHERE name = %s"
                " AND day = (now() AT TIME ZONE 'UTC')::date",
                (self.name,),
            ).fetchone()
        return int(row["used_today"]) if row else 0


def seconds_to_utc_midnight() -> float:
    now = time.time()
    return 86400 - now % 86400
