"""`cityhall clock`, `cityhall jobs list` and `cityhall jobs run NAME`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

Add = Callable[..., argparse.ArgumentParser]


def _runtime(args: argparse.Namespace, *, start: bool = False) -> Any:
    """The wired runtime; `start` runs the start-up tasks of a long-running process."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_runtime, start_up

    runtime = build_runtime(args.settings)
    runtime.db.check_ready()
    if start:
        start_up(runtime)
    return runtime


def cmd_clock(args: argparse.Namespace) -> int:
    """Run the scheduled jobs until SIGTERM/SIGINT (only one clock leads at a time)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from jobs.clock import Clock

    Clock(_runtime(args, start=True)).run_forever()
    return 0


def job_table(runtime: Any) -> list[dict[str, Any]]:
    """Each job with its schedule, next run, last run, and the last scheduled time that was run,
    caught up or skipped, and why (times in the configured zone)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.models import JobRun
    from jobs.clock import duration
    from jobs.registry import JOBS
    from jobs.schedule import check_settings, describe, next_run

    settings = runtime.settings
    tz = settings.tz
    triggers = check_settings(settings)
    now = runtime.now().astimezone(tz)

    def local(at: Any) -> str | None:
        return at.astimezone(tz).isoformat() if at else None

    rows = []
    with runtime.db.transaction() as session:
        latest = dict(
            session.execute(
                select(JobRun.job, func.max(JobRun.id))
                .where(JobRun.outcome != "skipped")
                .group_by(JobRun.job)
            )
            .tuples()
            .all()
        )
        scheduled = dict(
            session.execute(
                select(JobRun.job, func.max(JobRun.scheduled_for))
                .where(JobRun.scheduled_for.is_not(None))
                .group_by(JobRun.job)
            )
            .tuples()
            .all()
        )
        for spec in JOBS:
            last = session.get(JobRun, latest[spec.name]) if spec.name in latest else None
            made = None
            if scheduled.get(spec.name) is not None:
                made = session.scalars(
                    select(JobRun).where(
                        JobRun.job == spec.name, JobRun.scheduled_for == scheduled[spec.name]
                    )
                ).first()
            handled, why = "", ""
            if made is not None and made.scheduled_for is not None:
                if made.outcome == "skipped":
                    handled, why = "skipped", made.detail
                elif made.started_by == "catch-up":
                    late = duration(made.started_at - made.scheduled_for)
                    handled, why = "caught up", f"missed at its time, made {late} late"
                else:
                    handled = "run"
            upcoming = next_run(triggers[spec.name], now)
            rows.append(
                {
                    "name": spec.name,
                    "schedule": describe(spec, settings),
                    "next_run": local(upcoming),
                    "last_run": local(last.started_at) if last else None,
                    "outcome": last.outcome if last else None,
                    "detail": last.detail if last else "",
                    "last_scheduled": local(made.scheduled_for) if made else None,
                    "handled": handled or None,  # run | caught up | skipped
                    "scheduled_outcome": made.outcome if made else None,
                    "why": why,
                }
            )
    return rows


def cmd_jobs_list(args: argparse.Namespace) -> int:
    """Show each job, its schedule, next run, last run and outcome, and the last scheduled time
    that was run, caught up or skipped, and why."""
    runtime = _runtime(args)
    rows = job_table(runtime)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{'JOB':<26}{'SCHEDULE':<16}{'NEXT RUN':<18}{'LAST RUN':<18}{'OUTCOME':<13}"
        f"{'LAST SCHEDULED':<18}{'AS':<11}WHY   ({runtime.settings.app.timezone})"
    )
    for r in rows:
        print(
            f"{r['name']:<26}{r['schedule']:<16}{_short(r['next_run']):<18}"
            f"{_short(r['last_run']):<18}{r['outcome'] or '-':<13}"
            f"{_short(r['last_scheduled']):<18}{r['handled'] or '-':<11}{r['why']}".rstrip()
        )
    return 0


def _short(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def cmd_jobs_run(args: argparse.Namespace) -> int:
    """Run one job now (recorded like a scheduled run); exit 1 if it fails."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from jobs.registry import UnknownJob, find

    try:
        spec = find(args.name)
    except UnknownJob as exc:
        print(f"cityhall: {exc.args[0]}", file=sys.stderr)
        return 1
    from jobs.runner import run_job

    result = run_job(_runtime(args), spec, started_by="manual")
    if result.outcome != "ok":
        print(f"cityhall: job {spec.name} failed: {result.detail}", file=sys.stderr)
        return 1
    print(f"{spec.name}: ok ({result.detail})" if result.detail else f"{spec.name}: ok")
    return 0


def register(sub: Any, add: Add) -> None:
    """Add `clock` and `jobs list|run` to the `cityhall` command."""
    add("clock", cmd_clock, "run the scheduled jobs (one leading clock at a time)")
    jobs = sub.add_parser("jobs", help="scheduled jobs").add_subparsers(
        dest="jobs_cmd", required=True, metavar="COMMAND"
    )
    p = add("list", cmd_jobs_list, "show each job, its schedule, last run and catch-up", jobs)
    p.add_argument("--json", action="store_true")
    p = add("run", cmd_jobs_run, "run one job now", jobs)
    p.add_argument("name", metavar="NAME")
