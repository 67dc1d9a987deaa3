"""join-request-reminders and messenger-link-reminders: who is reminded, when, how often."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.models import Application, AuditEntry, MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job

JST = ZoneInfo("Asia/Tokyo")
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=JST)  # confirmation email / approval went out


def add_app(runtime: Runtime, code: str, **fields: Any) -> int:
    values: dict[str, Any] = {
        "code": code,
        "link_token": f"tok-{code}",
        "email": f"{code.lower()}@city.toyama.lg.jp",
        "full_name": "山田 太郎",
        "status": "awaiting_join_request",
        "submitted_at": T0 - timedelta(hours=1),
        "status_changed_at": T0,
        "confirmation_sent_at": T0,
    }
    values.update(fields)
    with runtime.db.transaction() as session:
        app = Application(**values)
        session.add(app)
        session.flush()
        return app.id


def run_at(runtime: Runtime, job: str, at: datetime) -> str:
    runtime.now = lambda: at
    result = run_job(runtime, find(job))
    assert result.outcome == "ok", result.detail
    return result.detail


def emails(runtime: Runtime, purpose: str) -> list[OutboundMessage]:
    with runtime.db.transaction() as session:
        return list(
            session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.purpose == purpose)
                .order_by(OutboundMessage.id)
            )
        )


def app_by_code(runtime: Runtime, code: str) -> Application:
    with runtime.db.transaction() as session:
        return session.scalars(select(Application).where(Application.code == code)).one()


# -- join-request reminders -----------------------------------------------------------------------
def test_no_reminder_before_three_days_then_one_reminder_in_japanese(runtime: Runtime) -> None:
    add_app(runtime, "A1")
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=3, minutes=-1))
    assert emails(runtime, "join_request_reminder") == []

    run_at(runtime, "join-request-reminders", T0 + timedelta(days=3))
    (mail,) = emails(runtime, "join_request_reminder")
    assert mail.idempotency_key == "jr-reminder:A1:1"
    assert mail.channel == "email" and mail.recipient == "a1@city.toyama.lg.jp"
    assert "参加リクエスト" in mail.payload["subject"] and "A1" in mail.payload["subject"]
    assert "山田 太郎 様" in mail.payload["body"]
    assert runtime.settings.app.facebook_group_url in mail.payload["body"]
    assert "12月2日までに" in mail.payload["body"]  # the expiry date, 30 days on
    app = app_by_code(runtime, "A1")
    assert app.join_request_reminders == 1
    assert app.last_reminder_at == T0 + timedelta(days=3)


@pytest.mark.parametrize("reply_to", ["", "jimukyoku@example.jp"])
def test_a_reminder_asks_for_a_reply_only_when_replies_reach_someone(
    runtime: Runtime, reply_to: str
) -> None:
    """From noreply@ without `[mail] reply_to`, 「ご返信ください」 would go nowhere."""
    mail_settings = dataclasses.replace(runtime.settings.mail, reply_to=reply_to)
    runtime.settings = runtime.settings.replace(mail=mail_settings)
    add_app(runtime, "A1")
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=3))
    (mail,) = emails(runtime, "join_request_reminder")
    asks_for_reply = "このメールにご返信ください" in mail.payload["body"]
    assert asks_for_reply is bool(reply_to)
    assert ("Facebook ページへメッセージ" in mail.payload["body"]) is not bool(reply_to)


def test_reminders_are_spaced_capped_and_never_repeated(runtime: Runtime) -> None:
    add_app(runtime, "A2")
    for day in (3, 3.5, 4, 6):
        run_at(runtime, "join-request-reminders", T0 + timedelta(days=day))
    assert [m.idempotency_key for m in emails(runtime, "join_request_reminder")] == [
        "jr-reminder:A2:1"
    ]
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=7))  # 3 + 4 days spacing
    for day in (8, 11, 15, 29):
        run_at(runtime, "join-request-reminders", T0 + timedelta(days=day))
    assert [m.idempotency_key for m in emails(runtime, "join_request_reminder")] == [
        "jr-reminder:A2:1",
        "jr-reminder:A2:2",
    ]
    assert app_by_code(runtime, "A2").status == "awaiting_join_request"


def test_thirty_days_without_a_join_request_expires_and_tells_how_to_apply_again(
    runtime: Runtime,
) -> None:
    add_app(runtime, "A3", join_request_reminders=2)
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=30, seconds=-1))
    assert app_by_code(runtime, "A3").status == "awaiting_join_request"

    detail = run_at(runtime, "join-request-reminders", T0 + timedelta(days=30))
    assert detail == "reminded 0, expired 1"
    app = app_by_code(runtime, "A3")
    assert app.status == "expired"
    assert app.status_changed_at == T0 + timedelta(days=30)
    (mail,) = emails(runtime, "application_expired")
    assert mail.idempotency_key == "expired:A3"
    assert "もう一度お申し込みください" in mail.payload["body"]
    assert "「オンライン市役所に参加する」ボタン" in mail.payload["body"]
    with runtime.db.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.application_id == app.id)
        ).all()
    assert "expire" in actions

    run_at(runtime, "join-request-reminders", T0 + timedelta(days=31))
    assert len(emails(runtime, "application_expired")) == 1


def test_expiry_email_links_the_configured_form(runtime: Runtime) -> None:
    settings = runtime.settings
    runtime.settings = settings.replace(
        reminders=dataclasses.replace(settings.reminders, apply_url="https://forms.example/apply")
    )
    add_app(runtime, "A4")
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=40))
    (mail,) = emails(runtime, "application_expired")
    assert "https://forms.example/apply" in mail.payload["body"]
    assert emails(runtime, "join_request_reminder") == []  # expired, not reminded


def test_only_applicants_still_waiting_for_their_join_request_are_reminded(
    runtime: Runtime,
) -> None:
    add_app(runtime, "W1")
    add_app(runtime, "S1", join_request_seen_at=T0 + timedelta(days=1))
    add_app(runtime, "R1", status="ready_for_review", join_request_seen_at=T0)
    add_app(runtime, "N1", status="submitted", confirmation_sent_at=None)
    add_app(runtime, "P1", status="approved", approved_at=T0)
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=5))
    assert [m.idempotency_key for m in emails(runtime, "join_request_reminder")] == [
        "jr-reminder:W1:1"
    ]
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=60))
    assert app_by_code(runtime, "S1").status == "awaiting_join_request"
    assert app_by_code(runtime, "N1").status == "submitted"


def test_reminder_numbers_come_from_config(runtime: Runtime) -> None:
    settings = runtime.settings
    runtime.settings = settings.replace(
        reminders=dataclasses.replace(
            settings.reminders,
            join_request_after_days=1,
            join_request_max=1,
            expire_after_days=5,
        )
    )
    add_app(runtime, "C1")
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=1))
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=4))
    assert len(emails(runtime, "join_request_reminder")) == 1
    run_at(runtime, "join-request-reminders", T0 + timedelta(days=5))
    assert app_by_code(runtime, "C1").status == "expired"


def test_three_days_across_the_leap_day(runtime: Runtime) -> None:
    sent = datetime(2028, 2, 26, 10, 0, tzinfo=JST)
    add_app(runtime, "L1", confirmation_sent_at=sent, submitted_at=sent)
    run_at(runtime, "join-request-reminders", datetime(2028, 2, 29, 9, 59, tzinfo=JST))
    assert emails(runtime, "join_request_reminder") == []
    run_at(runtime, "join-request-reminders", datetime(2028, 2, 29, 10, 0, tzinfo=JST))
    (mail,) = emails(runtime, "join_request_reminder")
    assert "3月27日までに" in mail.payload["body"]  # 30 days after 2028-02-26


# -- messenger link reminders ---------------------------------------------------------------------
def add_member(runtime: Runtime, code: str, *, psid: str | None = None, **fields: Any) -> int:
    identity_id = None
    if psid is not None:
        with runtime.db.transaction() as session:
            identity = MessengerIdentity(psid=psid, name="山田 太郎")
            session.add(identity)
            session.flush()
            identity_id = identity.id
    values: dict[str, Any] = {
        "status": "approved",
        "approved_at": T0,
        "join_request_seen_at": T0,
        "messenger_identity_id": identity_id,
    }
    values.update(fields)
    return add_app(runtime, code, **values)


def wait_for_window(runtime: Runtime, app_id: int, psid: str) -> None:
    with runtime.db.transaction() as session:
        session.add(
            OutboundMessage(
                idempotency_key=f"invite:{app_id}:prefecture",
                channel="messenger",
                recipient=psid,
                purpose="invitation",
                application_id=app_id,
                payload={"message": {"text": "招待"}},
                status="awaiting_window",
            )
        )


def test_unlinked_member_gets_the_m_me_link_after_two_days(runtime: Runtime) -> None:
    add_member(runtime, "M1")
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=2, minutes=-1))
    assert emails(runtime, "link_reminder") == []
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=2))
    (mail,) = emails(runtime, "link_reminder")
    assert mail.idempotency_key == "link-reminder:M1:1"
    assert mail.recipient == "m1@city.toyama.lg.jp"
    assert "https://m.me/online.shiyakusho?ref=tok-M1" in mail.payload["body"]
    assert "メッセンジャーグループ" in mail.payload["subject"]


def test_link_reminders_at_most_twice_two_days_apart(runtime: Runtime) -> None:
    add_member(runtime, "M2")
    for day in (2, 3, 3.9, 4, 5, 6, 8, 20):
        run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=day))
    mails = emails(runtime, "link_reminder")
    assert [m.idempotency_key for m in mails] == ["link-reminder:M2:1", "link-reminder:M2:2"]
    assert [m.created_at for m in mails] == [T0 + timedelta(days=2), T0 + timedelta(days=4)]
    assert app_by_code(runtime, "M2").link_reminders == 2


def test_linked_member_with_invitations_waiting_for_the_window_is_reminded(
    runtime: Runtime,
) -> None:
    waiting_id = add_member(runtime, "M3", psid="psid-3")
    wait_for_window(runtime, waiting_id, "psid-3")
    add_member(runtime, "M4", psid="psid-4")  # linked, nothing waiting: all delivered
    add_member(runtime, "M5", status="invited")
    add_member(runtime, "M6", status="awaiting_join_request", approved_at=None)
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=3))
    assert [m.idempotency_key for m in emails(runtime, "link_reminder")] == ["link-reminder:M3:1"]


def test_late_first_run_does_not_send_both_reminders_at_once(runtime: Runtime) -> None:
    add_member(runtime, "M7")
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=9))
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=10))
    assert len(emails(runtime, "link_reminder")) == 1
    run_at(runtime, "messenger-link-reminders", T0 + timedelta(days=11))
    assert len(emails(runtime, "link_reminder")) == 2
