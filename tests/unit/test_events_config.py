"""The `[events]` settings and the reminder job's interval are checked at start-up."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_settings
from jobs.registry import find
from jobs.schedule import check_settings, describe


def test_defaults_remind_an_hour_before_and_run_every_five_minutes() -> None:
    settings = parse_settings({}, env={})
    assert (settings.events.reminder_minutes, settings.events.schedule_weeks) == (60, 8)
    assert describe(find("event-reminders"), settings) == "every 5 min"
    assert "event-reminders" in check_settings(settings)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"events": {"reminder_minutes": 0}}, r"^events\.reminder_minutes: expected 1 to 1440"),
        ({"events": {"schedule_weeks": 27}}, r"^events\.schedule_weeks: expected 1 to 26"),
        ({"events": {"series_max": 0}}, r"^events\.series_max: expected 1 to 200"),
        ({"events": {"reminder_hours": 1}}, r"^events\.reminder_hours: unknown key"),
    ],
)
def test_bad_event_settings_are_one_clear_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(table, env={})


def test_reminder_interval_below_a_minute_is_refused() -> None:
    settings = parse_settings({"jobs": {"event_reminders_minutes": 0}}, env={})
    with pytest.raises(ConfigError, match=r"^jobs\.event_reminders_minutes: must be at least 1"):
        check_settings(settings)
