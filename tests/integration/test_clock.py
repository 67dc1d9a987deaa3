"""The clock: one leader among several clocks, each run once, failures contained and reported."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import build_runtime
from bot.config import ConfigError, Settings
from bot.db import Database
from bot.models import Alert, Application, JobRun, Lease, OutboundMessage
from bot.runtime import Runtime
from integrations.local import LocalMailer, LocalMessenger
from integrations.ports import SheetSnapshot
from jobs import lease
from jobs.clock import LEASE_NAME, Clock
from jobs.context import JobContext
from jobs.registry import JobSpec
from jobs.runner import run_job
from tests.form_sheet import HEADER, response_row

NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
JST_MORNING = datetime(2026, 11, 20, 1, 0, 30, tzinfo=UTC)  # 10:00:30 in Tokyo
PERSONAL_ADDRESS = "taro.yamada@city.toyama.lg.jp"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def job_runs(runtime: Runtime) -> list[JobRun]:
    with runtime.db.transaction() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


class Recorder:
    """Test jobs that note which clock ran them."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def job(self, name: str, *, fail: bool = False) -> Callable[[JobContext], str]:
        def run(ctx: JobContext) -> str:
            with self._lock:
                self.calls.append(name)
            if fail:
                raise RuntimeError(f"could not reach {PERSONAL_ADDRESS}")
            return f"{name} done"

        return run


@pytest.fixture
def second_runtime(
    runtime: Runtime, database_url: str
) -> Iterator[Callable[[Settings | None], Runtime]]:
    """Build more runtimes on the same database, as other processes would have."""
    made: list[Database] = []

    def make(settings: Settings | None = None) -> Runtime:
        db = Database(database_url)
        made.append(db)
        return build_runtime(
            settings or runtime.settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer()
        )

    yield make
    for db in made:
        db.dispose()


def short_lease(settings: Settings, seconds: int = 3) -> Settings:
    return settings.replace(jobs=dataclasses.replace(settings.jobs, lease_seconds=seconds))


# -- the lease ------------------------------------------------------------------------------------
def test_lease_is_held_by_one_holder_until_it_expires_or_is_released(runtime: Runtime) -> None:
    db = runtime.db

    def acquire(holder: str, at: datetime) -> bool:
        with db.transaction() as session:
            return lease.acquire(session, "clock", holder, now=at, seconds=60)

    assert acquire("a", NOW)
    assert not acquire("b", NOW + timedelta(seconds=30))
    assert acquire("a", NOW + timedelta(seconds=50))  # renewed until +110 s
    assert not acquire("b", NOW + timedelta(seconds=100))
    assert acquire("b", NOW + timedelta(seconds=111))  # expired: taken over
    assert not acquire("a", NOW + timedelta(seconds=112))
    with db.transaction() as session:
        assert not lease.release(session, "clock", "a")
        assert lease.release(session, "clock", "b")
    assert acquire("a", NOW + timedelta(seconds=113))


def race(runtime: Runtime, name: str, at: datetime, contenders: int = 6) -> dict[str, bool]:
    """Let `contenders` holders try to acquire lease `name` at the same instant."""
    barrier = threading.Barrier(contenders)
    results: dict[str, bool] = {}

    def contend(holder: str) -> None:
        barrier.wait()
        with runtime.db.transaction() as session:
            results[holder] = lease.acquire(session, name, holder, now=at, seconds=60)

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_acquires_elect_exactly_one_holder(runtime: Runtime) -> None:
    for round_ in range(5):
        name = f"race-{round_}"
        first = race(runtime, name, NOW)
        assert sum(first.values()) == 1, first
        # and an expired lease is taken over by exactly one of them
        takeover = race(runtime, name, NOW + timedelta(minutes=5))
        assert sum(takeover.values()) == 1, takeover


def test_a_scheduled_run_is_claimed_once(runtime: Runtime) -> None:
    slot = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    with runtime.db.transaction() as session:
        assert lease.claim_run(session, "retention", slot, "a")
    with runtime.db.transaction() as session:
        assert not lease.claim_run(session, "retention", slot, "b")
        assert lease.claim_run(session, "retention", slot + timedelta(days=1), "b")
        assert lease.claim_run(session, "orientation", slot, "b")
    with runtime.db.transaction() as session:
        assert lease.forget_old_claims(session, slot + timedelta(days=2, seconds=1)) == 2
        names = session.scalars(select(Lease.name)).all()
    assert names == ["run:retention:20261121T010000"]


