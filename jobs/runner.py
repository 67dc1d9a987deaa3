"""Run one job: its own transaction, a JobRun row, and a report to the secretariat on failure."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.alerts import raise_alert, resolve_alerts
from bot.error_source import error_source, location
from bot.messaging.outbox import enqueue_email
from bot.messaging.texts import render
from bot.models import JobRun, Purpose
from bot.onboarding.lifecycle import DomainError
from bot.outage import failure_class
from bot.runtime import Runtime
from jobs.context import JobContext
from jobs.registry import JobSpec

log = logging.getLogger(__name__)
FAILED_ALERT = "job_failed"
# Errors whose messages are written for the operator and carry no personal data (by name, so the
# runner need not import every adapter): a missing form CSV, an unreachable sheet, …
SAFE_MESSAGE_ERRORS = frozenset({"DomainError", "FormSyncError", "FormSourceError"})
INTERRUPTED_AFTER = timedelta(hours=1)  # every job takes seconds to minutes
INTERRUPTED_DETAIL = "no end recorded: the process stopped mid-run and its work was rolled back"


@dataclass(frozen=True)
class JobResult:
    """How one run ended."""

    job: str
    run_id: int
    outcome: str  # ok | error
    detail: str


def describe_error(exc: BaseException) -> str:
    """Name the outside system the error came from, the error, and where in this project's code
    it was raised ("Google Sheets: JSONDecodeError at sheets.py:160 in fetch"), without its
    message (which may hold personal data, e.g. SQL parameters) unless its kind is known to be
    safe to show."""
    source = error_source(exc)
    safe = isinstance(exc, DomainError) or any(
        cls.__name__ in SAFE_MESSAGE_ERRORS for cls in type(exc).__mro__
    )
    text = f": {exc}" if safe else ""
    prefix = f"{source}: " if source else ""
    return f"{prefix}{failure_class(exc)}{text}{location(exc)}"[:1000]


def close_interrupted_runs(session: Session, now: datetime) -> int:
    """Mark runs still "running" long after they started as interrupted; return how many.

    A process killed mid-job (deploy, OOM, SIGKILL) never records how its run ended. Each run is
    one transaction, so its work was rolled back with it; only the JobRun row says "running"
    for ever, which `jobs list` would show. A run that really does outlast the bound is marked
    too, and its own ending overwrites the mark.
    """
    stale = session.execute(
        update(JobRun)
        .where(JobRun.outcome == "running", JobRun.started_at < now - INTERRUPTED_AFTER)
        .values(outcome="interrupted", finished_at=now, detail=INTERRUPTED_DETAIL)
        .returning(JobRun.id)
        .execution_options(synchronize_session=False)
    ).all()
    if stale:
        ids = ", ".join(str(row.id) for row in stale)
        log.warning("job runs %s never recorded an end: marked interrupted", ids)
    return len(stale)


def begin_run(
    session: Session,
    job: str,
    now: datetime,
    *,
    started_by: str,
    scheduled_for: datetime | None = None,
) -> int:
    """Record a run as started (in the caller's transaction, e.g. the one that claimed it)."""
    close_interrupted_runs(session, now)
    record = JobRun(
        job=job,
        scheduled_for=scheduled_for,
        started_by=started_by,
        started_at=now,
        outcome="running",
        detail=f"started ({started_by})",
    )
    session.add(record)
    session.flush()
    return record.id


def record_skip(
    session: Session,
    job: str,
    scheduled_for: datetime,
    now: datetime,
    *,
    started_by: str,
    why: str,
) -> None:
    """Record a scheduled run that will not be made, and why (shown by `jobs list`)."""
    session.add(
        JobRun(
            job=job,
            scheduled_for=scheduled_for,
            started_by=started_by,
            started_at=now,
            finished_at=now,
            outcome="skipped",
            detail=why[:2000],
        )
    )


def run_job(
    runtime: Runtime, spec: JobSpec, *, started_by: str = "manual", run_id: int | None = None
) -> JobResult:
    """Run `spec` now, as the run `run_id` if already begun; an exception is recorded, logged
    and reported, never raised."""
    if run_id is None:
        with runtime.db.transaction() as session:
            run_id = begin_run(session, spec.name, runtime.now(), started_by=started_by)
    log.info("job %s started (%s, run %s)", spec.name, started_by, run_id)
    try:
        with runtime.db.transaction() as session:
            now = runtime.now()
            detail = spec.run(JobContext(runtime=runtime, session=session, now=now)) or ""
            row = session.get(JobRun, run_id)
            assert row is not None
            row.outcome, row.finished_at, row.detail = "ok", runtime.now(), detail[:2000]
            resolve_alerts(session, kind=FAILED_ALERT, key=spec.name, now=now)
    except Exception as exc:
        detail = describe_error(exc)
        log.error(
            "job %s failed (run %s): %s\n%s",
            spec.name,
            run_id,
            detail,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        _report_failure(runtime, spec.name, run_id, detail)
        return JobResult(spec.name, run_id, "error", detail)
    log.info("job %s ok (run %s): %s", spec.name, run_id, detail)
    return JobResult(spec.name, run_id, "ok", detail)


def _report_failure(runtime: Runtime, job: str, run_id: int, detail: str) -> None:
    """Mark the run failed, open an alert and email the secretariat once per open alert."""
    try:
        with runtime.db.transaction() as session:
            now = runtime.now()
            row = session.get(JobRun, run_id)
            if row is not None:
                row.outcome, row.finished_at, row.detail = "error", now, detail
            alert = raise_alert(
                session,
                kind=FAILED_ALERT,
                key=job,
                now=now,
                message=f"定期ジョブ「{job}」が失敗しました: {detail}",
            )
            _email_secretariat(runtime, session, job, alert.id, detail, now=now)
    except Exception as exc:  # the database itself may be what failed: keep the clock alive
        log.error("job %s: could not record its failure: %s", job, describe_error(exc))


def _email_secretariat(
    runtime: Runtime, session: Session, job: str, alert_id: int, detail: str, *, now: datetime
) -> None:
    address = runtime.settings.mail.secretariat_address
    if not address:
        log.info("job %s failure not emailed: mail.secretariat_address is not set", job)
        return
    settings = runtime.settings
    text = render(
        "job_failed",
        settings.app.templates_dir,
        job=job,
        detail=detail,
        at=now.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
        console_url=settings.app.base_url.rstrip("/") + "/console/",
    )
    enqueue_email(
        session,
        key=f"job-failed:{alert_id}",
        to=address,
        subject=text.subject,
        body=text.body,
        purpose=Purpose.JOB_FAILED,
        now=now,
    )
