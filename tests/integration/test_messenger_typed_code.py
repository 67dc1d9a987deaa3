"""Linking by a typed 申込番号 and the registered email, when the m.me referral never arrives.

Runs on every database engine.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot import create_app
from bot.messaging.texts import render
from bot.models import Alert, AuditEntry, LinkAttempt, MessengerIdentity
from bot.onboarding import applications
from bot.onboarding.notifications import screening_email
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    PAGE_INBOX_APP_ID,
    body,
    drain,
    echo_item,
    invite_urls,
    prepared,
    referral_item,
    sent_to,
    text_item,
    texts,
)
from tests.integration.test_messenger_flow import T0, Clock, add_application, approve, post

CODE = "OC-7K3M9Q"
EMAIL = "oc-7k3m9q@example.jp"  # add_application's address for CODE


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    rt = prepared(runtime)
    add_application(rt, CODE)
    return rt


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def say(client: FlaskClient, rt: Runtime, psid: str, minutes: float, text: str) -> None:
    post(client, rt, body(text_item(psid, minutes, text)))
    drain(rt)


def linked_psid(rt: Runtime, code: str = CODE) -> str | None:
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, code)
        return app.messenger_identity.psid if app.messenger_identity else None


def actions(rt: Runtime, code: str = CODE) -> list[str]:
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, code)
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.application_id == app.id)
                .order_by(AuditEntry.id)
            )
        )


@pytest.mark.parametrize(
    ("typed", "email"),
    [
        ("OC-7K3M9Q", EMAIL),
        ("ＯＣ－７Ｋ３Ｍ９Ｑ", "ＯＣ－７Ｋ３Ｍ９Ｑ＠ＥＸＡＭＰＬＥ．ＪＰ"),  # full width throughout
        ("oc-7k3m9q", "OC-7K3M9Q@Example.JP"),
        ("7K3M9Q", f"  {EMAIL} "),  # without the OC- prefix
        ("7k3 m9q", f"メールは {EMAIL} です"),
        ("申込番号は OC-7K3M9Q です", EMAIL),
    ],
)
def test_typed_code_and_matching_email_link_and_the_invitations_go(
    client: FlaskClient, rt: Runtime, typed: str, email: str
) -> None:
    approve(rt, CODE)
    say(client, rt, "p1", 0, typed)
    asked = texts(sent_to(rt, "p1"))
    assert "自動応答アシスタント" in asked[0] and f"申込番号 {CODE} を確認します" in asked[1]
    assert linked_psid(rt) is None
    say(client, rt, "p1", 1, email)
    assert linked_psid(rt) == "p1"
    replies = texts(sent_to(rt, "p1"))
    assert len(replies) == 3 and "連携が完了しました" in replies[2]
    assert invite_urls(sent_to(rt, "p1")) == [
        "https://m.me/j/toyama/",
        "https://www.facebook.com/groups/village",
        "https://m.me/j/cohort/",
    ]
    assert actions(rt).count("messenger_linked") == 1
    with rt.db.transaction() as s:
        detail = s.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "messenger_linked")
        ).one()
        assert detail == {"source": "typed_code"}
        person = s.scalars(select(MessengerIdentity)).one()
        assert person.link_code is None  # nothing pending any more


def test_wrong_email_does_not_link_and_the_right_one_still_can(client, rt) -> None:
    say(client, rt, "p1", 0, CODE)
    say(client, rt, "p1", 1, "someone.else@example.jp")
    assert linked_psid(rt) is None
    assert "確認できませんでした" in texts(sent_to(rt, "p1"))[-1]
    assert actions(rt) == ["link_code_mismatch"]
    say(client, rt, "p1", 2, EMAIL)  # the code still waits for its address
    assert linked_psid(rt) == "p1"


def test_email_of_another_application_does_not_link(client: FlaskClient, rt: Runtime) -> None:
    add_application(rt, "OC-AB12CD")
    say(client, rt, "p1", 0, CODE)
    say(client, rt, "p1", 1, "oc-ab12cd@example.jp")
    assert linked_psid(rt) is None and linked_psid(rt, "OC-AB12CD") is None


def test_repeated_guesses_are_refused_after_the_limit(client: FlaskClient, rt: Runtime) -> None:
    say(client, rt, "p1", 0, CODE)
    for minute in range(1, 6):
        say(client, rt, "p1", minute, f"guess{minute}@example.jp")
    assert linked_psid(rt) is None
    say(client, rt, "p1", 6, EMAIL)  # the sixth check is refused, even the right address
    assert linked_psid(rt) is None
    assert "上限" in texts(sent_to(rt, "p1"))[-1]
    say(client, rt, "p1", 7, CODE)
    say(client, rt, "p1", 8, EMAIL)  # still refused within 24 hours
    assert linked_psid(rt) is None
    assert actions(rt) == ["link_code_mismatch"] * 5 + ["link_code_refused"] * 2
    with rt.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(LinkAttempt)) == 5
        assert s.scalars(select(Alert.kind)).all() == []  # one person's typos: no alert


def test_guesses_at_one_code_from_many_people_are_refused_and_reported(client, rt) -> None:
    for n in range(5):
        say(client, rt, f"p{n}", n, CODE)
        say(client, rt, f"p{n}", n + 0.5, f"guess{n}@example.jp")
    say(client, rt, "owner", 10, CODE)
    say(client, rt, "owner", 11, EMAIL)
    assert linked_psid(rt) is None
    assert "上限" in texts(sent_to(rt, "owner"))[-1]
    with rt.db.transaction() as s:
        assert s.scalars(select(Alert.kind)).all() == ["link_code_guessing"]
    # a day later the code may be tried again
    rt.now = Clock(T0 + timedelta(days=1, minutes=12))
    say(client, rt, "owner", 24 * 60 + 12, CODE)
    say(client, rt, "owner", 24 * 60 + 13, EMAIL)
    assert linked_psid(rt) == "owner"


def test_unknown_code_gets_the_same_answer_as_a_wrong_email(client: FlaskClient, rt) -> None:
    say(client, rt, "p1", 0, "OC-ZZZZZZ")
    say(client, rt, "p1", 1, EMAIL)
    say(client, rt, "p2", 0, CODE)
    say(client, rt, "p2", 1, "nobody@example.jp")
    assert texts(sent_to(rt, "p1"))[2:] == texts(sent_to(rt, "p2"))[2:]  # after the prompt
    assert linked_psid(rt) is None


def test_closed_application_cannot_be_linked_by_code(client: FlaskClient, rt: Runtime) -> None:
    with rt.db.transaction() as s:
        applications.get_by_code(s, CODE).status = "rejected"
    say(client, rt, "p1", 0, CODE)
    say(client, rt, "p1", 1, EMAIL)
    assert linked_psid(rt) is None


def test_code_already_linked_to_another_person_is_refused_and_reported(client, rt) -> None:
    post(client, rt, body(referral_item("p1", 0, f"tok-{CODE}")))
    say(client, rt, "p2", 1, CODE)
    say(client, rt, "p2", 2, EMAIL)
    assert linked_psid(rt) == "p1"
    assert "別のアカウント" in texts(sent_to(rt, "p2"))[-1]
    with rt.db.transaction() as s:
        assert s.scalars(select(Alert.kind)).all() == ["link_conflict"]
    assert actions(rt) == ["messenger_linked", "email_proven", "link_refused"]


def test_person_linked_to_an_open_application_is_not_asked_again(client, rt) -> None:
    add_application(rt, "OC-AB12CD")
    post(client, rt, body(referral_item("p1", 0, "tok-OC-AB12CD")))
    say(client, rt, "p1", 1, CODE)
    assert "別のお申し込み（申込番号 OC-AB12CD）" in texts(sent_to(rt, "p1"))[-1]
    with rt.db.transaction() as s:
        assert s.scalars(select(MessengerIdentity.link_code)).one() is None


def test_pending_code_expires_after_thirty_minutes(client: FlaskClient, rt: Runtime) -> None:
    say(client, rt, "p1", 0, CODE)
    say(client, rt, "p1", 31, EMAIL)
    assert linked_psid(rt) is None
    assert "自動応答のため" in texts(sent_to(rt, "p1"))[-1]  # treated as free text


def test_typed_code_is_answered_in_quiet_but_not_under_standby(client, rt) -> None:
    post(client, rt, body(text_item("p1", 0, CODE), standby=True))
    drain(rt)
    assert sent_to(rt, "p1") == []
    post(client, rt, body(echo_item("p2", 0, PAGE_INBOX_APP_ID)))
    say(client, rt, "p2", 1, CODE)
    say(client, rt, "p2", 2, EMAIL)
    assert linked_psid(rt) == "p2"  # the person asked the bot in so many words


def test_codes_stay_pending_in_the_database_between_workers(client, rt) -> None:
    say(client, rt, "p1", 0, CODE)
    with rt.db.transaction() as s:
        person = s.scalars(select(MessengerIdentity)).one()
        assert (person.link_code, person.link_code_at) == (CODE, T0)


def test_emails_tell_how_to_link_by_typing_the_code(rt: Runtime) -> None:
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, CODE)
        confirmation = screening_email(app, settings=rt.settings, at=T0)
        reminder = render(
            "link_reminder",
            app=app,
            settings=rt.settings,
            full_name=app.full_name,
            code=app.code,
            link_url="https://m.me/online.shiyakusho?ref=x",
            number=1,
        )
    assert confirmation is not None
    for text in (confirmation.body, reminder.body):
        assert f"申込番号 {CODE} を送り" in text
        assert "メールアドレスを送ってください" in text
        assert "https://m.me/online.shiyakusho" in text
