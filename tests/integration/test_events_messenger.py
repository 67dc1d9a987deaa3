"""Events in Messenger, through signed webhook events only: the next events as cards, 参加する /
やめる with capacity, members-only events, and the Zoom link an hour before (Messenger inside the
24-hour window as UPDATE, email outside, nothing twice)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.community import events
from bot.models import Application, ApplicationStatus, Event, EventRsvp, OutboundMessage
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job
from tests.integration.messenger_threads import (
    approved_applicant,
    body,
    drain,
    referral_item,
    sent_to,
    texts,
)
from tests.integration.test_messenger_flow import T0, add_application, approve, post

JST = ZoneInfo("Asia/Tokyo")
# T0 is Friday 2026-11-20 21:00 in Tokyo; the next weekly 説明会 is a week later.
NEXT_FRIDAY = datetime(2026, 11, 27, 21, 0, tzinfo=JST)
ZOOM = "https://zoom.us/j/1111111111"


def postback_item(psid: str, minutes: float, payload: str) -> dict[str, Any]:
    """A tapped button (a postback), as Meta posts it."""
    at = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return {
        "sender": {"id": psid},
        "recipient": {"id": "1000"},
        "timestamp": at,
        "postback": {"mid": f"m_pb_{psid}_{minutes}_{payload}", "title": "x", "payload": payload},
    }


def tap(client: FlaskClient, rt: Runtime, psid: str, minutes: float, payload: str) -> None:
    assert post(client, rt, body(postback_item(psid, minutes, payload))).status_code == 200
    drain(rt)


def add_event(rt: Runtime, **fields: Any) -> int:
    values: dict[str, Any] = {
        "kind": "orientation",
        "title": "初めましての方へのオンライン市役所説明会",
        "starts_at": NEXT_FRIDAY,
        "ends_at": NEXT_FRIDAY + timedelta(hours=1),
        "zoom_url": ZOOM,
        "audience": "members",
    }
    values.update(fields)
    with rt.db.transaction() as s:
        event = Event(**values)
        s.add(event)
        s.flush()
        return event.id


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """OC-AAAAAA approved and linked to p1 (a member); the worker has sent the invitations."""
    rt = approved_applicant(runtime)
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(referral_item("p1", 0, "tok-OC-AAAAAA")))
    drain(rt)
    return rt


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def cards(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The elements of the last generic template among `messages`."""
    generic = [
        m
        for m in messages
        if m.get("attachment", {}).get("payload", {}).get("template_type") == "generic"
    ]
    assert generic, "no generic template was sent"
    elements: list[dict[str, Any]] = generic[-1]["attachment"]["payload"]["elements"]
    return elements


def with_base_url(rt: Runtime, url: str) -> None:
    rt.settings = rt.settings.replace(app=dataclasses.replace(rt.settings.app, base_url=url))


def test_member_sees_the_next_events_as_cards_with_seats_and_buttons(rt, client) -> None:
    with_base_url(rt, "https://cityhall.example.jp")
    first = add_event(rt, capacity=20)
    second = add_event(
        rt,
        kind="study",
        title="勉強会",
        starts_at=NEXT_FRIDAY + timedelta(days=1),
        ends_at=NEXT_FRIDAY + timedelta(days=1, hours=1),
        audience="public",
    )
    add_event(rt, title="中止の回", cancelled_at=T0)
    add_event(rt, title="過去の回", starts_at=T0 - timedelta(days=1), ends_at=T0)
    tap(client, rt, "p1", 1, "EVENTS")
    elements = cards(sent_to(rt, "p1"))
    assert [e["title"] for e in elements] == ["初めましての方へのオンライン市役所説明会", "勉強会"]
    assert elements[0]["subtitle"] == "11月27日(金) 21:00–22:00 ・残り20席 ・メンバー限定"
    assert elements[1]["subtitle"] == "11月28日(土) 21:00–22:00"
    assert elements[0]["buttons"] == [
        {"type": "postback", "title": "参加する", "payload": f"EVENT_GO:{first}"},
        {"type": "postback", "title": "やめる", "payload": f"EVENT_CANCEL:{first}"},
        {
            "type": "web_url",
            "title": "カレンダーに追加",
            # members only: the URL carries the event's token (the .ics is 404 without it)
            "url": f"https://cityhall.example.jp/events/{first}.ics?t={token(rt, first)}",
        },
    ]
    assert elements[1]["buttons"][0]["payload"] == f"EVENT_GO:{second}"
    assert elements[1]["buttons"][2]["url"] == f"https://cityhall.example.jp/events/{second}.ics"
    anonymous = client.application.test_client()
    assert anonymous.get(f"/events/{first}.ics").status_code == 404
    assert anonymous.get(elements[0]["buttons"][2]["url"]).status_code == 200


