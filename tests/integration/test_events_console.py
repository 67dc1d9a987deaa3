"""The console's イベント page: create (one-off, series with holidays shown), validate in Japanese,
edit, cancel with confirmation, 説明会 from the schedule, attendees for the host (escaped,
audited), the dashboard's attendance; and the public .ics route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.community import events
from bot.models import AuditEntry, Event, EventRsvp
from bot.runtime import Runtime
from tests.clock import Clock
from tests.integration.test_console_helpers import (
    console_app,
    csrf_of,
    logged_in,
    make_application,
    post,
)
from tests.integration.test_console_parameter_fuzz import HOSTILE, _encode

JST = ZoneInfo("Asia/Tokyo")
T = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # Friday 12:00 in Tokyo
FORM = {
    "kind": "study",
    "title": "財政勉強会",
    "description": "予算書の読み方",
    "date": "2026-12-05",
    "start": "21:00",
    "end": "22:00",
    "zoom_url": "https://zoom.us/j/555",
    "capacity": "30",
    "audience": "members",
    "repeat": "once",
}
HOSTILE_TITLE = '<script>alert("x")</script>&amp;'


@pytest.fixture
def rev(runtime: Runtime) -> FlaskClient:
    runtime.now = Clock(T)
    return logged_in(runtime, "rev", "reviewer")


def rows(runtime: Runtime) -> list[Event]:
    with runtime.db.transaction() as db:
        return list(db.scalars(select(Event).order_by(Event.starts_at, Event.id)))


def actions(runtime: Runtime) -> list[str]:
    with runtime.db.transaction() as db:
        return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_reviewer_creates_a_one_off_event_in_tokyo_time(runtime: Runtime, rev: FlaskClient) -> None:
    response = post(rev, "/console/events", FORM)
    assert response.status_code == 302
    (event,) = rows(runtime)
    assert event.starts_at == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert (event.kind, event.capacity, event.audience, event.created_by) == (
        "study",
        30,
        "members",
        "rev",
    )
    assert "event_created" in actions(runtime)
    html = rev.get("/console/events").get_data(as_text=True)
    assert "財政勉強会" in html and "12月5日(土) 21:00–22:00" in html and "0 / 30" in html


def test_posts_without_the_csrf_token_are_refused(runtime: Runtime, rev: FlaskClient) -> None:
    response = rev.post("/console/events", data=FORM)
    assert response.status_code == 400
    assert rows(runtime) == []


def test_a_series_skips_new_years_day_and_says_so(runtime: Runtime, rev: FlaskClient) -> None:
    form = {**FORM, "date": "2026-12-18", "repeat": "weekly", "count": "4", "skip_holidays": "1"}
    response = post(rev, "/console/events", form, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "4回分作成しました" in html
    assert "祝日のため次の日を除きました：2027年1月1日（金・元日）" in html
    assert [e.starts_at.astimezone(JST).day for e in rows(runtime)] == [18, 25, 8, 15]
    assert "event_series_created" in actions(runtime)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": "20:00"}, "終了の時刻は開始より後にしてください"),
        ({"capacity": "0"}, "定員は1〜100000の整数"),
        ({"capacity": "１２"}, "定員は1〜100000の整数"),
        ({"zoom_url": "http://zoom.us/j/1"}, "https:// で始まるURL"),
        ({"zoom_url": "https://zoom.us/j/1 x"}, "https:// で始まるURL"),
        ({"title": ""}, "タイトルを入力してください"),
        ({"title": "あ" * 201}, "タイトルは200文字以内"),
        ({"description": "あ" * 2001}, "説明は2000文字以内"),
        ({"date": "2026-02-30"}, "日付を YYYY-MM-DD の形で"),
        ({"date": "2026-11-19"}, "開始日時が過去になっています"),
        ({"start": "25:00"}, "HH:MM の形"),
        ({"kind": "party"}, "種類を選んでください"),
        ({"audience": "everyone"}, "公開範囲を選んでください"),
        ({"repeat": "weekly", "count": "1"}, "回数は2〜52の整数"),
        ({"repeat": "weekly", "count": "53"}, "回数は2〜52の整数"),
    ],
)
def test_bad_values_get_a_japanese_error_and_the_form_is_kept(
    runtime: Runtime, rev: FlaskClient, changes: dict[str, str], message: str
) -> None:
    response = post(rev, "/console/events", {**FORM, **changes})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    kept = "予算書の読み方" if "description" not in changes else "財政勉強会"
    assert kept in html  # nothing typed is lost
    assert rows(runtime) == []


def test_hostile_titles_and_names_are_escaped_everywhere(
    runtime: Runtime, rev: FlaskClient
) -> None:
    post(rev, "/console/events", {**FORM, "title": HOSTILE_TITLE})
    (event,) = rows(runtime)
    app = make_application(
        runtime, status="approved", full_name="<b>太郎</b>", organization_name="<i>市</i>"
    )
    with runtime.db.transaction() as db:
        events.rsvp(db, event.id, psid="p1", going=True, member=True, application_id=app.id, now=T)
    for url in ("/console/events", f"/console/events/{event.id}", "/console/dashboard"):
        html = rev.get(url).get_data(as_text=True)
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;amp;" in html, url
    html = rev.get(f"/console/events/{event.id}").get_data(as_text=True)
    assert "&lt;b&gt;太郎&lt;/b&gt;" in html and "&lt;i&gt;市&lt;/i&gt;" in html
    assert "<b>太郎" not in html


def test_attendee_list_names_members_and_each_view_is_audited(
    runtime: Runtime, rev: FlaskClient
) -> None:
    post(rev, "/console/events", FORM)
    (event,) = rows(runtime)
    app = make_application(
        runtime, status="invited", full_name="佐藤 花子", organization_name="富山市"
    )
    with runtime.db.transaction() as db:
        for psid, app_id in (("p1", app.id), ("p2", None)):
            events.rsvp(
                db, event.id, psid=psid, going=True, member=True, application_id=app_id, now=T
            )
    html = rev.get(f"/console/events/{event.id}").get_data(as_text=True)
    assert "佐藤 花子" in html and "富山市" in html and app.code in html
    assert "参加予定：2人（定員 30人、残り 28席）" in html
    assert "申込と連携していない方" in html
    assert actions(runtime).count("event_attendees_viewed") == 1
    with runtime.db.transaction() as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "event_attendees_viewed")
        ).one()
        assert entry.actor == "rev" and entry.detail["count"] == 2


def test_edit_moves_the_event_and_is_audited(runtime: Runtime, rev: FlaskClient) -> None:
    post(rev, "/console/events", FORM)
    (event,) = rows(runtime)
    response = post(rev, f"/console/events/{event.id}", {**FORM, "start": "20:00", "capacity": ""})
    assert response.status_code == 302
    (event,) = rows(runtime)
    assert event.starts_at == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    assert event.capacity is None
    bad = post(rev, f"/console/events/{event.id}", {**FORM, "end": "19:00"})
    assert bad.status_code == 400 and "終了の時刻は開始より後" in bad.get_data(as_text=True)
    assert "event_updated" in actions(runtime)


def test_cancel_needs_the_confirmation_then_refuses_rsvp_and_hides_the_ics(
    runtime: Runtime, rev: FlaskClient
) -> None:
    post(rev, "/console/events", {**FORM, "audience": "public"})
    (event,) = rows(runtime)
    assert rev.get(f"/events/{event.id}.ics").status_code == 200
    unconfirmed = post(rev, f"/console/events/{event.id}/cancel", follow_redirects=True)
    assert "チェックを入れてください" in unconfirmed.get_data(as_text=True)
    assert rows(runtime)[0].cancelled_at is None
    post(rev, f"/console/events/{event.id}/cancel", {"confirm": "1"})
    assert rows(runtime)[0].cancelled_at == T
    assert "event_cancelled" in actions(runtime)
    assert rev.get(f"/events/{event.id}.ics").status_code == 404
    with runtime.db.transaction() as db:
        outcome, _ = events.rsvp(
            db, event.id, psid="p", going=True, member=True, application_id=None, now=T
        )
    assert outcome == "unavailable"
    edit = post(rev, f"/console/events/{event.id}", FORM)
    assert edit.status_code == 400 and "中止したイベントは編集できません" in edit.get_data(
        as_text=True
    )


def test_orientation_sessions_from_the_schedule_once(runtime: Runtime, rev: FlaskClient) -> None:
    first = post(rev, "/console/events/from-schedule", follow_redirects=True)
    assert "今後8週間の説明会を7件作成しました" in first.get_data(as_text=True)
    second = post(rev, "/console/events/from-schedule", follow_redirects=True)
    assert "すべて作成済みです" in second.get_data(as_text=True)
    kinds = [e.kind for e in rows(runtime)]
    assert kinds.count("grand") == 2 and kinds.count("orientation") == 5


def test_dashboard_shows_the_next_events_with_going_and_capacity(
    runtime: Runtime, rev: FlaskClient
) -> None:
    post(rev, "/console/events", FORM)
    (event,) = rows(runtime)
    with runtime.db.transaction() as db:
        for n in range(3):
            events.rsvp(
                db, event.id, psid=f"p{n}", going=True, member=True, application_id=None, now=T
            )
        events.rsvp(db, event.id, psid="p0", going=False, member=True, application_id=None, now=T)
    html = rev.get("/console/dashboard").get_data(as_text=True)
    assert "イベントの参加" in html
    row = html[html.index("財政勉強会") :]
    assert '<td class="num" data-label="参加">2</td>' in row
    assert '<td class="num" data-label="定員">30</td>' in row


def test_event_pages_need_a_login(runtime: Runtime) -> None:
    client = console_app(runtime).test_client()
    for url in ("/console/events", "/console/events/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_hostile_parameters_never_give_a_500(runtime: Runtime, rev: FlaskClient) -> None:
    rev.application.config["PROPAGATE_EXCEPTIONS"] = False
    post(rev, "/console/events", FORM)
    (event,) = rows(runtime)
    urls = [
        "/console/events",
        f"/console/events/{event.id}",
        f"/console/events/{event.id}/cancel",
        "/console/events/99999999999999999999999/cancel",
        "/console/events/0",
        "/console/events/from-schedule",
    ]
    fields = [*FORM, "count", "skip_holidays", "confirm"]
    failures: list[Any] = []
    token = csrf_of(rev)
    for url in urls:
        for name in fields:
            for bad in HOSTILE:
                data = {**FORM, "repeat": "weekly", name: bad, "csrf_token": token}
                response = rev.post(
                    url,
                    data=_encode(list(data.items())),
                    content_type="application/x-www-form-urlencoded",
                )
                if response.status_code >= 500:
                    failures.append((url, name, bad, response.status_code))
        if rev.get(url).status_code >= 500:
            failures.append((url, "GET"))
    for path in ("/events/0.ics", "/events/99999999999999999999999.ics", "/events/x.ics"):
        assert rev.get(path).status_code == 404
    assert failures == []


def test_ics_route_serves_text_calendar_and_404s(runtime: Runtime, rev: FlaskClient) -> None:
    runtime.settings = runtime.settings.replace(
        app=runtime.settings.app.__class__(
            **{**runtime.settings.app.__dict__, "base_url": "https://cityhall.example.jp"}
        )
    )
    post(rev, "/console/events", {**FORM, "audience": "public", "title": "a,b;c"})
    members = events.EventDraft(
        kind="study",
        title="限定",
        starts_at=T + timedelta(days=3),
        ends_at=T + timedelta(days=3, hours=1),
        zoom_url="https://zoom.us/j/secret",
    )
    with runtime.db.transaction() as db:
        hidden = events.create_event(db, members, actor="t", now=T).id
    (public,) = [e for e in rows(runtime) if e.id != hidden]
    anonymous = rev.application.test_client()
    response = anonymous.get(f"/events/{public.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.get_data(as_text=True)
    assert f"UID:event-{public.id}@cityhall.example.jp\r\n" in body
    assert "SUMMARY:a\\,b\\;c\r\n" in body and "URL:https://zoom.us/j/555\r\n" in body
    assert "secret" not in anonymous.get(f"/events/{hidden}.ics").get_data(as_text=True)
    assert anonymous.get("/events/424242.ics").status_code == 404


def test_a_members_event_ics_needs_its_token(runtime: Runtime, rev: FlaskClient) -> None:
    post(rev, "/console/events", {**FORM, "title": "限定の勉強会"})  # members only
    post(rev, "/console/events", {**FORM, "title": "別の回", "date": "2026-12-06"})
    first, other = rows(runtime)
    anonymous = rev.application.test_client()
    token = events.calendar_token(runtime.settings, first.id)
    assert token is not None
    walking = [
        f"/events/{first.id}.ics",
        f"/events/{first.id}.ics?t=",
        f"/events/{first.id}.ics?t={token[:-1]}0",
        f"/events/{first.id}.ics?t={token.upper()}",
        f"/events/{first.id}.ics?t={token}%E3%81%82",
        f"/events/{first.id}.ics?t=%E3%81%82",
        f"/events/{other.id}.ics?t={token}",  # another event's token
    ]
    for path in walking:
        response = anonymous.get(path)
        assert response.status_code == 404, path
        assert "限定" not in response.get_data(as_text=True)
    response = anonymous.get(f"/events/{first.id}.ics?t={token}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "SUMMARY:限定の勉強会\r\n" in body and "zoom.us" not in body
    assert response.headers["Cache-Control"] == "private, no-store"
    # The console's link carries the token; a public event's needs none.
    page = rev.get(f"/console/events/{first.id}").get_data(as_text=True)
    assert f'href="/events/{first.id}.ics?t={token}"' in page
    post(rev, f"/console/events/{other.id}", {**FORM, "date": "2026-12-06", "audience": "public"})
    page = rev.get(f"/console/events/{other.id}").get_data(as_text=True)
    assert f'href="/events/{other.id}.ics"' in page
    assert anonymous.get(f"/events/{other.id}.ics").status_code == 200


def test_without_a_secret_key_a_members_event_has_no_ics(runtime: Runtime) -> None:
    settings = runtime.settings.replace(
        app=runtime.settings.app.__class__(
            **{**runtime.settings.app.__dict__, "secret_key": "", "base_url": "https://x.example"}
        )
    )
    with runtime.db.transaction() as db:
        draft = events.EventDraft(
            kind="study",
            title="限定",
            starts_at=T + timedelta(days=3),
            ends_at=T + timedelta(days=4),
        )
        event = events.create_event(db, draft, actor="t", now=T)
        assert events.calendar_token(settings, event.id) is None
        assert events.calendar_url(settings, event) is None
        assert not events.calendar_token_valid(settings, event.id, "")


def test_moving_an_event_in_the_console_resets_its_reminders(
    runtime: Runtime, rev: FlaskClient
) -> None:
    post(rev, "/console/events", FORM)
    (event,) = rows(runtime)
    with runtime.db.transaction() as db:
        events.rsvp(db, event.id, psid="p", going=True, member=True, application_id=None, now=T)
        db.scalars(select(EventRsvp)).one().reminded_at = T

    def reminded() -> Any:
        with runtime.db.transaction() as db:
            return db.scalars(select(EventRsvp.reminded_at)).one()

    def last_update() -> Any:
        with runtime.db.transaction() as db:
            return (
                db.scalars(select(AuditEntry).where(AuditEntry.action == "event_updated"))
                .all()[-1]
                .detail
            )

    assert post(rev, f"/console/events/{event.id}", {**FORM, "title": "改題"}).status_code == 302
    assert reminded() == T and last_update()["reminders_reset"] is False
    assert post(rev, f"/console/events/{event.id}", {**FORM, "start": "20:30"}).status_code == 302
    assert reminded() is None and last_update()["reminders_reset"] is True
    with runtime.db.transaction() as db:
        db.scalars(select(EventRsvp)).one().reminded_at = T
    new_zoom = {**FORM, "start": "20:30", "zoom_url": "https://zoom.us/j/777"}
    assert post(rev, f"/console/events/{event.id}", new_zoom).status_code == 302
    assert reminded() is None and last_update()["reminders_reset"] is True
