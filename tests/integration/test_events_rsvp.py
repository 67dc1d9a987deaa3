"""Events in the domain: series with holidays stored, 説明会 from the schedule made once, RSVP
rules, and no overbooking when workers answer at the same moment (PostgreSQL, threads)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.community import events
from bot.db import Database
from bot.models import Event, EventRsvp
from bot.runtime import Runtime

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # Friday 12:00 in Tokyo


def draft(**fields: Any) -> events.EventDraft:
    values: dict[str, Any] = {
        "kind": "orientation",
        "title": "説明会",
        "starts_at": datetime(2026, 12, 18, 21, 0, tzinfo=JST),
        "ends_at": datetime(2026, 12, 18, 22, 0, tzinfo=JST),
        "zoom_url": "https://zoom.us/j/1",
        "capacity": None,
        "audience": "members",
    }
    values.update(fields)
    return events.EventDraft(**values)


def add(db: Database, **fields: Any) -> int:
    with db.transaction() as s:
        return events.create_event(s, draft(**fields), actor="t", now=NOW).id


def test_series_is_stored_with_one_key_in_utc_and_reports_the_skipped_holiday(
    runtime: Runtime,
) -> None:
    with runtime.db.transaction() as s:
        _, plan = events.create_series(s, draft(), "weekly", 4, tz=JST, actor="rev", now=NOW)
    assert plan.skipped == [(date(2027, 1, 1), "元日")]
    with runtime.db.transaction() as s:
        rows = s.scalars(select(Event).order_by(Event.starts_at)).all()
        assert len({r.series_key for r in rows}) == 1 and rows[0].series_key.startswith("series:")
        assert [r.starts_at for r in rows] == [
            datetime(2026, 12, 18, 12, 0, tzinfo=UTC),
            datetime(2026, 12, 25, 12, 0, tzinfo=UTC),
            datetime(2027, 1, 8, 12, 0, tzinfo=UTC),
            datetime(2027, 1, 15, 12, 0, tzinfo=UTC),
        ]
        assert all(r.ends_at - r.starts_at == timedelta(hours=1) for r in rows)


def test_orientation_events_from_the_schedule_are_made_once(runtime: Runtime) -> None:
    with runtime.db.transaction() as s:
        made = events.create_orientation_events(s, runtime.settings, now=NOW, actor="rev")
    # Fridays from 2026-11-20 (21:00, after NOW) for 8 weeks; 2027-01-01 is 元日; the third
    # Fridays hold the 大説明会.
    starts = [(e.kind, e.starts_at.astimezone(JST).date()) for e in made]
    assert starts == [
        ("grand", date(2026, 11, 20)),
        ("orientation", date(2026, 11, 27)),
        ("orientation", date(2026, 12, 4)),
        ("orientation", date(2026, 12, 11)),
        ("grand", date(2026, 12, 18)),
        ("orientation", date(2026, 12, 25)),
        ("orientation", date(2027, 1, 8)),
    ]  # 2027-01-15 21:00 is more than 8 weeks after NOW
    assert made[0].title == "大説明会" and made[1].zoom_url == "https://zoom.us/j/0000000000"
    with runtime.db.transaction() as s:
        events.cancel_event(s.get(Event, made[1].id), now=NOW)  # type: ignore[arg-type]
        again = events.create_orientation_events(s, runtime.settings, now=NOW, actor="rev")
        later = events.create_orientation_events(
            s, runtime.settings, now=NOW + timedelta(weeks=1), actor="rev"
        )
    assert again == []  # a cancelled session is not made again either
    assert [e.starts_at.astimezone(JST).date() for e in later] == [date(2027, 1, 15)]


def test_rsvp_rules(runtime: Runtime) -> None:
    db = runtime.db
    members = add(db, capacity=1)
    public = add(db, audience="public")
    past = add(db, starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1))

    def answer(event_id: int, psid: str, going: bool = True, member: bool = True) -> str:
        with db.transaction() as s:
            outcome, _ = events.rsvp(
                s, event_id, psid=psid, going=going, member=member, application_id=None, now=NOW
            )
        return outcome

    assert answer(members, "a", member=False) == "members_only"
    assert answer(members, "a") == "going"
    assert answer(members, "a") == "already"
    assert answer(members, "b") == "full"
    assert answer(members, "b", going=False) == "not_going"
    assert answer(members, "a", going=False, member=False) == "withdrawn"  # may always withdraw
    assert answer(members, "b") == "going"
    assert answer(public, "c", member=False) == "going"
    assert answer(past, "a") == "unavailable"
    assert answer(10**6, "a") == "unavailable"
    with db.transaction() as s:
        assert events.going_counts(s, [members, public, past]) == {members: 1, public: 1}
        assert s.scalar(select(func.count()).select_from(EventRsvp)) == 3  # one row per person


def test_two_workers_answering_at_once_never_overbook(
    empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(empty_postgres_url)
    try:
        event_id = add(db, capacity=3)
        counted = events.going_counts

        def slow_count(session: Any, ids: Any) -> dict[int, int]:
            found = counted(session, ids)
            time.sleep(0.2)  # widen the gap between counting and writing
            return found

        monkeypatch.setattr(events, "going_counts", slow_count)
        start = threading.Barrier(8)
        outcomes: list[str] = []
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                start.wait()
                with db.transaction() as s:
                    outcome, _ = events.rsvp(
                        s,
                        event_id,
                        psid=f"p{n}",
                        going=True,
                        member=True,
                        application_id=None,
                        now=NOW,
                    )
                outcomes.append(outcome)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert sorted(outcomes) == ["full"] * 5 + ["going"] * 3
        with db.transaction() as s:
            assert events.going_counts(s, [event_id]) == {event_id: 3}
    finally:
        db.dispose()
