"""`cityhall jobs list`, `cityhall jobs run NAME` and the clock's start-up validation."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import cli
from bot.db import Database
from bot.models import JobRun
from jobs.cli import register

JOB_NAMES = [
    "sync-forms",
    "join-request-reminders",
    "messenger-link-reminders",
    "orientation",
    "cohort-rollover",
    "capacity-alerts",
    "secretariat-digest",
    "retention",
    "event-reminders",
]


def with_jobs_commands(build: Callable[[], argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """The real parser, plus `clock`/`jobs` if bot.cli does not wire them in yet."""
    parser = build()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "jobs" not in sub.choices:

        def add(name: str, handler: Any, help_: str, parent: Any = sub) -> Any:
            p = parent.add_parser(name, help=help_, description=help_)
            p.set_defaults(handler=handler)
            return p

        register(sub, add)
    return parser


@pytest.fixture
def config(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    original = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: with_jobs_commands(original))
    monkeypatch.chdir(tmp_path)  # local transports write under ./var
    path = tmp_path / "config.toml"
    path.write_text(
        f'[app]\ndatabase_url = "{database_url}"\n[jobs]\nretention = "0 4 * * 0"\n',
        encoding="utf-8",
    )
    return path


def test_jobs_list_shows_every_job_schedule_and_next_run(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(config), "jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("JOB") and "Asia/Tokyo" in out[0]
    assert [line.split()[0] for line in out[1:]] == JOB_NAMES
    assert "every 2 min" in out[1]
    assert "0 4 * * 0" in out[JOB_NAMES.index("retention") + 1]  # from the config file


def test_jobs_run_records_the_run_and_jobs_list_shows_its_outcome(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(config), "jobs", "run", "capacity-alerts"]) == 0
    assert capsys.readouterr().out.startswith("capacity-alerts: ok")
    db = Database(database_url)
    try:
        with db.transaction() as session:
            (run,) = session.scalars(select(JobRun)).all()
        assert (run.job, run.outcome) == ("capacity-alerts", "ok")
        assert run.finished_at is not None
    finally:
        db.dispose()

    assert cli.main(["--config", str(config), "jobs", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == JOB_NAMES
    assert rows["capacity-alerts"]["outcome"] == "ok"
    assert rows["capacity-alerts"]["last_run"].endswith("+09:00")
    assert rows["retention"]["next_run"].endswith("T04:00:00+09:00")
    assert rows["retention"]["last_run"] is None and rows["retention"]["outcome"] is None


def test_jobs_run_unknown_name_is_one_line_and_exit_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(config), "jobs", "run", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("cityhall: unknown job 'nope'; one of: sync-forms, ")


def test_jobs_run_failure_exits_1_with_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "bot.onboarding.intake", None)
    assert cli.main(["--config", str(config), "jobs", "run", "sync-forms"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cityhall: job sync-forms failed: ")
    assert err.count("\n") == 1


def test_a_bad_cron_string_is_a_config_error_naming_the_key(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8").replace('"0 4 * * 0"', '"0 4 * *"'), encoding="utf-8"
    )
    assert cli.main(["--config", str(config), "jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cityhall: config error: jobs.retention: invalid cron expression")
    assert cli.main(["--config", str(config), "clock"]) == 2
    assert "jobs.retention" in capsys.readouterr().err


def test_jobs_list_shows_the_last_scheduled_time_run_caught_up_or_skipped_and_why(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tz = ZoneInfo("Asia/Tokyo")
    db = Database(database_url)
    try:
        with db.transaction() as session:
            session.add_all(
                [
                    JobRun(  # on time
                        job="capacity-alerts",
                        scheduled_for=datetime(2026, 11, 20, 9, 0, tzinfo=tz),
                        started_by="schedule",
                        started_at=datetime(2026, 11, 20, 9, 0, 0, 200000, tzinfo=tz),
                        finished_at=datetime(2026, 11, 20, 9, 0, 1, tzinfo=tz),
                        outcome="ok",
                        detail="0 alerts",
                    ),
                    JobRun(  # made late by the clock that took over
                        job="secretariat-digest",
                        scheduled_for=datetime(2026, 11, 20, 8, 0, tzinfo=tz),
                        started_by="catch-up",
                        started_at=datetime(2026, 11, 20, 8, 0, 41, tzinfo=tz),
                        finished_at=datetime(2026, 11, 20, 8, 0, 42, tzinfo=tz),
                        outcome="ok",
                        detail="digest queued",
                    ),
                    JobRun(  # a run by hand, before the skip
                        job="retention",
                        started_by="manual",
                        started_at=datetime(2026, 11, 18, 12, 0, tzinfo=tz),
                        finished_at=datetime(2026, 11, 18, 12, 0, 2, tzinfo=tz),
                        outcome="ok",
                        detail="erased 0",
                    ),
                    JobRun(  # every clock was down for two days
                        job="retention",
                        scheduled_for=datetime(2026, 11, 19, 4, 0, tzinfo=tz),
                        started_by="catch-up",
                        started_at=datetime(2026, 11, 20, 9, 30, tzinfo=tz),
                        finished_at=datetime(2026, 11, 20, 9, 30, tzinfo=tz),
                        outcome="skipped",
                        detail="29 h 30 min late, past its catch-up grace of 24 h",
                    ),
                ]
            )
    finally:
        db.dispose()

    assert cli.main(["--config", str(config), "jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:9] == [
        "JOB", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "OUTCOME", "LAST", "SCHEDULED"
    ]  # fmt: skip
    assert "AS" in out[0].split() and "WHY" in out[0].split()
    lines = {line.split()[0]: line for line in out[1:]}
    assert list(lines) == JOB_NAMES
    assert lines["capacity-alerts"].endswith("2026-11-20 09:00  run")
    assert lines["secretariat-digest"].endswith(
        "2026-11-20 08:00  caught up  missed at its time, made 41 s late"
    )
    retention = lines["retention"]
    assert "2026-11-18 12:00  ok" in retention  # the last run: the one by hand
    assert retention.endswith(
        "2026-11-19 04:00  skipped    29 h 30 min late, past its catch-up grace of 24 h"
    )
    assert lines["orientation"].split()[-1] == "-"  # never scheduled yet: nothing to say

    assert cli.main(["--config", str(config), "jobs", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["retention"] | {"next_run": None} == {
        "name": "retention",
        "schedule": "0 4 * * 0",
        "next_run": None,
        "last_run": "2026-11-18T12:00:00+09:00",
        "outcome": "ok",
        "detail": "erased 0",
        "last_scheduled": "2026-11-19T04:00:00+09:00",
        "handled": "skipped",
        "scheduled_outcome": "skipped",
        "why": "29 h 30 min late, past its catch-up grace of 24 h",
    }
    assert rows["secretariat-digest"]["handled"] == "caught up"
    assert rows["orientation"]["last_scheduled"] is None and rows["orientation"]["handled"] is None
