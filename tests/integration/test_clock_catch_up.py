"""Catch-up by schedule: a clock that becomes leader makes each missed run once, late, within the
job's grace, and skips older ones with one log line; no scheduled run is ever made twice.

Most tests drive several in-process clocks (each with its own Database, as separate processes
would have) through a fake morning in Tokyo; one starts real `cityhall clock` processes and
kills the leader. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.bootstrap import build_runtime
from bot.config import Settings
from bot.db import Database
from bot.models import JobRun, Lease
from bot.runtime import Runtime
from integrations.local import LocalMailer, LocalMessenger
from jobs import clock as clock_module
from jobs import lease
from jobs.cli import job_table
from jobs.clock import LEASE_NAME, TAKEOVER_MARGIN_SECONDS, Clock
from jobs.context import JobContext
from jobs.registry import JobSpec

JST = ZoneInfo("Asia/Tokyo")
ROOT = Path(__file__).resolve().parents[2]


def jst(hour: int, minute: int = 0, second: float = 0, *, day: int = 20) -> datetime:
    """A time on a November day in Tokyo, as UTC (what runtime.now() returns)."""
    whole = int(second)
    at = datetime(2026, 11, day, hour, minute, whole, int((second - whole) * 1e6), tzinfo=JST)
    return at.astimezone(UTC)


class FakeTime:
    """One wall clock shared by every clock of a test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Recorder:
    """Jobs that note which clock ran them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.holders: dict[int, str] = {}  # id(runtime) → the name of its clock
        self._lock = threading.Lock()

    def job(self, name: str) -> Callable[[JobContext], str]:
        def run(ctx: JobContext) -> str:
            with self._lock:
                self.calls.append((name, self.holders[id(ctx.runtime)]))
            return f"{name} done"

        return run

    def count(self, name: str) -> int:
        return sum(1 for job, _ in self.calls if job == name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def specs(recorder: Recorder) -> tuple[JobSpec, ...]:
    """The forms poll (every 2 min), the digest (08:00, grace 6 h), retention (03:30, 24 h)."""
    return (
        JobSpec("sync-forms", recorder.job("sync-forms"), "sync_forms_minutes"),
        JobSpec("secretariat-digest", recorder.job("secretariat-digest"), "secretariat_digest"),
        JobSpec("retention", recorder.job("retention"), "retention"),
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime(jst(7, 50))


@pytest.fixture
def clocks(
    runtime: Runtime,
    database_url: str,
    specs: tuple[JobSpec, ...],
    fake_time: FakeTime,
    recorder: Recorder,
) -> Iterator[Callable[[str], Clock]]:
    """Make clocks named `holder`, each on its own Database (as its own process would be)."""
    made: list[Database] = []

    def make(holder: str) -> Clock:
        db = Database(database_url)
        made.append(db)
        rt = build_runtime(
            runtime.settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer()
        )
        rt.now = fake_time
        recorder.holders[id(rt)] = holder
        return Clock(rt, jobs=specs, holder=holder)

    yield make
    for db in made:
        db.dispose()


def start(clock: Clock) -> bool:
    """What `Clock.start` does before its scheduler ticks: try to lead, and catch up if leading."""
    if clock.heartbeat():
        clock.catch_up()
    return clock.is_leader


def runs(runtime: Runtime, job: str) -> list[JobRun]:
    with runtime.db.transaction() as session:
        query = select(JobRun).where(JobRun.job == job).order_by(JobRun.id)
        return list(session.scalars(query))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- the leader dies just before a daily run ------------------------------------------------------
def test_leader_killed_just_before_a_daily_run_the_standby_makes_it_once_late(
    runtime: Runtime,
    clocks: Callable[[str], Clock],
    fake_time: FakeTime,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_time.at = jst(7, 58)
    a, b = clocks("a"), clocks("b")
    assert start(a) and not start(b)
    assert a.fire("sync-forms") is not None  # the 07:58 poll, on time
    fake_time.at = jst(7, 59, 30)
    assert a.heartbeat()  # its last renewal: killed now, its lease runs until 08:00:30

    fake_time.at = jst(8, 0)  # the digest's time: only b is alive, and it does not lead yet
    assert b.fire("secretariat-digest") is None
    assert b.fire("sync-forms") is None
    fake_time.at = jst(8, 0, 29)
    assert not b.heartbeat()
    fake_time.at = jst(8, 0, 31)
    assert b.heartbeat()  # the lease ran out: b leads, and catches up
    made = b.catch_up()
    assert sorted(r.job for r in made) == ["secretariat-digest", "sync-forms"]

    (digest,) = runs(runtime, "secretariat-digest")
    assert (digest.outcome, digest.started_by) == ("ok", "catch-up")
    assert digest.scheduled_for == jst(8, 0)
    assert digest.started_at == jst(8, 0, 31)
    assert "job secretariat-digest: catching up the run due 2026-11-20 08:00 (31 s late)" in (
        caplog.text
    )
    # never twice: not by the new leader's scheduler, another catch-up, nor the old leader back
    assert b.fire("secretariat-digest") is None
    assert b.catch_up() == []
    fake_time.at = jst(8, 0, 45)
    assert not a.heartbeat() and a.fire("secretariat-digest") is None and a.catch_up() == []
    assert recorder.calls == [
        ("sync-forms", "a"),
        ("sync-forms", "b"),  # only the latest poll (08:00), not each one missed
        ("secretariat-digest", "b"),
    ]
    assert [r.scheduled_for for r in runs(runtime, "sync-forms")] == [jst(7, 58), jst(8, 0)]
    assert warnings(caplog) == []


# -- every clock down across a daily run ---------------------------------------------------------
def test_every_clock_down_across_a_daily_run_it_is_made_once_when_one_is_back_within_grace(
    runtime: Runtime,
    clocks: Callable[[str], Clock],
    fake_time: FakeTime,
    recorder: Recorder,
) -> None:
    a = clocks("a")
    assert start(a)  # 07:50: the first clock ever, nothing to catch up
    assert a.fire("sync-forms") is not None
    fake_time.at = jst(7, 55)
    a.shutdown()  # a deploy: every clock stops

    fake_time.at = jst(9, 30)  # back 1 h 30 min after the digest's time (its grace: 6 h)
    b, c = clocks("b"), clocks("c")
    assert start(b) and not start(c)
    fake_time.at = jst(9, 31)
    b.shutdown()  # and the deploy's second clock takes over at once
    assert start(c)

    assert recorder.count("secretariat-digest") == 1
    (digest,) = runs(runtime, "secretariat-digest")
    assert (digest.scheduled_for, digest.started_by, digest.outcome) == (
        jst(8, 0),
        "catch-up",
        "ok",
    )
    assert [r.scheduled_for for r in runs(runtime, "sync-forms")] == [jst(7, 50), jst(9, 30)]
    # retention's 03:30 run was due before any clock ever ran: nobody's to make
    assert runs(runtime, "retention") == []


def test_a_clock_back_after_the_grace_skips_the_run_with_one_log_line(
    runtime: Runtime,
    clocks: Callable[[str], Clock],
    fake_time: FakeTime,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = clocks("a")
    assert start(a)
    a.fire("sync-forms")
    fake_time.at = jst(7, 55)
    a.shutdown()

    caplog.set_level(logging.INFO)
    fake_time.at = jst(14, 30)  # 6 h 30 min after the digest's time: past its 6 h grace
    b, c = clocks("b"), clocks("c")
    assert start(b) and not start(c)
    b.shutdown()
    assert start(c)  # another leader looks again: nothing more is skipped or logged

    assert recorder.count("secretariat-digest") == 0
    (skipped,) = runs(runtime, "secretariat-digest")
    assert (skipped.outcome, skipped.started_by, skipped.scheduled_for) == (
        "skipped",
        "catch-up",
        jst(8, 0),
    )
    assert skipped.detail == "6 h 30 min late, past its catch-up grace of 6 h"
    assert warnings(caplog) == [
        "job secretariat-digest: skipped the run due 2026-11-20 08:00: "
        "6 h 30 min late, past its catch-up grace of 6 h"
    ]
    assert recorder.count("sync-forms") == 2  # a's 07:50 poll and b's catch-up of 14:30

    rows = {row["name"]: row for row in job_table(c.runtime)}
    digest = rows["secretariat-digest"]
    assert digest["last_scheduled"] == "2026-11-20T08:00:00+09:00"
    assert (digest["handled"], digest["why"]) == (
        "skipped",
        "6 h 30 min late, past its catch-up grace of 6 h",
    )
    assert digest["last_run"] is None  # a skip is not a run
    poll = rows["sync-forms"]
    assert (poll["last_scheduled"], poll["handled"]) == ("2026-11-20T14:30:00+09:00", "caught up")
    assert poll["why"] == "missed at its time, made 0 s late"


def test_the_next_days_run_is_made_on_time_after_a_skip(
    runtime: Runtime, clocks: Callable[[str], Clock], fake_time: FakeTime
) -> None:
    a = clocks("a")
    start(a)
    a.fire("sync-forms")
    a.shutdown()
    fake_time.at = jst(20, 0)
    b = clocks("b")
    start(b)  # the digest of the 20th: skipped
    fake_time.at = jst(8, 0, 0.2, day=21)
    assert b.heartbeat()
    result = b.fire("secretariat-digest")
    assert result is not None and result.outcome == "ok"
    assert [
        (r.scheduled_for, r.outcome, r.started_by) for r in runs(runtime, "secretariat-digest")
    ] == [
        (jst(8, 0), "skipped", "catch-up"),
        (jst(8, 0, day=21), "ok", "schedule"),
    ]


def test_a_first_start_catches_nothing_up(
    runtime: Runtime, clocks: Callable[[str], Clock], fake_time: FakeTime, recorder: Recorder
) -> None:
    fake_time.at = jst(14, 30)  # the digest was due at 08:00 today: before any clock ever ran
    a = clocks("a")
    assert start(a)
    assert recorder.calls == []
    with runtime.db.transaction() as session:
        assert session.scalars(select(JobRun)).all() == []


def test_a_run_the_scheduler_gets_to_late_is_caught_up_or_skipped_by_the_same_grace(
    runtime: Runtime,
    clocks: Callable[[str], Clock],
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long job holding the job thread delays the next one's start: same rule as a takeover."""
    a = clocks("a")
    start(a)
    caplog.set_level(logging.INFO)
    fake_time.at = jst(8, 3)
    assert a.heartbeat() and a.fire("secretariat-digest") is not None
    fake_time.at = jst(14, 30, day=21)
    assert a.heartbeat() and a.fire("secretariat-digest") is None
    made = [(r.scheduled_for, r.started_by, r.outcome) for r in runs(runtime, "secretariat-digest")]
    assert made == [(jst(8, 0), "catch-up", "ok"), (jst(8, 0, day=21), "catch-up", "skipped")]
    assert "job secretariat-digest: catching up the run due 2026-11-20 08:00 (3 min late)" in (
        caplog.text
    )
    assert warnings(caplog) == [
        "job secretariat-digest: skipped the run due 2026-11-21 08:00: "
        "6 h 30 min late, past its catch-up grace of 6 h"
    ]


