"""The clock: APScheduler in Asia/Tokyo running the jobs, with one leader among all clocks.

Every clock schedules every job, but a run goes ahead only in the clock that holds the "clock"
lease at that moment and that claims that scheduled run first; so two clocks started together run
each job once. A clock that is not the leader keeps trying, and takes over the moment the
leader's lease runs out (it crashed) or is released (it shut down).

Runs are named by the time they were scheduled for, not by when a clock got to them. A clock
that becomes leader (after a crash, a deploy, all clocks down, or a database outage that kept it
from starting a run) makes each job's latest run that no clock made, once, if it is due at most
the job's catch-up grace ago (`[jobs] <job>_grace_minutes`; a poll: its interval), and records
it as skipped, with one log line, if it is older. Runs due before the first clock ever led
(`clock:watching_since`) were nobody's to make: a first start catches nothing up.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import JobRun, SystemFlag
from bot.outage import OutageLog
from bot.runtime import Runtime
from jobs import lease
from jobs.registry import JOBS, JobSpec, find
from jobs.runner import JobResult, begin_run, describe_error, record_skip, run_job
from jobs.schedule import catch_up_grace, check_settings, last_due

log = logging.getLogger(__name__)
LEASE_NAME = "clock"
HEARTBEAT_JOB = "clock-lease"
CATCH_UP_JOB = "clock-catch-up"
WATCHING_FLAG = "clock:watching_since"
# A follower tries to take the lease over this long after it runs out (clock jitter, rounding).
TAKEOVER_MARGIN_SECONDS = 0.02
# A run made later than this after its time counts (and is logged) as caught up.
LATE_AFTER = timedelta(minutes=1)


def default_holder() -> str:
    """A name for this clock that no other process shares."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def watching_since(session: Session, now: datetime, holder: str) -> datetime:
    """When the first clock began to lead (recorded as `now` if none has yet)."""
    flag = session.get(SystemFlag, WATCHING_FLAG)
    if flag is None:
        flag = SystemFlag(name=WATCHING_FLAG, value={"holder": holder}, updated_at=now)
        session.add(flag)
        session.flush()
    return flag.updated_at


def last_scheduled_runs(session: Session) -> dict[str, datetime]:
    """Each job's latest scheduled time that was run, caught up or skipped."""
    rows = session.execute(
        select(JobRun.job, func.max(JobRun.scheduled_for))
        .where(JobRun.scheduled_for.is_not(None))
        .group_by(JobRun.job)
    ).tuples()
    return {job: at for job, at in rows if at is not None}


