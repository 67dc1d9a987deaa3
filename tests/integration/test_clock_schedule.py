"""Job schedules: crontab strings in Tokyo time, the forms-poll interval, start-up validation."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, Settings, parse_settings
from jobs.registry import JOBS, UnknownJob, find
from jobs.schedule import check_settings, describe, latest_run, next_run, parse_cron

JST = ZoneInfo("Asia/Tokyo")


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=JST)


def with_jobs(settings: Settings, **changes: Any) -> Settings:
    return settings.replace(jobs=dataclasses.replace(settings.jobs, **changes))


def test_every_job_has_a_module_and_a_schedule(settings: Settings) -> None:
    assert [s.name for s in JOBS] == [
        "sync-forms",
        "join-request-reminders",
        "messenger-link-reminders",
        "orientation",
        "cohort-rollover",
        "capacity-alerts",
        "secretariat-digest",
        "retention",
    ]
    triggers = check_settings(settings)
    assert set(triggers) == {s.name for s in JOBS}
    assert describe(find("sync-forms"), settings) == "every 2 min"
    assert describe(find("retention"), settings) == "30 3 * * *"


def test_daily_jobs_run_at_tokyo_wall_clock_time(settings: Settings) -> None:
    triggers = check_settings(settings)
    after = jst(2026, 11, 20, 10, 0, 1)
    assert next_run(triggers["join-request-reminders"], after) == jst(2026, 11, 21, 10, 0)
    assert next_run(triggers["messenger-link-reminders"], after) == jst(2026, 11, 20, 10, 30)
    assert next_run(triggers["retention"], after) == jst(2026, 11, 21, 3, 30)
    assert next_run(triggers["capacity-alerts"], after) == jst(2026, 11, 20, 11, 0)


def test_daily_job_crosses_month_end_and_leap_day(settings: Settings) -> None:
    trigger = check_settings(settings)["secretariat-digest"]  # 0 8 * * *
    assert next_run(trigger, jst(2028, 2, 28, 9, 0)) == jst(2028, 2, 29, 8, 0)
    assert next_run(trigger, jst(2028, 2, 29, 9, 0)) == jst(2028, 3, 1, 8, 0)
    assert next_run(trigger, jst(2026, 12, 31, 9, 0)) == jst(2027, 1, 1, 8, 0)


def test_forms_poll_runs_on_aligned_minutes_so_all_clocks_agree(settings: Settings) -> None:
    trigger = check_settings(settings)["sync-forms"]
    assert next_run(trigger, jst(2026, 11, 20, 10, 0, 30)) == jst(2026, 11, 20, 10, 2)
    assert next_run(trigger, jst(2026, 11, 20, 10, 3, 0)) == jst(2026, 11, 20, 10, 4)
    five = check_settings(with_jobs(settings, sync_forms_minutes=5))["sync-forms"]
    assert next_run(five, jst(2026, 11, 20, 10, 1)) == jst(2026, 11, 20, 10, 5)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 9 * * 1", jst(2026, 11, 20, 12, 0), jst(2026, 11, 23, 9, 0)),  # crontab 1 = Monday
        ("0 9 * * 0", jst(2026, 11, 20, 12, 0), jst(2026, 11, 22, 9, 0)),  # 0 = Sunday
        ("0 9 * * 7", jst(2026, 11, 20, 12, 0), jst(2026, 11, 22, 9, 0)),  # 7 = Sunday too
        ("0 9 * * 1-5", jst(2026, 11, 20, 12, 0), jst(2026, 11, 23, 9, 0)),  # Fri → Mon
        ("0 9 * * 5,6", jst(2026, 11, 20, 12, 0), jst(2026, 11, 21, 9, 0)),
        ("0 9 * * fri", jst(2026, 11, 20, 12, 0), jst(2026, 11, 27, 9, 0)),
        ("0 21 1 * *", jst(2028, 2, 1, 22, 0), jst(2028, 3, 1, 21, 0)),
        ("0 21 29 2 *", jst(2026, 3, 1, 0, 0), jst(2028, 2, 29, 21, 0)),  # the next leap day
        ("0 9 * * */2", jst(2026, 11, 20, 12, 0), jst(2026, 11, 21, 9, 0)),  # Sun,Tue,Thu,Sat
    ],
)
def test_crontab_weekdays_mean_what_crontab_says(
    expr: str, after: datetime, expected: datetime
) -> None:
    assert next_run(parse_cron(expr, JST), after) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retention", "30 3 * *"),
        ("orientation", "61 9 * * *"),
        ("secretariat_digest", "0 8 * * 8"),
        ("join_request_reminders", "every day"),
        ("capacity_alerts", "0 9 * * 5-1"),
    ],
)
def test_a_bad_cron_string_stops_start_up_naming_the_key(
    settings: Settings, key: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(f'jobs.{key}')}: invalid cron expression"):
        check_settings(with_jobs(settings, **{key: value}))


def test_bad_numbers_stop_start_up_naming_the_key(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"^jobs\.sync_forms_minutes: "):
        check_settings(with_jobs(settings, sync_forms_minutes=0))
    with pytest.raises(ConfigError, match=r"^jobs\.lease_seconds: "):
        check_settings(with_jobs(settings, lease_seconds=1))
    bad_orientation = settings.replace(
        orientation=dataclasses.replace(settings.orientation, study_start="late")
    )
    with pytest.raises(ConfigError, match=r"^orientation\.study_start: "):
        check_settings(bad_orientation)


def test_config_file_schedules_are_read_from_the_jobs_table() -> None:
    settings = parse_settings(
        {"jobs": {"sync_forms_minutes": 10, "retention": "0 4 * * 0"}}, env={}
    )
    triggers = check_settings(settings)
    assert next_run(triggers["retention"], jst(2026, 11, 20, 0, 0)) == jst(2026, 11, 22, 4, 0)
    assert describe(find("sync-forms"), settings) == "every 10 min"


def test_latest_run_names_the_scheduled_run_being_made(settings: Settings) -> None:
    trigger = check_settings(settings)["join-request-reminders"]  # 0 10 * * *
    hour = timedelta(hours=1)
    assert latest_run(trigger, jst(2026, 11, 20, 10, 0, 3), hour) == jst(2026, 11, 20, 10, 0)
    assert latest_run(trigger, jst(2026, 11, 20, 10, 59), hour) == jst(2026, 11, 20, 10, 0)
    assert latest_run(trigger, jst(2026, 11, 20, 12, 0), hour) is None
    poll = check_settings(settings)["sync-forms"]
    assert latest_run(poll, jst(2026, 11, 20, 10, 3, 10), hour) == jst(2026, 11, 20, 10, 2)


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(UnknownJob, match="unknown job 'nope'; one of: sync-forms, "):
        find("nope")
