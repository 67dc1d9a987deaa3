"""When a person owns the Messenger thread (echoes not sent by this app) and for how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.messaging.quiet import in_quiet, is_human_echo, start_quiet
from bot.models import MessengerIdentity

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("app_id", "own", "human"),
    [
        ("777", "777", False),  # this app's own send
        ("263902037430900", "777", True),  # the Page inbox
        (None, "777", True),  # no app named
        ("", "777", True),
        ("777", "", False),  # own id not configured: any named app may be this one
        (None, "", True),
    ],
)
def test_is_human_echo(app_id: Any, own: str, human: bool) -> None:
    assert is_human_echo({"app_id": app_id}, own) is human


def test_quiet_runs_from_the_event_and_is_never_shortened() -> None:
    person = MessengerIdentity(psid="p1")
    assert not in_quiet(person, AT)
    start_quiet(person, AT, 24)
    assert person.quiet_until == AT + timedelta(hours=24)
    start_quiet(person, AT - timedelta(hours=3), 24)  # an older echo handled late
    assert person.quiet_until == AT + timedelta(hours=24)
    assert in_quiet(person, AT + timedelta(hours=23, minutes=59))
    assert not in_quiet(person, AT + timedelta(hours=24))
    assert not in_quiet(None, AT)
