"""orientation: on a session's day, recent members are reminded, by Messenger or by email."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.models import Application, MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job

JST = ZoneInfo("Asia/Tokyo")
FRIDAY_9AM = datetime(2026, 11, 27, 9, 0, tzinfo=JST)  # a weekly 説明会 day


def add_member(
    runtime: Runtime,
    code: str,
    approved_at: datetime,
    *,
    last_interaction_at: datetime | None = None,
    linked: bool = False,
    **fields: Any,
) -> None:
    with runtime.db.transaction() as session:
        identity = None
        if linked or last_interaction_at is not None:
            identity = MessengerIdentity(
                psid=f"psid-{code}", last_interaction_at=last_interaction_at
            )
            session.add(identity)
        values: dict[str, Any] = {
            "code": code,
            "link_token": f"tok-{code}",
            "email": f"{code.lower()}@pref.toyama.lg.jp",
            "full_name": "佐藤 花子",
            "status": "approved",
            "submitted_at": approved_at - timedelta(days=2),
            "status_changed_at": approved_at,
            "approved_at": approved_at,
            "messenger_identity": identity,
        }
        values.update(fields)
        session.add(Application(**values))


def run_at(runtime: Runtime, at: datetime) -> str:
    runtime.now = lambda: at
    result = run_job(runtime, find("orientation"))
    assert result.outcome == "ok", result.detail
    return result.detail


def reminders(runtime: Runtime) -> list[OutboundMessage]:
    with runtime.db.transaction() as session:
        return list(
            session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.purpose == "orientation_reminder")
                .order_by(OutboundMessage.idempotency_key)
            )
        )


def with_orientation(runtime: Runtime, **changes: Any) -> None:
    s = runtime.settings
    runtime.settings = s.replace(orientation=dataclasses.replace(s.orientation, **changes))


def test_recent_members_are_reminded_on_the_day_by_messenger_in_window_else_email(
    runtime: Runtime,
) -> None:
    add_member(
        runtime,
        "IN",
        FRIDAY_9AM - timedelta(days=3),
        last_interaction_at=FRIDAY_9AM - timedelta(hours=2),
    )
    add_member(
        runtime,
        "OUT",
        FRIDAY_9AM - timedelta(days=5),
        last_interaction_at=FRIDAY_9AM - timedelta(hours=30),
    )
    add_member(runtime, "NOID", FRIDAY_9AM - timedelta(days=13), status="invited")
    add_member(runtime, "OLD", FRIDAY_9AM - timedelta(days=15))
    add_member(runtime, "REJ", FRIDAY_9AM - timedelta(days=1), status="rejected")

    detail = run_at(runtime, FRIDAY_9AM)
    assert detail == "weekly:2026-11-27: 1 by Messenger, 2 by email"
    rows = {r.idempotency_key: r for r in reminders(runtime)}
    assert set(rows) == {
        "orientation:weekly:2026-11-27:IN",
        "orientation:weekly:2026-11-27:OUT",
        "orientation:weekly:2026-11-27:NOID",
    }
    messenger = rows["orientation:weekly:2026-11-27:IN"]
    assert messenger.channel == "messenger" and messenger.recipient == "psid-IN"
    text = messenger.payload["message"]["text"]
    assert "初めましての方へのオンライン市役所説明会" in text
    assert "11月27日（金）21:00〜22:00" in text
    assert runtime.settings.orientation.weekly_zoom_url in text
    email = rows["orientation:weekly:2026-11-27:OUT"]
    assert email.channel == "email" and email.recipient == "out@pref.toyama.lg.jp"
    assert email.payload["subject"].startswith("【オンライン市役所】本日開催")
    assert "佐藤 花子 様" in email.payload["body"]


def test_running_twice_on_the_same_day_sends_nothing_new(runtime: Runtime) -> None:
    add_member(runtime, "A", FRIDAY_9AM - timedelta(days=1))
    add_member(
        runtime,
        "B",
        FRIDAY_9AM - timedelta(days=1),
        last_interaction_at=FRIDAY_9AM - timedelta(hours=23),
    )
    run_at(runtime, FRIDAY_9AM)
    # Later B falls out of the window and A opens a thread: still one reminder each.
    run_at(runtime, FRIDAY_9AM + timedelta(hours=3))
    assert len(reminders(runtime)) == 2


def test_the_third_friday_reminder_names_the_large_session(runtime: Runtime) -> None:
    third_friday = datetime(2026, 11, 20, 9, 0, tzinfo=JST)
    add_member(runtime, "L", third_friday - timedelta(days=2))
    run_at(runtime, third_friday)
    (row,) = reminders(runtime)
    assert row.idempotency_key == "orientation:large:2026-11-20:L"
    assert "大説明会" in row.payload["body"]
    assert runtime.settings.orientation.large_zoom_url in row.payload["body"]


def test_no_reminder_on_a_day_without_session_or_after_it_started(runtime: Runtime) -> None:
    add_member(runtime, "X", FRIDAY_9AM - timedelta(days=2))
    assert run_at(runtime, FRIDAY_9AM - timedelta(days=1)) == "no session today"  # Thursday
    assert run_at(runtime, FRIDAY_9AM.replace(hour=21, minute=30)) == "no session today"
    assert reminders(runtime) == []


def test_a_friday_holiday_has_no_session_and_no_reminder_unless_configured(
    runtime: Runtime,
) -> None:
    new_year = datetime(2027, 1, 1, 9, 0, tzinfo=JST)  # Friday, 元日
    add_member(runtime, "H", new_year - timedelta(days=3))
    assert run_at(runtime, new_year) == "no session today"
    with_orientation(runtime, skip_holidays=False)
    run_at(runtime, new_year)
    assert [r.idempotency_key for r in reminders(runtime)] == ["orientation:weekly:2027-01-01:H"]


def test_study_sessions_are_reminded_only_when_configured(runtime: Runtime) -> None:
    saturday = datetime(2026, 11, 21, 9, 0, tzinfo=JST)  # a 勉強会 Saturday
    add_member(runtime, "S", saturday - timedelta(days=1))
    assert run_at(runtime, saturday) == "no session today"
    with_orientation(runtime, remind_kinds=("weekly", "large", "study"))
    run_at(runtime, saturday)
    (row,) = reminders(runtime)
    assert row.idempotency_key == "orientation:study:2026-11-21:S"
    assert "勉強会" in row.payload["body"]


def test_announce_days_comes_from_config(runtime: Runtime) -> None:
    add_member(runtime, "D3", FRIDAY_9AM - timedelta(days=3))
    add_member(runtime, "D1", FRIDAY_9AM - timedelta(days=1))
    with_orientation(runtime, announce_days=2)
    run_at(runtime, FRIDAY_9AM)
    assert [r.idempotency_key for r in reminders(runtime)] == ["orientation:weekly:2026-11-27:D1"]