def token(rt: Runtime, event_id: int) -> str:
    value = events.calendar_token(rt.settings, event_id)
    assert value is not None and len(value) == 32
    return value


def test_without_an_https_base_url_the_calendar_button_is_left_out(rt, client) -> None:
    add_event(rt)
    tap(client, rt, "p1", 1, "EVENTS")  # base_url is http://127.0.0.1:5000 in the tests
    (element,) = cards(sent_to(rt, "p1"))
    assert [b["title"] for b in element["buttons"]] == ["参加する", "やめる"]


def test_going_then_full_then_withdrawn_frees_the_seat(rt, client) -> None:
    event_id = add_event(rt, capacity=1)
    add_application(rt, "OC-BBBBBB")
    approve(rt, "OC-BBBBBB")
    post(client, rt, body(referral_item("p2", 1, "tok-OC-BBBBBB")))
    drain(rt)

    tap(client, rt, "p1", 2, f"EVENT_GO:{event_id}")
    reply = texts(sent_to(rt, "p1"))[-1]
    assert "「初めましての方へのオンライン市役所説明会」（11月27日(金) 21:00–22:00）" in reply
    assert "開始1時間前にZoomのリンクをお送りします" in reply
    tap(client, rt, "p1", 3, f"EVENT_GO:{event_id}")  # tapped again
    assert "登録済み" in texts(sent_to(rt, "p1"))[-1]

    tap(client, rt, "p2", 4, f"EVENT_GO:{event_id}")
    assert "定員に達した" in texts(sent_to(rt, "p2"))[-1]
    tap(client, rt, "p2", 5, "EVENTS")
    assert cards(sent_to(rt, "p2"))[0]["subtitle"].startswith("11月27日(金) 21:00–22:00 ・残り0席")

    tap(client, rt, "p1", 6, f"EVENT_CANCEL:{event_id}")
    assert "とりやめました" in texts(sent_to(rt, "p1"))[-1]
    tap(client, rt, "p2", 7, f"EVENT_GO:{event_id}")
    assert "参加で登録しました" in texts(sent_to(rt, "p2"))[-1]
    tap(client, rt, "p2", 8, "EVENTS")
    assert cards(sent_to(rt, "p2"))[0]["subtitle"].endswith("・参加予定です")
    with rt.db.transaction() as s:
        answers = {r.psid: r.status for r in s.scalars(select(EventRsvp))}
    assert answers == {"p1": "cancelled", "p2": "going"}


def test_someone_not_yet_a_member_sees_public_events_only(rt, client) -> None:
    members = add_event(rt)
    public = add_event(rt, kind="study", title="公開勉強会", audience="public")
    tap(client, rt, "stranger", 1, "EVENTS")
    assert [e["title"] for e in cards(sent_to(rt, "stranger"))] == ["公開勉強会"]
    tap(client, rt, "stranger", 2, f"EVENT_GO:{members}")  # an old or forwarded button
    assert "メンバー限定" in texts(sent_to(rt, "stranger"))[-1]
    tap(client, rt, "stranger", 3, f"EVENT_GO:{public}")
    assert "参加で登録しました" in texts(sent_to(rt, "stranger"))[-1]
    with rt.db.transaction() as s:
        answers = s.execute(select(EventRsvp.event_id, EventRsvp.application_id)).all()
    assert answers == [(public, None)]