# -- leadership between clocks --------------------------------------------------------------------
def test_two_clocks_started_together_run_each_job_once(
    runtime: Runtime, second_runtime: Callable[..., Runtime]
) -> None:
    recorder = Recorder()
    specs = tuple(
        JobSpec(name, recorder.job(name), setting)
        for name, setting in (
            ("alpha", "join_request_reminders"),
            ("beta", "orientation"),
            ("gamma", "sync_forms_minutes"),
        )
    )
    other = second_runtime()
    runtime.now = other.now = lambda: JST_MORNING  # which scheduled runs are due: fixed
    clocks = [Clock(runtime, jobs=specs), Clock(other, jobs=specs)]
    try:
        for clock in clocks:
            clock.start()
        assert sorted(c.is_leader for c in clocks) == [False, True]
        fire_at = datetime.now(runtime.settings.tz) + timedelta(seconds=1)
        for clock in clocks:  # both clocks due at the very same instant
            assert clock.scheduler is not None
            for spec in specs:
                clock.scheduler.modify_job(spec.name, next_run_time=fire_at)
        assert wait_until(lambda: len([r for r in job_runs(runtime) if r.outcome == "ok"]) == 3)
        time.sleep(1.0)  # the follower's runs would have happened by now
    finally:
        for clock in clocks:
            clock.shutdown()
    assert Counter(recorder.calls) == {"alpha": 1, "beta": 1, "gamma": 1}
    runs = job_runs(runtime)
    assert sorted(r.job for r in runs) == ["alpha", "beta", "gamma"]
    assert {r.outcome for r in runs} == {"ok"}
    assert all(r.finished_at is not None and r.detail.endswith("done") for r in runs)
    assert {r.job: r.scheduled_for for r in runs} == {
        "alpha": datetime(2026, 11, 20, 1, 0, tzinfo=UTC),  # 10:00 in Tokyo
        "beta": datetime(2026, 11, 20, 0, 0, tzinfo=UTC),  # 09:00, an hour ago: within grace
        "gamma": datetime(2026, 11, 20, 1, 0, tzinfo=UTC),  # the 2-minute poll of 10:00
    }


def test_follower_takes_over_when_the_leader_stops_renewing(
    runtime: Runtime, second_runtime: Callable[..., Runtime]
) -> None:
    settings = short_lease(runtime.settings)
    leader = Clock(second_runtime(settings), jobs=())
    follower = Clock(second_runtime(settings), jobs=())
    try:
        leader.start()
        follower.start()
        assert leader.is_leader and not follower.is_leader
        assert leader.scheduler is not None
        leader.scheduler.shutdown(wait=False)  # the leader hangs or dies: no release
        leader.scheduler = None
        assert wait_until(lambda: follower.is_leader, timeout=10)
        assert not leader.heartbeat()
    finally:
        follower.shutdown()
        leader.shutdown()


def test_clean_shutdown_releases_the_lease_at_once(
    runtime: Runtime, second_runtime: Callable[..., Runtime]
) -> None:
    a = Clock(second_runtime(), jobs=())
    b = Clock(second_runtime(), jobs=())
    a.start()
    b.start()
    try:
        a.shutdown()
        assert b.heartbeat()  # no waiting for the 60 s lease to run out
    finally:
        b.shutdown()


def test_follower_skips_scheduled_runs_and_the_leader_runs_them(
    runtime: Runtime, second_runtime: Callable[..., Runtime]
) -> None:
    recorder = Recorder()
    specs = (JobSpec("alpha", recorder.job("alpha"), "orientation"),)
    other = second_runtime()
    runtime.now = other.now = lambda: JST_MORNING
    leader = Clock(runtime, jobs=specs, holder="leader")
    follower = Clock(other, jobs=specs, holder="follower")
    assert leader.heartbeat() and not follower.heartbeat()
    assert follower.fire("alpha") is None
    result = leader.fire("alpha")
    assert result is not None and result.outcome == "ok"
    assert recorder.calls == ["alpha"]


