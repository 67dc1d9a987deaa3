"""The Page's send rate: one schedule of call slots shared by every worker process.

Meta allows a Page 300 Send API calls a second, whatever the number of workers. Each call takes
the next slot of a schedule kept 1/`per_second` apart: in PostgreSQL, one row updated by one
statement (the row lock orders concurrent workers; the database's clock is the only clock), or
in-process on SQLite (the embedded set-up runs one worker). A call that comes late takes its
slot late without pushing the schedule back by more than one interval, so a slow moment is made
up; slots never come closer than one interval, so no one-second window holds more than
`per_second` slot starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine, text

RATE_FLAG = "messenger:send_rate"  # the system_flags row holding the schedule
# Slots are scheduled at 97% of the cap: a call that starts up to ~30 ms after its slot (a busy
# machine, a slow database round trip) then still never puts more than the cap in a second.
HEADROOM = 0.97


class Limiter(Protocol):
    """Blocks until the next call may start."""

    def wait(self) -> None: ...


class RateLimiter:
    """The schedule in this process only (SQLite, tests); see the module docstring."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this call's slot."""
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(self._next, now - self.interval)
            start = max(now, slot)
            self._next = slot + self.interval
        if start > now:
            self._sleep(start - now)


_TAKE_SLOT = text(
    """
    UPDATE system_flags
    SET value = jsonb_build_object(
            'next',
            GREATEST(
                COALESCE((value ->> 'next')::float8, 0),
                EXTRACT(EPOCH FROM clock_timestamp())::float8
            ) + :interval
        ),
        updated_at = now()
    WHERE name = :name
    RETURNING (value ->> 'next')::float8 - :interval AS slot,
              EXTRACT(EPOCH FROM clock_timestamp())::float8 AS now
    """
)
_CREATE = text(
    "INSERT INTO system_flags (name, value, updated_at) "
    "VALUES (:name, '{}'::jsonb, now()) ON CONFLICT (name) DO NOTHING"
)


class SharedRateLimiter:
    """The schedule in PostgreSQL, shared by every worker of the database.

    Unlike the in-process schedule, a late call does not take a slot in the past: with several
    workers another one fills the moment, and slots never come closer than one interval, even
    on an idle schedule (the first call, then the next at once, would otherwise be two starts
    within one interval).

    One UPDATE … RETURNING per call (its own short transaction, a fraction of a millisecond);
    the wait happens here, after the row lock is released.
    """

    def __init__(
        self,
        engine: Engine,
        per_second: float,
        *,
        name: str = RATE_FLAG,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.name = name
        self._sleep = sleep
        self._ready = False

    def wait(self) -> None:
        """Take the next slot of the shared schedule and sleep until it."""
        if not self.interval:
            return
        with self.engine.begin() as connection:
            if not self._ready:
                connection.execute(_CREATE, {"name": self.name})
                self._ready = True
            slot, now = connection.execute(
                _TAKE_SLOT, {"interval": self.interval, "name": self.name}
            ).one()
        if slot > now:
            self._sleep(slot - now)


def page_limiter(engine: Engine, per_second: float) -> Limiter:
    """The Page's limiter for this database: shared on PostgreSQL, in-process on SQLite."""
    paced = per_second * HEADROOM
    if engine.dialect.name == "postgresql":
        return SharedRateLimiter(engine, paced)
    return RateLimiter(paced)
