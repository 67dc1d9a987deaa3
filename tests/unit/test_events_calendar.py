"""Event series skip Japanese public holidays (real 2026/2027 dates), and an event's .ics
follows RFC 5545 to the letter: escaping, 75-octet folding, CRLF, UTC times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.community.events import describe_lead, describe_when, plan_series
from bot.models import Event
from bot.public.events import escape_text, event_calendar, fold

JST = ZoneInfo("Asia/Tokyo")


def days(plan_starts: list[datetime]) -> list[date]:
    return [s.date() for s in plan_starts]


def test_weekly_friday_series_skips_new_years_day_2027_and_still_holds_n_occurrences() -> None:
    plan = plan_series(datetime(2026, 12, 18, 21, 0, tzinfo=JST), "weekly", 4, tz=JST)
    assert days(plan.starts) == [
        date(2026, 12, 18),
        date(2026, 12, 25),
        date(2027, 1, 8),
        date(2027, 1, 15),
    ]
    assert plan.skipped == [(date(2027, 1, 1), "元日")]
    assert all(s.hour == 21 and s.tzinfo == JST for s in plan.starts)


def test_holidays_are_kept_when_not_skipping() -> None:
    plan = plan_series(
        datetime(2026, 12, 25, 21, 0, tzinfo=JST), "weekly", 2, tz=JST, skip_holidays=False
    )
    assert days(plan.starts) == [date(2026, 12, 25), date(2027, 1, 1)]
    assert plan.skipped == []


def test_every_other_monday_skips_respect_for_the_aged_day_2026() -> None:
    plan = plan_series(datetime(2026, 9, 7, 19, 30, tzinfo=JST), "biweekly", 3, tz=JST)
    assert days(plan.starts) == [date(2026, 9, 7), date(2026, 10, 5), date(2026, 10, 19)]
    assert plan.skipped == [(date(2026, 9, 21), "敬老の日")]


def test_second_monday_each_month_skips_coming_of_age_day_2027() -> None:
    plan = plan_series(datetime(2026, 12, 14, 20, 0, tzinfo=JST), "monthly", 3, tz=JST)
    assert days(plan.starts) == [date(2026, 12, 14), date(2027, 2, 8), date(2027, 3, 8)]
    assert plan.skipped == [(date(2027, 1, 11), "成人の日")]


def test_fifth_friday_series_only_falls_in_months_that_have_one() -> None:
    plan = plan_series(datetime(2026, 10, 30, 21, 0, tzinfo=JST), "monthly", 3, tz=JST)
    assert days(plan.starts) == [date(2026, 10, 30), date(2027, 1, 29), date(2027, 4, 30)]


def test_third_friday_series_matches_the_grand_orientation_days() -> None:
    plan = plan_series(datetime(2026, 11, 20, 21, 0, tzinfo=JST), "monthly", 3, tz=JST)
    assert days(plan.starts) == [date(2026, 11, 20), date(2026, 12, 18), date(2027, 1, 15)]


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="recurrence"):
        plan_series(datetime(2026, 11, 20, 21, 0, tzinfo=JST), "daily", 3, tz=JST)


def test_times_are_described_in_tokyo_time() -> None:
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    end = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    assert describe_when(start, end, JST) == "12月4日(金) 21:00–22:00"
    assert describe_lead(60) == "1時間"
    assert describe_lead(90) == "1時間30分"
    assert describe_lead(15) == "15分"


# -- .ics ---------------------------------------------------------------------------------------
PROPERTY = re.compile(r"^([A-Z0-9-]+)(;[^:]*)?:(.*)$")
UTC_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
TEXT_PROPERTIES = {"SUMMARY", "DESCRIPTION", "LOCATION"}


def parse_strictly(raw: bytes) -> list[tuple[str, str]]:
    """Content lines per RFC 5545 §3.1, checked strictly; returns (name, value) unfolded."""
    text = raw.decode("utf-8")  # §3.1.4: UTF-8
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert "\r" not in line and "\n" not in line, "bare CR or LF"
        assert len(line.encode("utf-8")) <= 75, f"line longer than 75 octets: {line!r}"
        assert line, "empty content line"
    logical: list[str] = []
    for line in physical:
        if line[0] in " \t":
            assert logical, "a continuation line first"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    parsed = []
    for line in logical:
        match = PROPERTY.match(line)
        assert match, f"not a content line: {line!r}"
        name, value = match.group(1), match.group(3)
        for char in value:
            assert char == "\t" or (ord(char) >= 0x20 and ord(char) != 0x7F), "control character"
        if name in TEXT_PROPERTIES:
            check_text_value(value)
        parsed.append((name, value))
    names = [n for n, _ in parsed]
    assert (parsed[0], parsed[-1]) == (("BEGIN", "VCALENDAR"), ("END", "VCALENDAR"))
    assert ("VERSION", "2.0") in parsed and "PRODID" in names
    assert names.count("BEGIN") == names.count("END") == 2
    event = dict(parsed[parsed.index(("BEGIN", "VEVENT")) + 1 : parsed.index(("END", "VEVENT"))])
    for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
        assert required in event, required
    for stamp in ("DTSTAMP", "DTSTART", "DTEND"):
        assert UTC_STAMP.match(event[stamp]), stamp
    return parsed


def check_text_value(value: str) -> None:
    """§3.3.11: a backslash starts only \\\\ \\; \\, \\n \\N; no bare ; or ,."""
    chars = iter(value)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            assert escaped in ("\\", ";", ",", "n", "N"), f"bad escape in {value!r}"
        else:
            assert char not in ";,", f"unescaped {char!r} in {value!r}"


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def an_event(**fields: object) -> Event:
    values: dict[str, object] = {
        "id": 42,
        "kind": "study",
        "title": "勉強会",
        "description": "",
        "starts_at": datetime(2026, 12, 5, 12, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 12, 5, 13, 0, tzinfo=UTC),
        "zoom_url": "https://zoom.us/j/123?pwd=a,b",
        "capacity": None,
        "audience": "public",
    }
    values.update(fields)
    return Event(**values)


NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_ics_of_a_public_event_is_valid_with_utc_times_and_the_zoom_url() -> None:
    raw = event_calendar(an_event(), host="cityhall.example.jp", now=NOW).encode("utf-8")
    props = dict(parse_strictly(raw))
    assert props["UID"] == "event-42@cityhall.example.jp"
    assert (props["DTSTART"], props["DTEND"]) == ("20261205T120000Z", "20261205T130000Z")
    assert props["DTSTAMP"] == "20261120T030000Z"
    assert unescape(props["SUMMARY"]) == "勉強会"
    assert props["URL"] == "https://zoom.us/j/123?pwd=a,b"
    assert "https://zoom.us/j/123?pwd=a,b" in unescape(props["DESCRIPTION"])


def test_ics_of_a_members_event_leaves_the_zoom_url_out() -> None:
    raw = event_calendar(
        an_event(audience="members", description="メンバー向け"), host="h", now=NOW
    ).encode()
    props = dict(parse_strictly(raw))
    assert "zoom.us" not in raw.decode()
    assert "URL" not in props and "LOCATION" not in props
    assert unescape(props["DESCRIPTION"]) == "メンバー向け"


def test_hostile_text_is_escaped_and_long_japanese_lines_fold_between_characters() -> None:
    title = 'Zoom; 勉強会, "財政" \\ 予算\r\n二行目\x07' + "あ" * 60
    description = "一行目\n二行目; a,b \\n literal\n" + "🎌" * 40
    raw = event_calendar(an_event(title=title, description=description), host="h", now=NOW).encode(
        "utf-8"
    )
    props = dict(parse_strictly(raw))
    assert unescape(props["SUMMARY"]) == 'Zoom; 勉強会, "財政" \\ 予算\n二行目' + "あ" * 60
    assert unescape(props["DESCRIPTION"]).startswith("一行目\n二行目; a,b \\n literal\n🎌")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75
    assert raw.count(b"\r\n ") >= 3  # folded


def test_escape_and_fold_rules() -> None:
    assert escape_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"
    assert fold("X" * 75) == "X" * 75 + "\r\n"
    assert fold("X" * 76) == "X" * 75 + "\r\n X\r\n"
    folded = fold("あ" * 30)  # 90 octets: 25 characters (75 octets), then 5
    first, second = folded.split("\r\n")[:2]
    assert len(first.encode()) == 75 and second == " " + "あ" * 5
