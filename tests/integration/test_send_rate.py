"""One send rate for the Page, whatever the number of workers (PostgreSQL holds the schedule)."""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import pytest

from bot.db import Database
from bot.messaging.rate import RateLimiter, SharedRateLimiter, page_limiter


def peak_in_one_second(starts: list[float]) -> int:
    """The most starts in any half-open one-second window [t, t + 1)."""
    window: deque[float] = deque()
    peak = 0
    for t in sorted(starts):
        window.append(t)
        while window[0] <= t - 1.0:
            window.popleft()
        peak = max(peak, len(window))
    return peak


def test_four_workers_share_one_schedule_and_never_exceed_the_cap(postgres_url: str) -> None:
    cap, workers, calls = 60.0, 4, 45  # 180 calls: three seconds at the cap
    starts: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def worker() -> None:
        db = Database(postgres_url)  # its own engine and connections, as a process would have
        limiter = page_limiter(db.engine, cap)
        assert isinstance(limiter, SharedRateLimiter)
        barrier.wait(timeout=10)
        for _ in range(calls):
            limiter.wait()
            with lock:
                starts.append(time.monotonic())
        db.dispose()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(starts) == workers * calls
    assert peak_in_one_second(starts) <= cap
    elapsed = max(starts) - min(starts)
    assert elapsed >= (workers * calls - cap) / cap  # not faster than the cap allows
    assert elapsed <= workers * calls / (cap * 0.97) * 1.15  # and not much slower


def test_per_process_limiters_would_have_multiplied_the_rate(postgres_url: str) -> None:
    """The baseline the shared schedule replaces: each worker alone keeps to the cap."""
    cap, workers, calls = 60.0, 4, 30
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = RateLimiter(cap)
        for _ in range(calls):
            limiter.wait()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert peak_in_one_second(starts) > 1.5 * cap


def test_sqlite_paces_in_process(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/rate.sqlite3")
    limiter = page_limiter(db.engine, 100)
    assert isinstance(limiter, RateLimiter)
    assert limiter.interval == pytest.approx(1 / 97)


def test_an_idle_schedule_never_lets_two_calls_start_within_one_interval(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    limiter = SharedRateLimiter(db.engine, 20, name="test:idle")  # 50 ms apart
    time.sleep(0.2)  # the schedule lies idle in the past
    limiter.wait()
    first = time.monotonic()
    limiter.wait()
    assert time.monotonic() - first >= 0.045
    db.dispose()