def test_no_events_for_a_non_member_says_so(rt, client) -> None:
    add_event(rt)  # members only
    tap(client, rt, "stranger", 1, "EVENTS")
    assert "公開イベントはありません" in texts(sent_to(rt, "stranger"))[-1]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cancelled_at": T0}, "中止になりました"),
        ({"starts_at": T0 - timedelta(minutes=5)}, "受付を終了しました"),
    ],
)
def test_cancelled_and_started_events_refuse_answers(rt, client, fields, expected) -> None:
    event_id = add_event(rt, **fields)
    tap(client, rt, "p1", 1, f"EVENT_GO:{event_id}")
    assert expected in texts(sent_to(rt, "p1"))[-1]
    for argument in ("999999", "abc", "１２", ""):
        tap(client, rt, "p1", 2, f"EVENT_GO:{argument}")
        assert "見つかりませんでした" in texts(sent_to(rt, "p1"))[-1]
    with rt.db.transaction() as s:
        assert s.scalars(select(EventRsvp)).all() == []


def test_orientation_button_lists_orientation_events_else_keeps_the_schedule_text(
    rt, client
) -> None:
    tap(client, rt, "p1", 1, "MENU_ORIENTATION")
    assert "次回の" in texts(sent_to(rt, "p1"))[-1]  # nothing in the table: the old text
    add_event(rt, kind="study", title="勉強会")
    tap(client, rt, "p1", 2, "MENU_ORIENTATION")
    assert "次回の" in texts(sent_to(rt, "p1"))[-1]  # a study session is not a 説明会
    add_event(rt, kind="grand", title="大説明会")
    tap(client, rt, "p1", 3, "MENU_ORIENTATION")
    assert [e["title"] for e in cards(sent_to(rt, "p1"))] == ["大説明会"]


# -- the reminder ---------------------------------------------------------------------------------
def run_reminders(rt: Runtime, at: datetime) -> str:
    rt.now = lambda: at
    result = run_job(rt, find("event-reminders"))
    assert result.outcome == "ok", result.detail
    return result.detail


def reminder_rows(rt: Runtime) -> list[OutboundMessage]:
    with rt.db.transaction() as s:
        return list(
            s.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "event_reminder"))
        )


def test_rsvp_then_one_hour_before_the_zoom_link_arrives_in_messenger(rt, client) -> None:
    event_id = add_event(rt)
    # Thursday evening, inside the window: the member taps 参加する.
    thursday = (NEXT_FRIDAY - timedelta(hours=23, minutes=30) - T0) / timedelta(minutes=1)
    rt.now = lambda: T0 + timedelta(minutes=thursday)
    tap(client, rt, "p1", thursday, f"EVENT_GO:{event_id}")
    before = len(rt.messenger.sent)  # type: ignore[attr-defined]

    assert run_reminders(rt, NEXT_FRIDAY - timedelta(hours=2)) == (
        "0 by Messenger, 0 by email, 0 unreachable"
    )
    detail = run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=60))
    assert detail == "1 by Messenger, 0 by email, 0 unreachable"
    drain(rt)
    (sent,) = rt.messenger.sent[before:]  # type: ignore[attr-defined]
    assert (sent["psid"], sent["messaging_type"], sent["tag"]) == ("p1", "UPDATE", None)
    payload = sent["message"]["attachment"]["payload"]
    assert "まもなく「初めましての方へのオンライン市役所説明会」が始まります" in payload["text"]
    assert payload["buttons"] == [{"type": "web_url", "title": "Zoomに参加", "url": ZOOM}]

    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=55)).startswith("0 by Messenger")
    drain(rt)
    assert len(rt.messenger.sent) == before + 1  # type: ignore[attr-defined]
    (row,) = reminder_rows(rt)
    start, zoom = int(NEXT_FRIDAY.timestamp()), hashlib.sha256(ZOOM.encode()).hexdigest()[:8]
    assert row.idempotency_key == f"event_reminder:{event_id}:{start}:{zoom}:p1"
    with rt.db.transaction() as s:
        assert s.scalars(select(EventRsvp.reminded_at)).one() == NEXT_FRIDAY - timedelta(hours=1)


