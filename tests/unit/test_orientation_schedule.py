"""The orientation calendar: weekly 説明会, 大説明会 on the third Friday, biweekly 勉強会."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, OrientationSettings
from bot.onboarding.orientation import (
    LARGE,
    ORIENTATION_KINDS,
    STUDY,
    WEEKLY,
    check_settings,
    is_large_day,
    next_session,
    sessions_on,
    upcoming_sessions,
)

JST = ZoneInfo("Asia/Tokyo")
CFG = OrientationSettings()


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=JST)


def summary(sessions: list) -> list[tuple[str, str]]:
    return [(s.kind, s.starts_at.strftime("%Y-%m-%d %a %H:%M")) for s in sessions]


def test_weekly_session_is_friday_21_to_22_tokyo_time_with_its_zoom_url() -> None:
    session = next_session(jst(2026, 11, 23, 9, 0), CFG, WEEKLY)
    assert session is not None
    assert session.starts_at == jst(2026, 11, 27, 21, 0)
    assert session.ends_at == jst(2026, 11, 27, 22, 0)
    assert session.name == "初めましての方へのオンライン市役所説明会"
    assert session.zoom_url == CFG.weekly_zoom_url
    assert session.key == "weekly:2026-11-27"


def test_third_friday_holds_the_large_session_instead_of_the_weekly_one() -> None:
    # November 2026: Fridays 6, 13, 20, 27 → the 20th is the third.
    assert sessions_on(date(2026, 11, 20), CFG) == [
        s for s in sessions_on(date(2026, 11, 20), CFG) if s.kind == LARGE
    ]
    (large,) = sessions_on(date(2026, 11, 20), CFG)
    assert (large.name, large.zoom_url) == ("大説明会", CFG.large_zoom_url)
    assert large.starts_at == jst(2026, 11, 20, 21, 0)
    assert [s.kind for s in sessions_on(date(2026, 11, 13), CFG)] == [WEEKLY]
    assert [s.kind for s in sessions_on(date(2026, 11, 27), CFG)] == [WEEKLY]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 20), True),
        (date(2026, 12, 18), True),  # December 2026 starts on a Tuesday
        (date(2027, 1, 15), True),  # Jan 1 (a holiday Friday) still counts as the first
        (date(2028, 2, 18), True),  # leap-year February
        (date(2026, 11, 21), False),  # a Saturday in the third week
        (date(2026, 11, 27), False),
    ],
)
def test_third_friday_is_found_in_every_month(day: date, expected: bool) -> None:
    assert is_large_day(day, CFG) is expected


def test_upcoming_sessions_are_ordered_and_include_the_biweekly_study_saturdays() -> None:
    got = summary(upcoming_sessions(jst(2026, 11, 20, 12, 0), CFG, count=6))
    assert got == [
        (LARGE, "2026-11-20 Fri 21:00"),
        (STUDY, "2026-11-21 Sat 21:00"),  # anchor 2026-11-07 + 14 days
        (WEEKLY, "2026-11-27 Fri 21:00"),
        (WEEKLY, "2026-12-04 Fri 21:00"),
        (STUDY, "2026-12-05 Sat 21:00"),
        (WEEKLY, "2026-12-11 Fri 21:00"),
    ]


def test_a_session_that_already_started_is_not_upcoming() -> None:
    session = next_session(jst(2026, 11, 27, 21, 0), CFG, ORIENTATION_KINDS)
    assert session is not None
    assert session.starts_at == jst(2026, 12, 4, 21, 0)
    just_before = next_session(jst(2026, 11, 27, 20, 59), CFG, ORIENTATION_KINDS)
    assert just_before is not None and just_before.starts_at == jst(2026, 11, 27, 21, 0)


def test_instants_in_utc_are_read_in_tokyo_time() -> None:
    # 2026-11-27 13:00 UTC is 22:00 in Tokyo: that Friday's session has started.
    session = next_session(datetime(2026, 11, 27, 13, 0, tzinfo=UTC), CFG, WEEKLY)
    assert session is not None and session.starts_at == jst(2026, 12, 4, 21, 0)
    # 2026-11-27 11:59 UTC is 20:59 in Tokyo: it has not.
    session = next_session(datetime(2026, 11, 27, 11, 59, tzinfo=UTC), CFG, WEEKLY)
    assert session is not None and session.starts_at == jst(2026, 11, 27, 21, 0)


def test_year_end_skips_new_years_day_friday_and_finds_the_next_week() -> None:
    got = summary(
        upcoming_sessions(jst(2026, 12, 31, 23, 0), CFG, count=3, kinds=ORIENTATION_KINDS)
    )
    assert got == [
        (WEEKLY, "2027-01-08 Fri 21:00"),  # 2027-01-01 is a Friday and 元日
        (LARGE, "2027-01-15 Fri 21:00"),
        (WEEKLY, "2027-01-22 Fri 21:00"),
    ]


def test_holiday_on_the_third_friday_cancels_that_months_large_session() -> None:
    # 2026-03-20 (Fri) is 春分の日 and the third Friday of March 2026.
    assert sessions_on(date(2026, 3, 20), CFG) == []
    march = upcoming_sessions(jst(2026, 3, 1, 0, 0), CFG, count=4, kinds=ORIENTATION_KINDS)
    assert summary(march) == [
        (WEEKLY, "2026-03-06 Fri 21:00"),
        (WEEKLY, "2026-03-13 Fri 21:00"),
        (WEEKLY, "2026-03-27 Fri 21:00"),
        (WEEKLY, "2026-04-03 Fri 21:00"),
    ]


def test_holidays_are_kept_when_skipping_is_switched_off() -> None:
    keep = dataclasses.replace(CFG, skip_holidays=False)
    assert [s.kind for s in sessions_on(date(2026, 3, 20), keep)] == [LARGE]
    assert [s.kind for s in sessions_on(date(2028, 1, 1), keep)] == [STUDY]


def test_a_study_saturday_on_a_holiday_is_skipped() -> None:
    # 2028-01-01 is a Saturday of the biweekly series (anchor + 420 days) and 元日.
    assert sessions_on(date(2028, 1, 1), CFG) == []
    nxt = next_session(jst(2027, 12, 31, 23, 0), CFG, STUDY)
    assert nxt is not None and nxt.starts_at == jst(2028, 1, 15, 21, 0)


def test_leap_day_and_the_month_end_after_it() -> None:
    # February 2028: the 11th is 建国記念の日 (a Friday) but still the second Friday.
    feb = summary(upcoming_sessions(jst(2028, 2, 1, 0, 0), CFG, count=4, kinds=ORIENTATION_KINDS))
    assert feb == [
        (WEEKLY, "2028-02-04 Fri 21:00"),
        (LARGE, "2028-02-18 Fri 21:00"),
        (WEEKLY, "2028-02-25 Fri 21:00"),
        (WEEKLY, "2028-03-03 Fri 21:00"),
    ]
    after_leap_day = upcoming_sessions(jst(2028, 2, 29, 12, 0), CFG, count=3)
    assert summary(after_leap_day) == [
        (WEEKLY, "2028-03-03 Fri 21:00"),
        (WEEKLY, "2028-03-10 Fri 21:00"),
        (STUDY, "2028-03-11 Sat 21:00"),
    ]
    assert next_session(jst(2028, 2, 29, 12, 0), CFG, LARGE).starts_at == jst(2028, 3, 17, 21, 0)  # type: ignore[union-attr]
    assert sessions_on(date(2028, 2, 29), CFG) == []  # a Tuesday


def test_study_sessions_fall_every_other_week_from_the_anchor() -> None:
    studies = upcoming_sessions(jst(2028, 2, 1, 0, 0), CFG, count=3, kinds=(STUDY,))
    assert summary(studies) == [
        (STUDY, "2028-02-12 Sat 21:00"),
        (STUDY, "2028-02-26 Sat 21:00"),
        (STUDY, "2028-03-11 Sat 21:00"),
    ]
    assert next_session(jst(2026, 11, 1, 0, 0), CFG, STUDY).starts_at == jst(2026, 11, 7, 21, 0)  # type: ignore[union-attr]
    # Before the anchor the series runs backwards the same way.
    assert [s.kind for s in sessions_on(date(2026, 10, 24), CFG)] == [STUDY]


def test_study_sessions_can_be_switched_off() -> None:
    off = dataclasses.replace(CFG, study_enabled=False)
    assert next_session(jst(2026, 11, 1, 0, 0), off, STUDY) is None


def test_configured_weekday_times_and_large_week_are_honoured() -> None:
    cfg = dataclasses.replace(
        CFG, weekly_weekday=2, weekly_start="19:30", weekly_end="20:30", large_week=1
    )
    got = upcoming_sessions(jst(2026, 11, 30, 0, 0), cfg, count=2, kinds=ORIENTATION_KINDS)
    assert summary(got) == [(LARGE, "2026-12-02 Wed 19:30"), (WEEKLY, "2026-12-09 Wed 19:30")]
    assert got[0].ends_at == jst(2026, 12, 2, 20, 30)


def test_count_zero_and_naive_datetimes() -> None:
    assert upcoming_sessions(jst(2026, 11, 20, 0, 0), CFG, count=0) == []
    with pytest.raises(ValueError, match="naive"):
        upcoming_sessions(datetime(2026, 11, 20, 0, 0), CFG)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"weekly_start": "9pm"}, "orientation.weekly_start"),
        ({"weekly_start": "22:00"}, "orientation.weekly_end"),
        ({"study_anchor_date": "2026-11-08"}, "orientation.study_anchor_date"),
        ({"study_anchor_date": "next saturday"}, "orientation.study_anchor_date"),
        ({"weekly_weekday": 7}, "orientation.weekly_weekday"),
        ({"large_week": 6}, "orientation.large_week"),
        ({"remind_kinds": ("weekly", "party")}, "orientation.remind_kinds"),
    ],
)
def test_bad_calendar_settings_are_one_line_naming_the_key(change: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: "):
        check_settings(dataclasses.replace(CFG, **change))


def test_shipped_calendar_settings_are_valid() -> None:
    check_settings(CFG)
