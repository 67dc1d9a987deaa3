"""Job schedules: crontab strings in Tokyo time, the forms-poll interval, start-up validation."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, Settings, parse_settings
from jobs.registry import JOBS, UnknownJob, find
from jobs.schedule import (
    catch_up_grace,
    check_settings,
    describe,
    last_due,
    latest_run,
    next_run,
    parse_cron,
)

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
        "event-reminders",
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


def test_last_due_is_the_latest_run_after_the_last_one_made(settings: Settings) -> None:
    digest = check_settings(settings)["secretariat-digest"]  # 0 8 * * *
    now = jst(2026, 11, 20, 14, 30)
    assert last_due(digest, now) == jst(2026, 11, 20, 8, 0)
    assert last_due(digest, now, after=jst(2026, 11, 19, 8, 0)) == jst(2026, 11, 20, 8, 0)
    assert last_due(digest, now, after=jst(2026, 11, 20, 8, 0)) is None  # made already
    assert last_due(digest, jst(2026, 11, 20, 8, 0)) == jst(2026, 11, 20, 8, 0)  # due at once
    assert last_due(digest, jst(2026, 11, 20, 7, 59, 59)) == jst(2026, 11, 19, 8, 0)
    weekly = parse_cron("0 9 * * 1", JST)
    assert last_due(weekly, jst(2026, 11, 20, 12, 0)) == jst(2026, 11, 16, 9, 0)
    monthly = parse_cron("0 21 1 * *", JST)
    assert last_due(monthly, jst(2026, 11, 30, 12, 0)) == jst(2026, 11, 1, 21, 0)


def test_last_due_of_a_poll_is_quick_however_long_ago_the_last_one_was(
    settings: Settings,
) -> None:
    every_minute = check_settings(with_jobs(settings, sync_forms_minutes=1))["sync-forms"]
    now = jst(2026, 11, 20, 10, 3, 10)
    started = time.perf_counter()
    assert last_due(every_minute, now, after=now - timedelta(days=300)) == jst(2026, 11, 20, 10, 3)
    assert last_due(every_minute, now) == jst(2026, 11, 20, 10, 3)
    assert time.perf_counter() - started < 0.5


def test_each_job_has_a_catch_up_grace_that_fits_it(settings: Settings) -> None:
    grace = {spec.name: catch_up_grace(spec, settings) for spec in JOBS}
    hour = timedelta(hours=1)
    assert grace == {
        "sync-forms": timedelta(minutes=2),  # its interval: the latest poll, always
        "join-request-reminders": 24 * hour,
        "messenger-link-reminders": 24 * hour,
        "orientation": 6 * hour,  # the day's sessions, announced before the evening
        "cohort-rollover": 24 * hour,
        "capacity-alerts": hour,  # hourly: the latest only
        "secretariat-digest": 6 * hour,  # a morning digest, not an evening one
        "retention": 24 * hour,
        "event-reminders": timedelta(minutes=5),  # its interval: the latest run only
    }


def test_catch_up_graces_are_read_from_the_jobs_table() -> None:
    settings = parse_settings(
        {"jobs": {"secretariat_digest_grace_minutes": 90, "sync_forms_minutes": 5}}, env={}
    )
    assert catch_up_grace(find("secretariat-digest"), settings) == timedelta(minutes=90)
    assert catch_up_grace(find("sync-forms"), settings) == timedelta(minutes=5)


def test_a_grace_below_a_minute_stops_start_up_naming_the_key(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"^jobs\.retention_grace_minutes: must be at least 1"):
        check_settings(with_jobs(settings, retention_grace_minutes=0))
