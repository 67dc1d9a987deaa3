"""The clock: APScheduler in Asia/Tokyo running the jobs, with one leader among all clocks.

Every clock schedules every job, but a run goes ahead only in the clock that holds the "clock"
lease at that moment and that claims that scheduled run first; so two clocks started together run
each job once. A clock that is not the leader keeps trying, and takes over when the leader's lease
runs out (it crashed) or is released (it shut down).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.outage import OutageLog
from bot.runtime import Runtime
from jobs import lease
from jobs.registry import JOBS, JobSpec, find
from jobs.runner import JobResult, describe_error, run_job
from jobs.schedule import check_settings, latest_run

log = logging.getLogger(__name__)
LEASE_NAME = "clock"


def default_holder() -> str:
    """A name for this clock that no other process shares."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Clock:
    """Schedules the jobs of `jobs/`; usable in-process (`start`/`shutdown`) or as a command."""

    def __init__(
        self, runtime: Runtime, *, jobs: tuple[JobSpec, ...] = JOBS, holder: str | None = None
    ) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.triggers: dict[str, BaseTrigger] = check_settings(runtime.settings, jobs)
        self.holder = holder or default_holder()
        self.is_leader = False
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        cfg = runtime.settings.jobs
        self._lease_seconds = cfg.lease_seconds
        self._grace = {spec.name: self._misfire_grace(spec) for spec in jobs}
        # Heartbeat and lease-check failures: one line per failure class a minute, and recovery.
        self.outage = OutageLog(
            log, f"clock {self.holder}", url=runtime.db.url, describe=describe_error
        )

    # -- scheduling -------------------------------------------------------------------------
    def _misfire_grace(self, spec: JobSpec) -> int:
        minutes = getattr(self.runtime.settings.jobs, spec.setting)
        if isinstance(minutes, int):  # an interval job: a late run is worth it until the next
            return minutes * 60
        return self.runtime.settings.jobs.misfire_grace_seconds

    def build_scheduler(self) -> BackgroundScheduler:
        """A scheduler holding every job and the lease heartbeat (not started)."""
        scheduler = BackgroundScheduler(
            timezone=self.runtime.settings.tz,
            # Jobs run one at a time (no lock contention between them on SQLite); the heartbeat
            # has its own thread so a long job never lets the lease lapse.
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.runtime.settings.jobs.misfire_grace_seconds,
            },
        )
        for spec in self.jobs:
            scheduler.add_job(
                self.fire,
                self.triggers[spec.name],
                args=[spec.name],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=self._grace[spec.name],
            )
        scheduler.add_job(
            self.heartbeat,
            IntervalTrigger(seconds=self.heartbeat_seconds),
            id="clock-lease",
            name="clock-lease",
            executor="lease",
        )
        return scheduler

    @property
    def heartbeat_seconds(self) -> float:
        """How often the lease is renewed (or, by a follower, tried)."""
        return max(1.0, self._lease_seconds / 3)

    def start(self) -> None:
        """Start scheduling in background threads (the embedded demo, tests)."""
        if self.scheduler is not None:
            return
        self.heartbeat()
        self.scheduler = self.build_scheduler()
        self.scheduler.start()
        log.info(
            "clock %s started with %d jobs (%s)",
            self.holder,
            len(self.jobs),
            "leader" if self.is_leader else "follower",
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling, let a running job finish (`wait`), and give the lease up."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
            self.scheduler = None
        try:
            with self.runtime.db.transaction() as session:
                released = lease.release(session, LEASE_NAME, self.holder)
        except Exception as exc:
            log.error("clock %s: could not release the lease: %s", self.holder, describe_error(exc))
            released = False
        self.is_leader = False
        log.info("clock %s stopped%s", self.holder, " (lease released)" if released else "")

    def stop(self) -> None:
        """Ask `run_forever` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT (the `cityhall clock` process), then shut down cleanly."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self._on_signal)
        self.start()
        try:
            while not self._stop.wait(timeout=3600):
                pass
        finally:
            self.shutdown(wait=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("clock %s: signal %s, shutting down", self.holder, signal.Signals(signum).name)
        self.stop()

    # -- leadership ---------------------------------------------------------------------------
    def heartbeat(self) -> bool:
        """Renew the lease, or try to take it over; return whether this clock leads."""
        try:
            with self.runtime.db.transaction() as session:
                now = self.runtime.now()
                held = lease.acquire(
                    session, LEASE_NAME, self.holder, now=now, seconds=self._lease_seconds
                )
                if held:
                    lease.forget_old_claims(session, now)
        except Exception as exc:
            self.outage.failure("lease heartbeat failed", exc)
            held = False
        else:
            self.outage.recovered()
        if held != self.is_leader:
            log.info(
                "clock %s %s",
                self.holder,
                "is now the leader" if held else "is no longer the leader",
            )
        self.is_leader = held
        return held

    # -- runs ---------------------------------------------------------------------------------
    def fire(self, name: str) -> JobResult | None:
        """A scheduled run: go ahead only as the leader, and only if no clock claimed it yet."""
        spec = find(name, self.jobs)
        trigger = self.triggers[name]
        scheduled = latest_run(
            trigger,
            datetime.now(self.runtime.settings.tz),
            timedelta(seconds=self._grace[name] + 60),
        )
        try:
            with self.runtime.db.transaction() as session:
                now = self.runtime.now()
                leading = lease.acquire(
                    session, LEASE_NAME, self.holder, now=now, seconds=self._lease_seconds
                )
                claimed = leading and (
                    scheduled is None or lease.claim_run(session, name, scheduled, self.holder)
                )
        except Exception as exc:
            self.outage.failure(f"job {name} not started, lease check failed", exc)
            return None
        self.outage.recovered()
        self.is_leader = leading
        if not claimed:
            log.debug(
                "clock %s: job %s skipped (%s)",
                self.holder,
                name,
                "run already claimed" if leading else "not the leader",
            )
            return None
        return run_job(self.runtime, spec, trigger="schedule")

    def run_now(self, name: str) -> JobResult:
        """Run one job at once, whoever leads (`cityhall jobs run NAME`)."""
        return run_job(self.runtime, find(name, self.jobs), trigger="manual")