def test_the_retired_misfire_setting_is_accepted_and_warned_about(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    s = runtime.settings
    runtime.settings = s.replace(jobs=dataclasses.replace(s.jobs, misfire_grace_seconds=3600))
    Clock(runtime, jobs=())
    assert warnings(caplog) == [
        "jobs.misfire_grace_seconds is no longer used: each job has its catch-up grace "
        "(jobs.<job>_grace_minutes); remove it from the configuration"
    ]


# -- several clocks, outages ---------------------------------------------------------------------
def test_clocks_taking_over_together_make_each_missed_run_once(
    runtime: Runtime, clocks: Callable[[str], Clock], fake_time: FakeTime, recorder: Recorder
) -> None:
    a = clocks("a")
    start(a)
    a.fire("sync-forms")  # 07:50
    fake_time.at = jst(8, 10)  # a died at 07:50; its lease ran out long ago
    contenders = [clocks(f"c{i}") for i in range(5)]
    barrier = threading.Barrier(len(contenders))
    errors: list[BaseException] = []

    def take_over(clock: Clock) -> None:
        try:
            barrier.wait()
            start(clock)
            clock.fire("secretariat-digest")  # as a late scheduler would
            clock.catch_up()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take_over, args=(c,)) for c in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(c.is_leader for c in contenders) == 1
    assert Counter(job for job, _ in recorder.calls) == {"sync-forms": 2, "secretariat-digest": 1}
    assert [r.scheduled_for for r in runs(runtime, "secretariat-digest")] == [jst(8, 0)]