def test_lease_expiry_lets_a_follower_take_over_in_frozen_time(
    runtime: Runtime, second_runtime: Callable[..., Runtime]
) -> None:
    other = second_runtime()
    leader = Clock(runtime, jobs=(), holder="leader")
    follower = Clock(other, jobs=(), holder="follower")
    runtime.now = lambda: NOW
    other.now = lambda: NOW + timedelta(seconds=59)
    assert leader.heartbeat() and not follower.heartbeat()
    other.now = lambda: NOW + timedelta(seconds=61)
    assert follower.heartbeat()
    runtime.now = lambda: NOW + timedelta(seconds=62)
    assert not leader.heartbeat()


# -- failures -------------------------------------------------------------------------------------
def test_a_failing_job_is_recorded_and_reported_and_the_others_keep_running(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    specs = (
        JobSpec("boom", recorder.job("boom", fail=True), "orientation"),
        JobSpec("fine", recorder.job("fine"), "retention"),
    )
    today = [JST_MORNING]  # 10:00:30 in Tokyo: boom's 09:00 and fine's 03:30 are due
    runtime.now = lambda: today[0]
    clock = Clock(runtime, jobs=specs)
    caplog.set_level(logging.INFO)
    try:
        clock.start()
        assert clock.scheduler is not None
        fire_at = datetime.now(runtime.settings.tz) + timedelta(seconds=0.5)
        for spec in specs:
            clock.scheduler.modify_job(spec.name, next_run_time=fire_at)
        assert wait_until(lambda: len([r for r in job_runs(runtime) if r.finished_at]) == 2)
        assert clock.scheduler.running
        # still scheduling: the failing job runs again the next day
        today[0] += timedelta(days=1)
        clock.scheduler.modify_job("boom", next_run_time=datetime.now(runtime.settings.tz))
        assert wait_until(lambda: len([r for r in job_runs(runtime) if r.finished_at]) == 3)
    finally:
        clock.shutdown()

    runs = job_runs(runtime)
    assert [(r.job, r.outcome) for r in runs if r.job == "fine"] == [("fine", "ok")]
    failed = [r for r in runs if r.job == "boom"]
    assert [r.outcome for r in failed] == ["error", "error"]
    assert failed[0].detail.startswith("RuntimeError at test_clock.py:")
    with runtime.db.transaction() as session:
        (alert,) = session.scalars(select(Alert).where(Alert.kind == "job_failed")).all()
        assert alert.key == "boom" and alert.resolved_at is None
        assert "定期ジョブ「boom」が失敗しました" in alert.message
        (mail,) = session.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == "job_failed")
        ).all()  # one email per open alert, not one per failure
    assert mail.recipient == "jimukyoku@example.jp"
    assert mail.payload["subject"] == "[cityhall] 定期ジョブ「boom」が失敗しました"
    assert "RuntimeError" in mail.payload["body"]
    # personal data from the exception message never reaches the logs, the run or the alert
    everything = caplog.text + " ".join(r.detail for r in runs) + alert.message + str(mail.payload)
    assert "taro.yamada" not in everything
    assert "job boom failed" in caplog.text


def test_a_job_that_recovers_resolves_its_failure_alert(runtime: Runtime) -> None:
    state = {"fail": True}

    def flaky(ctx: JobContext) -> str:
        if state["fail"]:
            raise ValueError("not yet")
        return "recovered"

    clock = Clock(runtime, jobs=(JobSpec("flaky", flaky, "orientation"),))
    assert clock.run_now("flaky").outcome == "error"
    state["fail"] = False
    assert clock.run_now("flaky").outcome == "ok"
    with runtime.db.transaction() as session:
        (alert,) = session.scalars(select(Alert).where(Alert.kind == "job_failed")).all()
    assert alert.resolved_at is not None


def test_a_failing_job_rolls_back_its_own_writes(runtime: Runtime) -> None:
    from bot.alerts import raise_alert

    def half_done(ctx: JobContext) -> str:
        raise_alert(ctx.session, kind="partial", key="x", message="half", now=ctx.now)
        ctx.session.flush()
        raise RuntimeError("then fails")

    Clock(runtime, jobs=(JobSpec("half", half_done, "orientation"),)).run_now("half")
    with runtime.db.transaction() as session:
        assert session.scalars(select(Alert).where(Alert.kind == "partial")).all() == []


