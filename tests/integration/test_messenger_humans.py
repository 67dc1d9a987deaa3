"""Humans own their threads: standby events and the Page inbox's echoes keep the bot quiet.

Runs on every database engine.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.models import AuditEntry, InboundEvent, MessengerIdentity, OutboundMessage
from bot.onboarding import applications
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    OWN_APP_ID,
    PAGE_INBOX_APP_ID,
    body,
    drain,
    echo_item,
    get_started_item,
    invite_urls,
    prepared,
    referral_item,
    sent_to,
    text_item,
    texts,
)
from tests.integration.test_console_helpers import logged_in, text_of
from tests.integration.test_messenger_flow import T0, Clock, add_application, approve, post

INVITES = [
    "https://m.me/j/toyama/",
    "https://www.facebook.com/groups/village",
    "https://m.me/j/cohort/",
]


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return prepared(runtime)


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def identity(rt: Runtime, psid: str) -> MessengerIdentity:
    with rt.db.transaction() as s:
        return s.scalars(select(MessengerIdentity).where(MessengerIdentity.psid == psid)).one()


def quiet_until(rt: Runtime, psid: str) -> datetime | None:
    with rt.db.transaction() as s:
        return s.scalar(select(MessengerIdentity.quiet_until).where(MessengerIdentity.psid == psid))


def test_standby_text_gets_no_automatic_reply(client: FlaskClient, rt: Runtime) -> None:
    post(client, rt, body(text_item("p1", 0, "住所変更の件です"), standby=True))
    drain(rt)
    assert sent_to(rt, "p1") == []
    person = identity(rt, "p1")
    assert person.quiet_until == T0 + timedelta(hours=24)
    assert person.last_interaction_at == T0  # it still opens the 24-hour window
    with rt.db.transaction() as s:
        assert s.scalars(select(InboundEvent.status)).all() == ["done"]


def test_text_after_standby_stays_unanswered_for_the_quiet_period(client, rt) -> None:
    post(client, rt, body(text_item("p1", 0, "住所変更の件です"), standby=True))
    post(client, rt, body(text_item("p1", 60, "ありがとうございます")))  # control came back
    drain(rt)
    assert sent_to(rt, "p1") == []
    post(client, rt, body(text_item("p1", 24 * 60 + 1, "こんにちは")))  # the quiet is over
    drain(rt)
    replies = texts(sent_to(rt, "p1"))
    assert len(replies) == 2 and "自動応答アシスタント" in replies[0]  # disclosure, free text


@pytest.mark.parametrize("app_id", [PAGE_INBOX_APP_ID, str(PAGE_INBOX_APP_ID), None])
def test_echo_from_a_human_silences_free_text_while_a_queued_invitation_goes(
    client: FlaskClient, rt: Runtime, app_id: Any
) -> None:
    add_application(rt)
    post(client, rt, body(referral_item("p1", 0, "tok-OC-AAAAAA")))
    drain(rt)
    before = len(sent_to(rt, "p1"))  # the disclosure and the "linked" reply
    rt.now = Clock(T0 + timedelta(days=2))  # the window has closed
    approve(rt, "OC-AAAAAA")
    drain(rt)
    with rt.db.transaction() as s:
        waiting = set(
            s.scalars(select(OutboundMessage.status).where(OutboundMessage.purpose == "invitation"))
        )
    assert "awaiting_window" in waiting and "sent" not in waiting
    # A secretariat member answers from the Page inbox, then the person writes.
    post(client, rt, body(echo_item("p1", 2 * 24 * 60, app_id)))
    post(client, rt, body(text_item("p1", 2 * 24 * 60 + 5, "ありがとうございます、参加します")))
    drain(rt)
    new = sent_to(rt, "p1")[before:]
    assert invite_urls(new) == INVITES  # the invitations went, in order
    assert texts(new) == []  # and no automatic reply talked over the human
    person = identity(rt, "p1")
    assert person.quiet_until == T0 + timedelta(days=2, hours=24)
    with rt.db.transaction() as s:
        assert applications.get_by_code(s, "OC-AAAAAA").status == "invited"


def test_echo_of_this_apps_own_message_changes_nothing(client: FlaskClient, rt: Runtime) -> None:
    post(client, rt, body(echo_item("p1", 0, int(OWN_APP_ID), text="招待リンク")))
    post(client, rt, body(text_item("p1", 1, "質問があります")))
    drain(rt)
    assert len(texts(sent_to(rt, "p1"))) == 2  # disclosure and the free-text reply
    assert identity(rt, "p1").quiet_until is None


def test_without_a_configured_app_id_an_echo_naming_an_app_is_not_a_human(client, rt) -> None:
    rt.settings = rt.settings.replace(
        messenger=dataclasses.replace(rt.settings.messenger, app_id="")
    )
    post(client, rt, body(echo_item("p1", 0, int(OWN_APP_ID))))
    post(client, rt, body(echo_item("p2", 0, None)))
    drain(rt)
    assert quiet_until(rt, "p1") is None
    assert quiet_until(rt, "p2") == T0 + timedelta(hours=24)


def test_quiet_lasts_human_quiet_hours(runtime: Runtime) -> None:
    rt = prepared(runtime, human_quiet_hours=2)
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(echo_item("p1", 0, PAGE_INBOX_APP_ID)))
    post(client, rt, body(text_item("p1", 119, "まだ聞こえますか")))
    drain(rt)
    assert sent_to(rt, "p1") == []
    post(client, rt, body(text_item("p1", 121, "こんにちは")))
    drain(rt)
    assert len(texts(sent_to(rt, "p1"))) == 2


def test_a_menu_button_is_still_answered_in_quiet(client: FlaskClient, rt: Runtime) -> None:
    post(client, rt, body(echo_item("p1", 0, PAGE_INBOX_APP_ID)))
    item = text_item("p1", 1, "申込状況")
    item["message"]["quick_reply"] = {"payload": "MENU_STATUS"}
    post(client, rt, body(item))
    post(client, rt, body(text_item("p1", 2, "よろしくお願いします")))
    drain(rt)
    replies = texts(sent_to(rt, "p1"))
    assert len(replies) == 2  # the disclosure and the status; the free text stays unanswered
    assert "連携されていません" in replies[1]


@pytest.mark.parametrize("opened", [referral_item, get_started_item])
def test_referral_in_standby_links_silently_and_the_invitations_go(
    client: FlaskClient, rt: Runtime, opened: Any
) -> None:
    add_application(rt)
    approve(rt, "OC-AAAAAA")
    post(client, rt, body(opened("p1", 0, "tok-OC-AAAAAA"), standby=True))
    drain(rt)
    messages = sent_to(rt, "p1")
    assert texts(messages) == []  # no "linked" reply, no disclosure in someone else's thread
    assert invite_urls(messages) == INVITES
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, "OC-AAAAAA")
        assert app.messenger_identity is not None and app.messenger_identity.psid == "p1"
        assert app.status == "invited"
        audits = s.scalars(select(AuditEntry.action).where(AuditEntry.application_id == app.id))
        assert list(audits).count("messenger_linked") == 1


def test_link_in_quiet_sends_no_chatty_reply(client: FlaskClient, rt: Runtime) -> None:
    add_application(rt)
    post(client, rt, body(echo_item("p1", 0, PAGE_INBOX_APP_ID)))
    post(client, rt, body(referral_item("p1", 1, "tok-OC-AAAAAA")))
    drain(rt)
    assert sent_to(rt, "p1") == []
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, "OC-AAAAAA")
        assert app.messenger_identity is not None


def test_console_shows_who_is_in_a_human_conversation(client: FlaskClient, rt: Runtime) -> None:
    add_application(rt)
    post(client, rt, body(referral_item("p1", 0, "tok-OC-AAAAAA")))
    post(client, rt, body(echo_item("p1", 10, PAGE_INBOX_APP_ID)))
    drain(rt)
    admin = logged_in(rt, "boss", "admin")
    page = text_of(admin.get("/console/applications/OC-AAAAAA").get_data(as_text=True))
    # T0 + 10 min + 24 h = 11/21 12:10 UTC = 21:10 in Tokyo
    assert "事務局が対応中（〜11/21 21:10 まで自動返信を停止）" in page
    inbox = text_of(admin.get("/console/inbox").get_data(as_text=True))
    assert "事務局が対応中の会話" in inbox and "OC-AAAAAA" in inbox
    rt.now = Clock(T0 + timedelta(hours=25))
    page = text_of(admin.get("/console/applications/OC-AAAAAA").get_data(as_text=True))
    assert "事務局が対応中" not in page
    assert "事務局が対応中の会話" not in text_of(admin.get("/console/inbox").get_data(as_text=True))