def test_a_run_lost_to_a_database_outage_is_made_once_the_database_answers(
    runtime: Runtime,
    clocks: Callable[[str], Clock],
    fake_time: FakeTime,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = clocks("a")
    start(a)
    a.fire("sync-forms")
    fake_time.at = jst(8, 0)
    with monkeypatch.context() as m:

        def unreachable(*_args: object, **_kwargs: object) -> bool:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))

        m.setattr(clock_module.lease, "claim_run", unreachable)
        assert a.fire("secretariat-digest") is None  # the database was away at 08:00
    fake_time.at = jst(8, 0, 20)
    assert a.heartbeat()  # it answers again; the leader looks for what it could not make
    # (and the 08:00 poll, which its scheduler would have fired meanwhile)
    assert [r.job for r in a.catch_up()] == ["sync-forms", "secretariat-digest"]
    assert recorder.count("secretariat-digest") == 1
    assert a.catch_up() == []


# -- takeover time --------------------------------------------------------------------------------
def short_lease(settings: Settings, seconds: int = 3) -> Settings:
    return settings.replace(jobs=dataclasses.replace(settings.jobs, lease_seconds=seconds))


def test_a_standby_takes_over_within_the_lease_after_the_leader_stops_renewing(
    runtime: Runtime, database_url: str
) -> None:
    """The standby tries again the moment the lease runs out, not at its next heartbeat (which
    could come up to a third of the lease later)."""
    settings = short_lease(runtime.settings)  # 3 s: renewed, and tried, every second
    dbs = [Database(database_url), Database(database_url)]
    leader, standby = (
        Clock(
            build_runtime(settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer()),
            jobs=(),
        )
        for db in dbs
    )
    planned: list[datetime] = []
    try:
        assert leader.heartbeat()  # the leader's last renewal: it hangs from now on
        renewed = time.monotonic()
        with dbs[0].transaction() as session:
            expiry = lease.expires_at(session, LEASE_NAME)
        assert expiry is not None
        # The standby's heartbeats come 0.7 s after each second of the lease: left to them, it
        # would take over 3.7 s after the renewal.
        time.sleep(0.7)
        standby.start()
        assert not standby.is_leader and standby.scheduler is not None

        def submitted(event: JobSubmissionEvent) -> None:
            if event.job_id == "clock-lease":  # heartbeats, and the try brought forward
                planned.extend(event.scheduled_run_times)

        standby.scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
        deadline = renewed + 6
        while not standby.is_leader and time.monotonic() < deadline:
            time.sleep(0.01)
        took = time.monotonic() - renewed
        assert standby.is_leader
    finally:
        standby.shutdown()
        leader.shutdown()
        for db in dbs:
            db.dispose()
    # planned for the moment the lease runs out, and done then (give or take a loaded machine)
    after_expiry = [(at - expiry).total_seconds() for at in planned if at > expiry]
    assert after_expiry and abs(after_expiry[0] - TAKEOVER_MARGIN_SECONDS) < 0.05, after_expiry
    assert 2.9 <= took <= 5, f"standby took over {took:.2f} s after the last renewal"