def duration(delta: timedelta) -> str:
    """A short English duration for log lines and `jobs list`: "41 s", "3 h 20 min", "2 d 4 h"."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class _Claim:
    """What a clock does about one scheduled run: run it (`run_id`), skip it (`skipped`, why),
    or nothing (not leading, or made already)."""

    leading: bool
    run_id: int | None = None
    skipped: str = ""


class Clock:
    """Schedules the jobs of `jobs/`; usable in-process (`start`/`shutdown`) or as a command.

    Every time it reads (which run is due, whether the lease ran out) comes from
    `runtime.now()`, so tests can drive several clocks through a fake day.
    """

    def __init__(
        self, runtime: Runtime, *, jobs: tuple[JobSpec, ...] = JOBS, holder: str | None = None
    ) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.triggers: dict[str, BaseTrigger] = check_settings(runtime.settings, jobs)
        self.grace: dict[str, timedelta] = {
            spec.name: catch_up_grace(spec, runtime.settings) for spec in jobs
        }
        self.holder = holder or default_holder()
        self.is_leader = False
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._lease_seconds = runtime.settings.jobs.lease_seconds
        self._lease_expires: datetime | None = None  # the leader's, as a follower last saw it
        self._catch_up_due = False  # leading, with runs that may have been missed
        # Heartbeat and lease-check failures: one line per failure class a minute, and recovery.
        self.outage = OutageLog(
            log, f"clock {self.holder}", url=runtime.db.url, describe=describe_error
        )
        if runtime.settings.jobs.misfire_grace_seconds:
            log.warning(
                "jobs.misfire_grace_seconds is no longer used: each job has its catch-up grace "
                "(jobs.<job>_grace_minutes); remove it from the configuration"
            )

    # -- scheduling -------------------------------------------------------------------------
    def build_scheduler(self) -> BackgroundScheduler:
        """A scheduler holding every job and the lease heartbeat (not started)."""
        scheduler = BackgroundScheduler(
            timezone=self.runtime.settings.tz,
            # Jobs run one at a time (no lock contention between them on SQLite); the heartbeat
            # has its own thread so a long job never lets the lease lapse.
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1)},
            # However late APScheduler gets to a run (a long job before it), `fire` is called
            # and decides by the job's catch-up grace, recording a run it skips.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for spec in self.jobs:
            scheduler.add_job(
                self.fire, self.triggers[spec.name], args=[spec.name], id=spec.name, name=spec.name
            )
        scheduler.add_job(
            self.heartbeat,
            IntervalTrigger(seconds=self.heartbeat_seconds),
            id=HEARTBEAT_JOB,
            name=HEARTBEAT_JOB,
            executor="lease",
        )
        # Brought forward (`_plan`) when this clock becomes leader; hourly it only checks that
        # nothing is due. A standing job rather than one-off ones: APScheduler 3 loses its
        # thread to a one-off job that fires as the scheduler shuts down.
        scheduler.add_job(
            self._catch_up_if_due,
            IntervalTrigger(hours=1),
            id=CATCH_UP_JOB,
            name=CATCH_UP_JOB,
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
        self._plan()

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
        expires: datetime | None = None
        try:
            with self.runtime.db.transaction() as session:
                now = self.runtime.now()
                held = lease.acquire(
                    session, LEASE_NAME, self.holder, now=now, seconds=self._lease_seconds
                )
                if held:
                    lease.forget_old_claims(session, now)
                else:
                    expires = lease.expires_at(session, LEASE_NAME)
        except Exception as exc:
            self.outage.failure("lease heartbeat failed", exc)
            held = False
        else:
            self.outage.recovered()
        self._lease_expires = expires
        self._leading(held)
        self._plan()
        return held

    def _leading(self, held: bool) -> None:
        if held != self.is_leader:
            log.info(
                "clock %s %s",
                self.holder,
                "is now the leader" if held else "is no longer the leader",
            )
            if held:
                self._catch_up_due = True
        self.is_leader = held

    def _plan(self) -> None:
        """As a new leader, catch up on the job thread; as a follower, try again the moment the
        leader's lease runs out rather than at the next heartbeat (takeover within the lease)."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running:
            return  # `start` plans once the scheduler runs; tests call `catch_up` themselves
        tz = self.runtime.settings.tz
        try:
            if self.is_leader and self._catch_up_due:
                scheduler.modify_job(CATCH_UP_JOB, next_run_time=datetime.now(tz))
            elif not self.is_leader and self._lease_expires is not None:
                wait = (self._lease_expires - self.runtime.now()).total_seconds()
                wait = max(0.0, wait) + TAKEOVER_MARGIN_SECONDS
                if wait < self.heartbeat_seconds:
                    at = datetime.now(tz) + timedelta(seconds=wait)
                    scheduler.modify_job(HEARTBEAT_JOB, next_run_time=at)
        except JobLookupError:  # the scheduler is shutting down
            pass

    def _catch_up_if_due(self) -> None:
        if self.is_leader and self._catch_up_due:
            self.catch_up()

    # -- runs ---------------------------------------------------------------------------------
    def fire(self, name: str) -> JobResult | None:
        """A scheduled run: go ahead only as the leader, and only if no clock made it yet."""
        return self._make(find(name, self.jobs), started_by="schedule")

    def catch_up(self) -> list[JobResult]:
        """As the new leader, make (or skip, past its grace) each job's latest run that no clock
        made since clocks began to lead; return the runs made."""
        self._catch_up_due = False
        try:
            with self.runtime.db.transaction() as session:
                since = watching_since(session, self.runtime.now(), self.holder)
                handled = last_scheduled_runs(session)
        except Exception as exc:
            self.outage.failure("catch-up not done, job history unreadable", exc)
            self._catch_up_due = True
            return []
        results = []
        for spec in self.jobs:
            after = max(since, handled.get(spec.name, since))
            result = self._make(spec, started_by="catch-up", after=after)
            if result is not None:
                results.append(result)
        return results

    def _make(
        self, spec: JobSpec, *, started_by: str, after: datetime | None = None
    ) -> JobResult | None:
        """Make the job's latest due run (after `after`) if this clock leads and claims it."""
        now = self.runtime.now()
        tz = self.runtime.settings.tz
        scheduled = last_due(self.triggers[spec.name], now.astimezone(tz), after)
        if scheduled is None:
            return None
        if now - scheduled > LATE_AFTER:  # e.g. a long job held the job thread: made late
            started_by = "catch-up"
        try:
            with self.runtime.db.transaction() as session:
                claim = self._claim(session, spec.name, scheduled, now, started_by)
        except Exception as exc:
            self.outage.failure(f"job {spec.name} not started, lease check failed", exc)
            self._catch_up_due = True  # the run may be lost: look again once leading
            return None
        self.outage.recovered()
        self._leading(claim.leading)
        self._plan()
        due = scheduled.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        if claim.skipped:
            log.warning("job %s: skipped the run due %s: %s", spec.name, due, claim.skipped)
        if claim.run_id is None:
            return None
        if started_by == "catch-up":
            late = duration(now - scheduled)
            log.info("job %s: catching up the run due %s (%s late)", spec.name, due, late)
        return run_job(self.runtime, spec, started_by=started_by, run_id=claim.run_id)

    def _claim(
        self, session: Session, job: str, scheduled: datetime, now: datetime, started_by: str
    ) -> _Claim:
        """Lead, claim the run due at `scheduled`, and record it as begun or skipped."""
        leading = lease.acquire(
            session, LEASE_NAME, self.holder, now=now, seconds=self._lease_seconds
        )
        if not leading:
            log.debug("clock %s: job %s not run (not the leader)", self.holder, job)
            return _Claim(leading=False)
        made = session.scalar(
            select(JobRun.id).where(JobRun.job == job, JobRun.scheduled_for >= scheduled).limit(1)
        )
        if made is not None or not lease.claim_run(session, job, scheduled, self.holder):
            log.debug("clock %s: job %s not run (run already made)", self.holder, job)
            return _Claim(leading=True)
        late, grace = now - scheduled, self.grace[job]
        if late <= grace:
            run_id = begin_run(session, job, now, started_by=started_by, scheduled_for=scheduled)
            return _Claim(leading=True, run_id=run_id)
        why = f"{duration(late)} late, past its catch-up grace of {duration(grace)}"
        record_skip(session, job, scheduled, now, started_by=started_by, why=why)
        return _Claim(leading=True, skipped=why)

    def run_now(self, name: str) -> JobResult:
        """Run one job at once, whoever leads (`cityhall jobs run NAME`)."""
        return run_job(self.runtime, find(name, self.jobs), started_by="manual")