def test_outside_the_window_the_zoom_link_goes_by_email_never_by_a_tag(rt, client) -> None:
    event_id = add_event(rt)
    tap(client, rt, "p1", 1, f"EVENT_GO:{event_id}")  # a week before: the window will close
    before = len(rt.messenger.sent)  # type: ignore[attr-defined]
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=45)) == (
        "0 by Messenger, 1 by email, 0 unreachable"
    )
    drain(rt)
    assert len(rt.messenger.sent) == before  # type: ignore[attr-defined]
    (mail,) = [m for m in rt.mailer.sent if "まもなく開始" in m["subject"]]  # type: ignore[attr-defined]
    assert mail["to"] == "oc-aaaaaa@example.jp"
    assert ZOOM in mail["body"] and "山田 太郎 様" in mail["body"]
    assert (
        "初めましての方へのオンライン市役所説明会（11月27日(金) 21:00–22:00）" in (mail["subject"])
    )
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=40)).startswith("0 by Messenger, 0")
    assert len(reminder_rows(rt)) == 1


def test_a_person_reachable_neither_way_is_counted_and_tried_again(rt, client) -> None:
    event_id = add_event(rt, audience="public")
    tap(client, rt, "stranger", 1, f"EVENT_GO:{event_id}")  # no application: no email
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=30)) == (
        "0 by Messenger, 0 by email, 1 unreachable"
    )
    with rt.db.transaction() as s:
        assert s.scalars(select(EventRsvp.reminded_at)).one() is None
    # They open the thread ten minutes before: the next run reaches them in Messenger.
    opened = (NEXT_FRIDAY - timedelta(minutes=10) - T0) / timedelta(minutes=1)
    tap(client, rt, "stranger", opened, "EVENTS")
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=5)) == (
        "1 by Messenger, 0 by email, 0 unreachable"
    )


def test_withdrawn_and_cancelled_events_get_no_reminder(rt, client) -> None:
    kept = add_event(rt)
    cancelled = add_event(rt, title="中止")
    tap(client, rt, "p1", 1, f"EVENT_GO:{kept}")
    tap(client, rt, "p1", 2, f"EVENT_GO:{cancelled}")
    tap(client, rt, "p1", 3, f"EVENT_CANCEL:{kept}")
    with rt.db.transaction() as s:
        events.cancel_event(s.get(Event, cancelled), now=T0)  # type: ignore[arg-type]
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=30)) == (
        "0 by Messenger, 0 by email, 0 unreachable"
    )
    assert reminder_rows(rt) == []


def minutes_before(delta: timedelta) -> float:
    """The test clock's minutes (from T0) at `delta` before the event starts."""
    return (NEXT_FRIDAY - delta - T0) / timedelta(minutes=1)


def zoom_reminders(rt: Runtime, psid: str) -> list[dict[str, Any]]:
    """The reminders (URL buttons to Zoom) `psid` got in Messenger."""
    return [
        m["attachment"]["payload"]
        for m in sent_to(rt, psid)
        if m.get("attachment", {}).get("payload", {}).get("template_type") == "button"
        and m["attachment"]["payload"]["buttons"][0]["title"] == "Zoomに参加"
    ]


def test_a_window_closing_before_the_start_sends_the_link_by_email(rt, client) -> None:
    event_id = add_event(rt)
    # 24.5 hours before the start: an hour before, the window is open, but it closes 30
    # minutes before the start; a worker held up past then would keep it waiting for a window.
    tap(client, rt, "p1", minutes_before(timedelta(hours=24, minutes=30)), f"EVENT_GO:{event_id}")
    before = len(rt.messenger.sent)  # type: ignore[attr-defined]
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(hours=1)) == (
        "0 by Messenger, 1 by email, 0 unreachable"
    )
    drain(rt)
    assert len(rt.messenger.sent) == before  # type: ignore[attr-defined]
    (mail,) = [m for m in rt.mailer.sent if "まもなく開始" in m["subject"]]  # type: ignore[attr-defined]
    assert ZOOM in mail["body"]


def test_a_reminder_still_waiting_for_a_window_at_the_start_is_withdrawn(rt, client) -> None:
    event_id = add_event(rt)
    tap(client, rt, "p1", minutes_before(timedelta(hours=23, minutes=30)), f"EVENT_GO:{event_id}")
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(hours=1)).startswith("1 by Messenger")
    # The worker is held up (paused, down) until after the window closed (start + 30 min).
    rt.now = lambda: NEXT_FRIDAY + timedelta(minutes=45)
    drain(rt)
    (row,) = reminder_rows(rt)
    assert row.status == "awaiting_window" and zoom_reminders(rt, "p1") == []
    assert run_reminders(rt, NEXT_FRIDAY + timedelta(minutes=50)) == (
        "0 by Messenger, 0 by email, 0 unreachable, 1 stale withdrawn"
    )
    (row,) = reminder_rows(rt)
    assert row.status == "cancelled"
    # Days later the person writes again: the old reminder does not come.
    later = NEXT_FRIDAY + timedelta(days=2)
    rt.now = lambda: later
    tap(client, rt, "p1", (later - T0) / timedelta(minutes=1), "EVENTS")
    assert zoom_reminders(rt, "p1") == []
    assert run_reminders(rt, later).startswith("0 by Messenger, 0 by email, 0 unreachable")