# -- real processes -------------------------------------------------------------------------------
def test_two_clock_processes_leader_killed_before_the_digest_the_other_makes_it_once(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    """Two `cityhall clock` processes living a fake morning in Tokyo (a 6 s lease): the leader is
    SIGKILLed a few seconds before 08:00, the other takes over when its lease runs out, after
    08:00, and makes the digest (and the hourly capacity check) once, late."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[app]\ndatabase_url = "{database_url}"\n'
        "[jobs]\nlease_seconds = 6\nsync_forms_minutes = 1440\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env["PYTHONPATH"] = str(ROOT)
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    ready = {name: tmp_path / f"{name}.ready" for name in logs}
    offset_file = tmp_path / "offset"
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tests.integration.clock_process", str(config)]
        with logs[name].open("wb") as out:
            procs[name] = subprocess.Popen(
                [*command, str(ready[name]), str(offset_file)],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return procs[name]

    offset = 0.0

    def fake_now() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset)

    def holder() -> str | None:
        with runtime.db.transaction() as session:
            row = session.get(Lease, LEASE_NAME)
            return row.holder if row else None

    def lease_expiry() -> datetime:
        with runtime.db.transaction() as session:
            row = session.get(Lease, LEASE_NAME)
            return row.expires_at if row else datetime.min.replace(tzinfo=UTC)

    def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    try:
        for name in logs:
            spawn(name)
        assert wait_for(lambda: all(path.exists() for path in ready.values()), 60)
        # both have imported everything: their (shared) fake morning starts now, at 07:59:50
        offset = (datetime(2026, 11, 20, 7, 59, 50, tzinfo=JST) - datetime.now(UTC)).total_seconds()
        offset_file.with_suffix(".tmp").write_text(repr(offset), encoding="utf-8")
        offset_file.with_suffix(".tmp").replace(offset_file)

        def leader() -> str | None:
            pid = (holder() or "::").split(":")[1]
            return next((name for name, proc in procs.items() if str(proc.pid) == pid), None)

        assert wait_for(lambda: leader() is not None, 8), logs["a"].read_text()
        first = leader()
        other = "b" if first == "a" else "a"
        assert wait_for(lambda: "(follower)" in logs[other].read_text(), 8), logs[other].read_text()
        # Kill the leader once a renewal carries its lease past 08:00 (it renews every 2 s; one
        # at or after 07:59:54.5 does): the other clock does not lead when the digest is due.
        watch_from = datetime(2026, 11, 20, 7, 59, 55, tzinfo=JST)
        assert fake_now() < watch_from, "the clocks started too slowly"
        time.sleep((watch_from - fake_now()).total_seconds())
        past_eight = datetime(2026, 11, 20, 8, 0, 0, 500000, tzinfo=JST)
        assert wait_for(lambda: lease_expiry() > past_eight, 4), "the leader stopped renewing"
        procs[first].send_signal(signal.SIGKILL)
        procs[first].wait()
        killed = fake_now()
        assert killed < datetime(2026, 11, 20, 8, 0, tzinfo=JST)
        assert wait_for(lambda: leader() == other, 12)
        takeover = fake_now() - killed
        assert wait_for(lambda: len(runs(runtime, "capacity-alerts")) == 1, 8)
        time.sleep(1.5)  # anything more it would run, it would have by now
        procs[other].send_signal(signal.SIGTERM)
        assert procs[other].wait(timeout=10) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    survivor_log = logs[other].read_text()
    # within the 6 s lease of the kill (give or take a loaded machine)
    assert takeover <= timedelta(seconds=7), f"took over {takeover} after the kill"
    for job in ("secretariat-digest", "capacity-alerts"):
        (run,) = runs(runtime, job)
        assert run.scheduled_for == datetime(2026, 11, 20, 8, 0, tzinfo=JST)
        assert (run.started_by, run.outcome) == ("catch-up", "ok"), run.detail
        assert timedelta(0) < run.started_at - run.scheduled_for <= timedelta(seconds=10)
        assert f"job {job}: catching up the run due 2026-11-20 08:00" in survivor_log
    assert "is now the leader" in survivor_log
    assert "Traceback" not in survivor_log
