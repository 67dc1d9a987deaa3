"""The orientation calendar: weekly 説明会, the 大説明会 on the third Friday, biweekly 勉強会.

Pure functions over `OrientationSettings`: the orientation job and the confirmation and welcome
texts ask for the next sessions here. Times are local (Asia/Tokyo unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import jpholiday

from bot.config import ConfigError, OrientationSettings

WEEKLY = "weekly"
LARGE = "large"
STUDY = "study"
KINDS = (WEEKLY, LARGE, STUDY)
ORIENTATION_KINDS = (WEEKLY, LARGE)  # the sessions meant for newcomers
JST = ZoneInfo("Asia/Tokyo")
_HORIZON_DAYS = 800  # enough to find sessions across a long run of holidays or a rare series


@dataclass(frozen=True)
class Session:
    """One scheduled session."""

    kind: str  # weekly | large | study
    name: str
    starts_at: datetime
    ends_at: datetime
    zoom_url: str

    @property
    def key(self) -> str:
        """A stable identifier, e.g. ``weekly:2026-11-27`` (idempotency keys use it)."""
        return f"{self.kind}:{self.starts_at.date().isoformat()}"


def _clock_time(value: str, key: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"orientation.{key}: expected HH:MM, got {value!r}") from None


def _anchor(settings: OrientationSettings) -> date:
    try:
        return date.fromisoformat(settings.study_anchor_date)
    except ValueError:
        raise ConfigError(
            f"orientation.study_anchor_date: expected YYYY-MM-DD, "
            f"got {settings.study_anchor_date!r}"
        ) from None


def check_settings(settings: OrientationSettings) -> None:
    """Raise ConfigError (one line naming the key) for a calendar that cannot be built."""
    for key in ("weekly_weekday", "study_weekday"):
        if not 0 <= getattr(settings, key) <= 6:
            raise ConfigError(f"orientation.{key}: expected 0 (Monday) to 6 (Sunday)")
    if not 1 <= settings.large_week <= 5:
        raise ConfigError("orientation.large_week: expected 1 to 5")
    for first, last in (("weekly_start", "weekly_end"), ("study_start", "study_end")):
        if _clock_time(getattr(settings, first), first) >= _clock_time(
            getattr(settings, last), last
        ):
            raise ConfigError(f"orientation.{last}: must be later than {first}")
    anchor = _anchor(settings)
    if anchor.weekday() != settings.study_weekday:
        raise ConfigError(
            f"orientation.study_anchor_date: {anchor} is not on study_weekday "
            f"{settings.study_weekday}"
        )
    for kind in settings.remind_kinds:
        if kind not in KINDS:
            raise ConfigError(
                f"orientation.remind_kinds: unknown kind {kind!r} (one of {', '.join(KINDS)})"
            )
    if settings.announce_days < 0:
        raise ConfigError("orientation.announce_days: must not be negative")


def is_large_day(day: date, settings: OrientationSettings) -> bool:
    """Whether `day` is the n-th (default third) weekly weekday of its month."""
    return (
        day.weekday() == settings.weekly_weekday and (day.day - 1) // 7 + 1 == settings.large_week
    )


def sessions_on(day: date, settings: OrientationSettings, tz: tzinfo = JST) -> list[Session]:
    """The sessions held on one local date (none on a public holiday when skipping them)."""
    if settings.skip_holidays and jpholiday.is_holiday(day):
        return []
    found: list[Session] = []
    if day.weekday() == settings.weekly_weekday:
        start = datetime.combine(day, _clock_time(settings.weekly_start, "weekly_start"), tz)
        end = datetime.combine(day, _clock_time(settings.weekly_end, "weekly_end"), tz)
        if is_large_day(day, settings):
            found.append(Session(LARGE, settings.large_name, start, end, settings.large_zoom_url))
        else:
            found.append(
                Session(WEEKLY, settings.weekly_name, start, end, settings.weekly_zoom_url)
            )
    if (
        settings.study_enabled
        and day.weekday() == settings.study_weekday
        and (day - _anchor(settings)).days % 14 == 0
    ):
        start = datetime.combine(day, _clock_time(settings.study_start, "study_start"), tz)
        end = datetime.combine(day, _clock_time(settings.study_end, "study_end"), tz)
        found.append(Session(STUDY, settings.study_name, start, end, settings.study_zoom_url))
    return sorted(found, key=lambda s: s.starts_at)


def _after(after: datetime, settings: OrientationSettings, tz: tzinfo) -> Iterator[Session]:
    if after.tzinfo is None:
        raise ValueError("a naive datetime given to the orientation calendar")
    day = after.astimezone(tz).date()
    for offset in range(_HORIZON_DAYS):
        for session in sessions_on(day + timedelta(days=offset), settings, tz):
            if session.starts_at > after:
                yield session


def upcoming_sessions(
    after: datetime,
    settings: OrientationSettings,
    count: int = 5,
    *,
    kinds: tuple[str, ...] | None = None,
    tz: tzinfo = JST,
) -> list[Session]:
    """The next `count` sessions starting strictly after `after` (optionally of some kinds)."""
    found: list[Session] = []
    if count <= 0:
        return found
    for session in _after(after, settings, tz):
        if kinds is None or session.kind in kinds:
            found.append(session)
            if len(found) == count:
                break
    return found


def next_session(
    after: datetime,
    settings: OrientationSettings,
    kind: str | tuple[str, ...] | None = None,
    *,
    tz: tzinfo = JST,
) -> Session | None:
    """The first session after `after`; `kind` narrows it (a name or a tuple of names).

    ``next_session(now, settings, ORIENTATION_KINDS)`` is the next 説明会 or 大説明会.
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    sessions = upcoming_sessions(after, settings, 1, kinds=kinds, tz=tz)
    return sessions[0] if sessions else None
