"""Limits shared through Postgres: Claude slots that never leak, Gong's rate and daily budget."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from common.config import ROOT, Settings
from common.errors import GongBudgetSpent, SlotTimeout
from common.limits import ClaudeSlots, SharedRateLimiter
from local.anthropic_server import StandInState

HOLDER = """
import sys, time
from common.limits import ClaudeSlots
slots = ClaudeSlots(sys.argv[1], 1, lease_s=2)
with slots.slot(timeout_s=10):
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_slot_held_by_a_killed_worker_is_free_again_after_its_lease(db_url: str) -> None:
    slots = ClaudeSlots(db_url, 1, lease_s=2)
    slots.ensure()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        time.sleep(3)  # longer than the lease: the holder's heartbeat keeps it
        assert slots.in_use() == 1
        with pytest.raises(SlotTimeout), slots.slot(timeout_s=0.5):
            pass
        holder.send_signal(signal.SIGKILL)  # the worker dies without releasing
        holder.wait(timeout=10)
        started = time.monotonic()
        with slots.slot(timeout_s=10):
            waited = time.monotonic() - started
        assert waited < 4  # freed by its lease, not held for ever
        assert slots.in_use() == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()  # type: ignore[union-attr]


def test_a_slot_is_released_when_the_block_raises(db_url: str) -> None:
    slots = ClaudeSlots(db_url, 1)
    slots.ensure()
    with pytest.raises(RuntimeError), slots.slot(timeout_s=1):
        raise RuntimeError("request failed")
    assert slots.in_use() == 0
    with slots.slot(timeout_s=0.5):
        assert slots.in_use() == 1


def test_claude_concurrency_bounds_requests_across_runs(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.analyze_call import analyze_call

    monkeypatch.setenv("CLAUDE_CONCURRENCY", "2")
    claude.latency_s = 0.3
    errors: list[Exception] = []

    def run(call_id: str) -> None:
        try:
            analyze_call(call_id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in ("7001001", "7001002")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(claude.responses) == 8
    assert claude.max_in_flight == 2  # used to the limit, never past it
    assert ClaudeSlots(engine_env.database_url, 2).in_use() == 0


def test_the_gong_limiter_is_shared_by_workers(db_url: str) -> None:
    """Two workers, each with its own limiter object, together keep to 5 requests per second."""
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = SharedRateLimiter(db_url, "gong", rate=5, daily_budget=1000)
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # 0.2 s apart, whoever asks (separate limiters would let both through at once)
    assert len(stamps) == 10 and min(gaps) > 0.1 and stamps[-1] - stamps[0] > 1.6
    assert SharedRateLimiter(db_url, "gong", 5, 1000).used_today() == 10


def test_the_daily_gong_budget_is_enforced(db_url: str) -> None:
    limiter = SharedRateLimiter(db_url, "gong", rate=1000, daily_budget=3)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(GongBudgetSpent) as refused:
        limiter.acquire()
    assert 0 < refused.value.retry_after_s <= 86400


def test_a_turn_not_due_is_refused_without_waiting_or_spending(db_url: str) -> None:
    """`try_acquire` never sleeps: a turn not due says how long to wait and takes nothing,
    so only turns taken count against the day's budget."""
    limiter = SharedRateLimiter(db_url, "lookups", rate=0.5, daily_budget=2)
    assert limiter.try_acquire() == 0.0
    waits = [limiter.try_acquire() for _ in range(5)]
    assert all(0 < w <= 2.0 for w in waits) and limiter.used_today() == 1
    time.sleep(max(waits[-1], 0) + 0.05)
    assert limiter.try_acquire() == 0.0 and limiter.used_today() == 2
    time.sleep(2.05)
    with pytest.raises(GongBudgetSpent):
        limiter.try_acquire()
    assert limiter.used_today() == 2
