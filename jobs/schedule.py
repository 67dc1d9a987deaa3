"""Job schedules from `[jobs]`: crontab strings and the forms-poll interval, in Asia/Tokyo.

Crontab weekdays are translated: in crontab 0 (and 7) is Sunday, while APScheduler 3.x counts
from Monday = 0 (a known mismatch it cannot fix in 3.x), so "0 9 * * 1" must mean Monday here.

A run is named by the time it was scheduled for (`last_due`), never by when a clock got to it:
every clock computes the same times, so a late clock knows which run it owes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import ConfigError, Settings
from bot.onboarding.orientation import check_settings as check_orientation
from jobs.registry import JOBS, JobSpec

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Interval runs are aligned on a fixed origin so that every clock computes the same run times.
_INTERVAL_ORIGIN = datetime(2000, 1, 1)
# How far back `last_due` looks for a job's latest run when it knows of none (a yearly cron's).
MAX_LOOKBACK = timedelta(days=400)


def _weekday_number(token: str) -> int:
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"weekday {value} out of range 0-7")
    return value % 7


def _translate_weekdays(field: str) -> str:
    """Rewrite crontab weekday numbers (Sunday = 0 or 7) as APScheduler day names."""
    parts: list[str] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if not any(ch.isdigit() for ch in part) or (span != "*" and not span[:1].isdigit()):
            parts.append(part)  # "*", or day names, which mean the same in both
            continue
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError("step must be at least 1")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            _weekday_number(low), _weekday_number(high)
            first, last = int(low), int(high)
            if first > last:
                raise ValueError(f"weekday range {span} runs backwards")
        else:
            _weekday_number(span)
            first = last = int(span)
            if step_text:
                last = 6
        parts += [_CRON_DAYS[n % 7] for n in range(first, last + 1, step)]
    return ",".join(dict.fromkeys(parts))


def parse_cron(expr: str, tz: tzinfo) -> CronTrigger:
    """A CronTrigger from a standard five-field crontab string (ValueError if invalid)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_translate_weekdays(weekday),
        timezone=tz,
    )


def trigger_for(spec: JobSpec, settings: Settings) -> BaseTrigger:
    """The trigger of one job; ConfigError (one line naming the key) when its value is bad."""
    key = f"jobs.{spec.setting}"
    value = getattr(settings.jobs, spec.setting)
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1 minute, got {value}")
        return IntervalTrigger(
            minutes=value,
            start_date=_INTERVAL_ORIGIN.replace(tzinfo=settings.tz),
            timezone=settings.tz,
        )
    try:
        return parse_cron(value, settings.tz)
    except ValueError as exc:
        raise ConfigError(f"{key}: invalid cron expression {value!r}: {exc}") from None


def describe(spec: JobSpec, settings: Settings) -> str:
    """The schedule as written in the configuration, e.g. ``every 2 min`` or ``0 10 * * *``."""
    value = getattr(settings.jobs, spec.setting)
    return f"every {value} min" if isinstance(value, int) else str(value)


def catch_up_grace(spec: JobSpec, settings: Settings) -> timedelta:
    """How late a job's missed run may still be made; ConfigError naming the key if invalid.

    A cron job's grace is `[jobs] <its schedule key>_grace_minutes`. An interval job's grace is
    its interval: its latest run is always within it, so a new leader always makes the latest
    poll (and only that one).
    """
    schedule = getattr(settings.jobs, spec.setting)
    if isinstance(schedule, int):
        return timedelta(minutes=schedule)
    key = f"{spec.setting}_grace_minutes"
    minutes = getattr(settings.jobs, key, None)
    if not isinstance(minutes, int):
        raise ConfigError(f"jobs.{key}: not a setting; every cron job needs its catch-up grace")
    if minutes < 1:
        raise ConfigError(f"jobs.{key}: must be at least 1 minute, got {minutes}")
    return timedelta(minutes=minutes)


def check_settings(settings: Settings, jobs: tuple[JobSpec, ...] = JOBS) -> dict[str, BaseTrigger]:
    """Validate every schedule and the settings jobs rely on; return the triggers by job name."""
    triggers = {spec.name: trigger_for(spec, settings) for spec in jobs}
    j = settings.jobs
    if j.lease_seconds < 3:
        raise ConfigError(f"jobs.lease_seconds: must be at least 3, got {j.lease_seconds}")
    for spec in jobs:
        catch_up_grace(spec, settings)
    if not 1 <= j.capacity_alert_percent <= 100:
        raise ConfigError("jobs.capacity_alert_percent: expected 1 to 100")
    if j.cohort_lead_days < 0:
        raise ConfigError("jobs.cohort_lead_days: must not be negative")
    r = settings.reminders
    for name in (
        "join_request_after_days",
        "join_request_spacing_days",
        "expire_after_days",
        "link_after_days",
        "join_request_max",
        "link_max",
    ):
        if getattr(r, name) < 0:
            raise ConfigError(f"reminders.{name}: must not be negative")
    for name in ("erase_after_days", "job_runs_days"):
        if getattr(settings.retention, name) < 1:
            raise ConfigError(f"retention.{name}: must be at least 1")
    check_orientation(settings.orientation)
    return triggers


def next_run(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """When the trigger fires next after `now`."""
    return trigger.get_next_fire_time(None, now)


def latest_run(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's last fire time in (now - lookback, now], if any: the run being made now."""
    fire = trigger.get_next_fire_time(None, now - lookback)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


def last_due(trigger: BaseTrigger, now: datetime, after: datetime | None = None) -> datetime | None:
    """The trigger's latest fire time in (after, now]: the run a job is owed at `now`.

    Searched backwards in widening windows, so a poll every minute costs a few steps however
    long ago `after` is; without `after`, no further back than MAX_LOOKBACK.
    """
    floor = now - MAX_LOOKBACK if after is None else max(after, now - MAX_LOOKBACK)
    window = timedelta(hours=1)
    while True:
        start = max(now - window, floor)
        fire = latest_run(trigger, now, now - start)
        if fire is not None and fire > floor:
            return fire
        if start <= floor:
            return None
        window *= 8
