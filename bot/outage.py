"""Logging a failure that repeats (an outage): one line per failure class a minute, then recovery.

A loop that retries every second against a database that is down would otherwise write a stack
trace a second. `OutageLog` writes the first failure of a class as one ERROR line, keeps quiet
about repeats for a minute, then writes "still failing (N times in the last minute)", and once
things work again writes how long they did not ("database reachable again after 42 s").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from bot.db import describe_unreachable, is_connection_failure
from bot.error_source import location

DATABASE = "database unreachable"  # the failure class of every lost or refused connection
INTERVAL_SECONDS = 60.0


def where_raised(exc: BaseException) -> str:
    """The error's class and where in this project's code it was raised, without its message
    (which may hold personal data, e.g. SQL parameters)."""
    return failure_class(exc) + location(exc)


def failure_class(exc: BaseException) -> str:
    """The error's class, with the driver's for a database error: "OperationalError
    (LockNotAvailable)"."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc).__name__} ({type(exc.orig).__name__})"
    return type(exc).__name__


@dataclass
class _Failing:
    since: float  # first failure of this class (monotonic)
    logged_at: float  # last line written about it
    unlogged: int = 0  # failures since that line


class OutageLog:
    """Throttled logging of repeated failures of one component, keyed by failure class.

    `source` starts each line ("worker host:12:ab12cd"). `url` is the database's, named (host
    and port only) in the line of a connection failure; `describe` words any other failure
    (default: its class and where it was raised, no message). Thread-safe.
    """

    def __init__(
        self,
        logger: logging.Logger,
        source: str,
        *,
        url: str = "",
        describe: Callable[[BaseException], str] = where_raised,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.source = source
        self.url = url
        self.describe = describe
        self.interval = interval
        self.clock = clock
        self._failing: dict[str, _Failing] = {}
        self._lock = threading.Lock()

    def classify(self, exc: BaseException) -> tuple[str, str]:
        """The failure class of `exc` and its one-line description."""
        if is_connection_failure(exc):
            return DATABASE, describe_unreachable(exc, self.url) if self.url else DATABASE
        return failure_class(exc), self.describe(exc)

    def failure(self, what: str, exc: BaseException, *, with_traceback: bool = False) -> None:
        """Record one failure of `what` ("drain failed"); log it unless its class was logged
        within the interval. `with_traceback` adds the stack trace to the first line of a class
        that is not a connection failure (a bug, not an outage)."""
        key, detail = self.classify(exc)
        now = self.clock()
        if key != DATABASE and DATABASE in self._failing:
            self._recover(DATABASE, now)  # it answered, if only with another error
        with self._lock:
            state = self._failing.get(key)
            if state is None:
                self._failing[key] = _Failing(since=now, logged_at=now)
                line, count = f"{what}: {detail}", 0
            else:
                state.unlogged += 1
                if now - state.logged_at < self.interval:
                    return
                line, count, since = f"{what}: {detail}", state.unlogged, now - state.logged_at
                state.logged_at, state.unlogged = now, 0
        if count:
            times = "1 time" if count == 1 else f"{count} times"
            period = "minute" if since < 2 * 60 else f"{since / 60:.0f} minutes"
            self.log.error(
                "%s: still failing (%s in the last %s): %s", self.source, times, period, line
            )
        else:
            exc_info = exc if with_traceback and key != DATABASE else None
            self.log.error("%s: %s", self.source, line, exc_info=exc_info)

    def recovered(self) -> None:
        """Record a success: log, once, the end of each failure class that was logged."""
        if not self._failing:  # the common case, without the lock
            return
        now = self.clock()
        for key in list(self._failing):
            self._recover(key, now)

    def _recover(self, key: str, now: float) -> None:
        with self._lock:
            state = self._failing.pop(key, None)
        if state is None:
            return
        seconds = now - state.since
        if key == DATABASE:
            self.log.warning("%s: database reachable again after %.0f s", self.source, seconds)
        else:
            self.log.warning("%s: working again after %.0f s of %s", self.source, seconds, key)