class BrokenSource:
    """A form source whose adapter fails in a way nobody planned for."""

    def fetch(self) -> SheetSnapshot:
        raise RuntimeError("adapter bug")


class OneRowSource:
    """A form source with one response in the default columns."""

    def fetch(self) -> SheetSnapshot:
        return SheetSnapshot(header=HEADER, rows=[response_row("clock@city.toyama.lg.jp")])


def test_sync_forms_failure_takes_the_normal_error_path(runtime: Runtime) -> None:
    runtime.form_source = BrokenSource()
    result = Clock(runtime).run_now("sync-forms")
    assert result.outcome == "error"
    assert result.detail.startswith("RuntimeError")


def test_sync_forms_takes_the_sheet_in_within_the_job_transaction(runtime: Runtime) -> None:
    runtime.form_source = OneRowSource()
    result = Clock(runtime).run_now("sync-forms")
    assert result.outcome == "ok"
    assert result.detail.startswith("new=1 ")
    with runtime.db.transaction() as s:
        assert s.scalars(select(Application.email)).all() == ["clock@city.toyama.lg.jp"]


def test_a_bad_cron_string_stops_the_clock_at_start_up(runtime: Runtime) -> None:
    s = runtime.settings
    runtime.settings = s.replace(jobs=dataclasses.replace(s.jobs, retention="30 3 * *"))
    with pytest.raises(ConfigError, match=r"^jobs\.retention: invalid cron expression"):
        Clock(runtime)


# -- the process ----------------------------------------------------------------------------------
def test_the_real_jobs_are_scheduled_in_tokyo_time(runtime: Runtime) -> None:
    clock = Clock(runtime)
    scheduler = clock.build_scheduler()
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {
            "sync-forms",
            "join-request-reminders",
            "messenger-link-reminders",
            "orientation",
            "cohort-rollover",
            "capacity-alerts",
            "secretariat-digest",
            "retention",
            "event-reminders",
            "clock-lease",
            "clock-catch-up",
        }
        retention = jobs["retention"].next_run_time
        assert retention.utcoffset() == timedelta(hours=9)
        assert (retention.hour, retention.minute) == (3, 30)
        for name in ("retention", "sync-forms"):
            assert jobs[name].coalesce is True and jobs[name].max_instances == 1
            # however late APScheduler gets to a run, the clock decides by the job's grace
            assert jobs[name].misfire_grace_time is None
        assert clock.grace["retention"] == timedelta(hours=24)
        assert clock.grace["secretariat-digest"] == timedelta(hours=6)
        assert clock.grace["sync-forms"] == timedelta(minutes=2)  # its latest poll, always
    finally:
        scheduler.shutdown(wait=False)


def test_sigterm_stops_run_forever_cleanly_and_releases_the_lease(runtime: Runtime) -> None:
    clock = Clock(runtime, jobs=(), holder="process")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    timer.start()
    try:
        clock.run_forever()
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGTERM) is before
    assert clock.scheduler is None and not clock.is_leader
    with runtime.db.transaction() as session:
        assert session.get(Lease, LEASE_NAME) is None


def test_runs_left_running_by_a_killed_process_are_marked_interrupted(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    now = runtime.now()
    with runtime.db.transaction() as session:
        session.add_all(
            [
                JobRun(job="retention", started_at=now - timedelta(hours=5), outcome="running"),
                JobRun(job="digest", started_at=now - timedelta(minutes=61), outcome="running"),
                JobRun(job="sync-forms", started_at=now - timedelta(minutes=5), outcome="running"),
                JobRun(job="old", started_at=now - timedelta(hours=9), outcome="ok"),
            ]
        )
    caplog.set_level(logging.WARNING)
    result = run_job(runtime, JobSpec("fine", Recorder().job("fine"), "retention"))
    assert result.outcome == "ok"
    runs = {r.job: r for r in job_runs(runtime)}
    assert runs["retention"].outcome == runs["digest"].outcome == "interrupted"
    assert runs["retention"].finished_at is not None
    assert "rolled back" in runs["retention"].detail
    assert runs["sync-forms"].outcome == "running"  # may still be going: left alone
    assert runs["old"].outcome == "ok" and runs["fine"].outcome == "ok"
    assert "marked interrupted" in caplog.text
