"""A value recomputed at most once per time-to-live, shared by the threads of one process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


class TimedValue(Generic[T]):
    """`compute()`'s result, kept for `ttl` by the given clock; a TTL of zero keeps nothing.

    One thread recomputes an expired value while the others wait for it (not a stampede of
    identical queries when a popular page's value expires under load).
    """

    def __init__(self, compute: Callable[[], T], *, ttl: timedelta, clock: Callable[[], datetime]):
        self._compute = compute
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[datetime, T] | None = None

    def get(self) -> T:
        """The cached value while it is fresh, else a newly computed one."""
        if self._ttl <= timedelta(0):
            return self._compute()
        with self._lock:
            now = self._clock()
            if self._value is not None and now - self._value[0] < self._ttl:
                return self._value[1]
            value = self._compute()
            self._value = (now, value)
            return value

    def clear(self) -> None:
        """Forget the value: the next `get` recomputes it."""
        with self._lock:
            self._value = None