def test_moving_the_event_or_changing_its_zoom_url_reminds_again(rt, client) -> None:
    event_id = add_event(rt)
    tap(client, rt, "p1", minutes_before(timedelta(hours=23, minutes=30)), f"EVENT_GO:{event_id}")
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(hours=1)).startswith("1 by Messenger")
    # The host gives a new Zoom URL before the worker sent the first reminder: it is withdrawn.
    new_zoom = "https://zoom.us/j/2222222222"
    edit(rt, event_id, zoom_url=new_zoom)
    assert [r.status for r in reminder_rows(rt)] == ["cancelled"]
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=59)).startswith("1 by Messenger")
    drain(rt)
    assert [p["buttons"][0]["url"] for p in zoom_reminders(rt, "p1")] == [new_zoom]
    # Then the start moves 20 minutes later, after that reminder went: it goes again.
    moved = NEXT_FRIDAY + timedelta(minutes=20)
    edit(rt, event_id, starts_at=moved, ends_at=moved + timedelta(hours=1))
    with rt.db.transaction() as s:
        assert s.scalars(select(EventRsvp.reminded_at)).one() is None
    assert run_reminders(rt, moved - timedelta(minutes=50)).startswith("1 by Messenger")
    drain(rt)
    reminders = zoom_reminders(rt, "p1")
    assert len(reminders) == 2 and "21:20" in reminders[-1]["text"]
    assert run_reminders(rt, moved - timedelta(minutes=40)).startswith("0 by Messenger")
    # A title change alone does not remind again.
    edit(rt, event_id, title="説明会（改題）")
    assert run_reminders(rt, moved - timedelta(minutes=30)).startswith("0 by Messenger")
    drain(rt)
    assert len(zoom_reminders(rt, "p1")) == 2
    assert len([r for r in reminder_rows(rt) if r.status == "sent"]) == 2


def edit(rt: Runtime, event_id: int, **fields: Any) -> None:
    """Edit an event as the console does."""
    with rt.db.transaction() as s:
        event = s.get(Event, event_id)
        assert event is not None
        values = {
            name: getattr(event, name)
            for name in (
                "kind",
                "title",
                "description",
                "starts_at",
                "ends_at",
                "zoom_url",
                "capacity",
                "audience",
            )
        }
        events.update_event(s, event, events.EventDraft(**{**values, **fields}))


def test_a_members_event_reminds_only_those_still_members(rt, client) -> None:
    members = add_event(rt)
    switched = add_event(rt, kind="study", title="公開勉強会", audience="public")
    at = minutes_before(timedelta(hours=2))
    tap(client, rt, "p1", at, f"EVENT_GO:{members}")
    tap(client, rt, "stranger", at, f"EVENT_GO:{switched}")
    # p1 leaves the community; the public study session becomes members only.
    with rt.db.transaction() as s:
        app = s.scalars(select(Application).where(Application.code == "OC-AAAAAA")).one()
        app.status = ApplicationStatus.WITHDRAWN
    edit(rt, switched, audience="members")
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=30)) == (
        "0 by Messenger, 0 by email, 0 unreachable, 2 no longer members"
    )
    assert reminder_rows(rt) == []
    # Back as a member (re-approved) before the start: the link comes.
    with rt.db.transaction() as s:
        app = s.scalars(select(Application).where(Application.code == "OC-AAAAAA")).one()
        app.status = ApplicationStatus.APPROVED
    assert run_reminders(rt, NEXT_FRIDAY - timedelta(minutes=20)) == (
        "1 by Messenger, 0 by email, 0 unreachable, 1 no longer members"
    )
