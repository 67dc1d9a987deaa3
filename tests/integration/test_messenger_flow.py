"""Messenger: signed webhook → inbox → linking → invitations delivered inside the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot import create_app
from bot.messaging.worker import Worker
from bot.messenger_commands import simulated_event
from bot.models import (
    Alert,
    Application,
    Group,
    InboundEvent,
    Invitation,
    MessengerIdentity,
    OutboundMessage,
)
from bot.onboarding import applications
from bot.runtime import Runtime
from bot.webhooks.signature import sign
from tests.clock import Clock

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.now = Clock(T0)
    with runtime.db.transaction() as s:
        s.add_all(
            [
                Group(
                    kind="prefecture",
                    key="富山県",
                    name="富山県チャット",
                    capacity=2,
                    invite_url="https://m.me/j/toyama/",
                ),
                Group(
                    kind="village",
                    key="village",
                    name="村",
                    capacity=1000,
                    invite_url="https://www.facebook.com/groups/village",
                ),
                Group(
                    kind="cohort",
                    key="2026-11",
                    name="2026年11月入庁同期",
                    capacity=250,
                    invite_url="https://m.me/j/cohort/",
                ),
            ]
        )
    return runtime


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def add_application(
    rt: Runtime,
    code: str = "OC-AAAAAA",
    prefecture: str = "富山県",
    status: str = "ready_for_review",
    token: str | None = None,
) -> None:
    with rt.db.transaction() as s:
        s.add(
            Application(
                code=code,
                link_token=token or f"tok-{code}",
                status=status,
                email=f"{code.lower()}@example.jp",
                full_name="山田 太郎",
                prefecture=prefecture,
                submitted_at=T0 - timedelta(days=2),
            )
        )


def post(
    client: FlaskClient,
    rt: Runtime,
    body: dict[str, Any],
    secret: str = "app-secret",
    signature: str | None = None,
) -> Any:
    raw = json.dumps(body).encode()
    sig = signature if signature is not None else sign(raw, secret)
    return client.post(
        "/webhooks/messenger",
        data=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    )


def approve(rt: Runtime, code: str) -> None:
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, code)
        applications.approve(
            s,
            app,
            settings=rt.settings,
            actor="alice",
            at=rt.now(),
            identity_checked=True,
            join_request_confirmed=True,  # the reviewer saw the request in Facebook
        )


def event_at(psid: str, minutes: int, **kw: Any) -> dict[str, Any]:
    at_ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return simulated_event(psid, page_id="1000", at_ms=at_ms, **kw)


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_handshake_echoes_challenge_only_for_the_right_token(client: FlaskClient) -> None:
    ok = client.get(
        "/webhooks/messenger?hub.mode=subscribe&hub.verify_token=verify-token&hub.challenge=12345"
    )
    assert (ok.status_code, ok.get_data(as_text=True)) == (200, "12345")
    for query in (
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-token&hub.challenge=1",
        "",
    ):
        assert client.get(f"/webhooks/messenger?{query}").status_code == 403


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_bad_or_missing_signature_is_refused_and_nothing_stored(client, rt, signature) -> None:
    response = post(client, rt, event_at("p1", 0, text="hi"), signature=signature)
    assert response.status_code == 403
    assert count(rt, InboundEvent) == 0


def test_redelivered_batch_is_stored_once(client: FlaskClient, rt: Runtime) -> None:
    body = event_at("p1", 0, text="hi")
    body["entry"].append(event_at("p2", 0, postback="MENU_HELP")["entry"][0])
    assert post(client, rt, body).status_code == 200
    assert post(client, rt, body).status_code == 200
    assert count(rt, InboundEvent) == 2


def test_signed_but_unreadable_body_is_kept_with_its_reason(client, rt) -> None:
    raw = b'{"object": "user", "entry": []}'
    response = client.post(
        "/webhooks/messenger", data=raw, headers={"X-Hub-Signature-256": sign(raw, "app-secret")}
    )
    assert response.status_code == 200
    with rt.db.transaction() as s:
        event = s.scalars(select(InboundEvent)).one()
        assert (event.status, event.kind) == ("invalid", "invalid")
        assert event.last_error


def test_oversized_body_is_refused(client: FlaskClient, rt: Runtime) -> None:
    raw = b"x" * (rt.settings.app.max_webhook_bytes + 1)
    response = client.post(
        "/webhooks/messenger", data=raw, headers={"X-Hub-Signature-256": sign(raw, "app-secret")}
    )
    assert response.status_code == 413
    assert count(rt, InboundEvent) == 0


def test_approval_then_link_delivers_three_invitations_and_marks_invited(client, rt) -> None:
    add_application(rt)
    approve(rt, "OC-AAAAAA")
    assert count(rt, Invitation, Invitation.status == "allocated") == 3
    assert (
        post(client, rt, event_at("p1", 1, ref="tok-OC-AAAAAA", postback="GET_STARTED")).status_code
        == 200
    )
    Worker(rt).run(once=True)
    sent = rt.messenger.sent  # type: ignore[attr-defined]
    buttons = [
        m["message"]["attachment"]["payload"]["buttons"][0]["url"]
        for m in sent
        if "attachment" in m["message"]
    ]
    assert buttons == [
        "https://m.me/j/toyama/",
        "https://www.facebook.com/groups/village",
        "https://m.me/j/cohort/",
    ]
    texts = [m["message"].get("text", "") for m in sent]
    assert "自動応答アシスタント" in texts[0]  # the disclosure comes first
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, "OC-AAAAAA")
        assert app.status == "invited"
        assert app.messenger_identity is not None and app.messenger_identity.psid == "p1"
        assert [h.action for h in app.history][-3:] == [
            "messenger_linked",
            "email_proven",
            "invited",
        ]
        assert s.scalars(select(Group.seats_used).where(Group.kind == "prefecture")).one() == 1
    mails = [m["subject"] for m in rt.mailer.sent]  # type: ignore[attr-defined]
    assert any("承認" in subject for subject in mails)


def test_approving_twice_never_allocates_or_sends_twice(client, rt) -> None:
    add_application(rt)
    approve(rt, "OC-AAAAAA")
    with pytest.raises(Exception, match="cannot approve"):
        approve(rt, "OC-AAAAAA")
    post(client, rt, event_at("p1", 1, ref="tok-OC-AAAAAA"))
    post(client, rt, event_at("p1", 2, ref="tok-OC-AAAAAA"))  # the link opened again
    Worker(rt).run(once=True)
    assert count(rt, Invitation) == 3
    assert count(rt, OutboundMessage, OutboundMessage.purpose == "invitation") == 3


def test_full_group_holds_the_invitation_and_alerts(client, rt) -> None:
    for code in ("OC-AAAAAA", "OC-BBBBBB", "OC-CCCCCC"):
        add_application(rt, code)
        approve(rt, code)
    with rt.db.transaction() as s:
        held = s.scalars(select(Invitation).where(Invitation.status == "held")).all()
        assert [(i.kind, i.key) for i in held] == [("prefecture", "富山県")]
        kinds = set(s.scalars(select(Alert.kind)))
        assert {"group_missing", "group_nearly_full"} <= kinds


def test_missing_prefecture_group_holds_only_that_invitation(client, rt) -> None:
    add_application(rt, prefecture="沖縄県")
    approve(rt, "OC-AAAAAA")
    with rt.db.transaction() as s:
        statuses = dict(s.execute(select(Invitation.kind, Invitation.status)).all())
    assert statuses == {"prefecture": "held", "village": "allocated", "cohort": "allocated"}


def test_second_identity_with_the_same_token_is_refused_and_reported(client, rt) -> None:
    add_application(rt)
    post(client, rt, event_at("p1", 1, ref="tok-OC-AAAAAA"))
    post(client, rt, event_at("p2", 2, ref="tok-OC-AAAAAA"))
    Worker(rt).run(once=True)
    with rt.db.transaction() as s:
        app = applications.get_by_code(s, "OC-AAAAAA")
        assert app.messenger_identity is not None and app.messenger_identity.psid == "p1"
        assert s.scalars(select(Alert.kind)).all() == ["link_conflict"]
    to_p2 = [
        m["message"].get("text", "")
        for m in rt.messenger.sent  # type: ignore[attr-defined]
        if m["psid"] == "p2"
    ]
    assert any("別のアカウント" in t for t in to_p2)


def test_unknown_token_gets_a_polite_reply(client, rt) -> None:
    post(client, rt, event_at("p9", 1, ref="no-such-token"))
    Worker(rt).run(once=True)
    texts = [m["message"].get("text", "") for m in rt.messenger.sent]  # type: ignore[attr-defined]
    assert any("確認できませんでした" in t for t in texts)


def test_invitations_wait_outside_the_window_and_go_when_the_person_writes(client, rt) -> None:
    add_application(rt)
    post(client, rt, event_at("p1", 0, ref="tok-OC-AAAAAA"))
    Worker(rt).run(once=True)
    rt.now = Clock(T0 + timedelta(days=2))  # the window has closed
    approve(rt, "OC-AAAAAA")
    Worker(rt).run(once=True)
    assert count(rt, OutboundMessage, OutboundMessage.status == "awaiting_window") == 1
    before = len(rt.messenger.sent)  # type: ignore[attr-defined]
    post(client, rt, event_at("p1", 2 * 24 * 60 + 5, text="こんにちは"))
    Worker(rt).run(once=True)
    new = rt.messenger.sent[before:]  # type: ignore[attr-defined]
    urls = [
        m["message"]["attachment"]["payload"]["buttons"][0]["url"]
        for m in new
        if "attachment" in m["message"]
    ]
    assert urls == [
        "https://m.me/j/toyama/",
        "https://www.facebook.com/groups/village",
        "https://m.me/j/cohort/",
    ]
    with rt.db.transaction() as s:
        assert applications.get_by_code(s, "OC-AAAAAA").status == "invited"


def test_free_text_and_menu_postbacks_get_japanese_replies(client, rt) -> None:
    post(client, rt, event_at("p1", 0, text="質問があります"))
    post(client, rt, event_at("p1", 1, postback="MENU_ORIENTATION"))
    post(client, rt, event_at("p1", 2, postback="OLD_BUTTON"))
    Worker(rt).run(once=True)
    texts = [m["message"].get("text", "") for m in rt.messenger.sent]  # type: ignore[attr-defined]
    assert len(texts) == 4  # disclosure once, then one reply per event
    # free text that the FAQ does not answer goes to the secretariat's inbox (issue 17)
    assert "自動応答" in texts[0] and "事務局に伝えました" in texts[1]
    assert "説明会" in texts[2] and "メニュー" in texts[3]
    with rt.db.transaction() as s:
        identity = s.scalars(select(MessengerIdentity)).one()
        assert identity.last_interaction_at == T0 + timedelta(minutes=2)
