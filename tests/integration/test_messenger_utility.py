"""Utility messages: templates sync, the status webhook, and UTILITY sends outside the window.

Request bodies follow Meta's "Send a utility message" guide:
https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/utility-messages
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import Settings
from bot.db import Database
from bot.messaging import outbox, utility
from bot.messaging.worker import Worker
from bot.messenger_commands import cmd_templates_sync
from bot.models import MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from bot.webhooks.signature import sign
from integrations.graph import GraphClient
from integrations.local import LocalMailer
from tests.clock import Clock

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = "https://graph.test"
PAGE_ID = "1000"
TEMPLATES_URL = f"{BASE}/v25.0/{PAGE_ID}/message_templates"
SEND_URL = f"{BASE}/v25.0/me/messages"
PSID = "psid-utility-1"
INVITE_URL = "https://m.me/j/AbCdEfGh123/"

INVITATION_TEMPLATE = {
    "name": "cityhall_invitation_ja",
    "language": "ja",
    "category": "UTILITY",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "BODY",
            "text": "オンライン市役所事務局です。{{group_name}}への招待リンクをお送りします。"
            "下の「参加する」ボタンから参加してください。",
            "example": {
                "body_text_named_params": [
                    {
                        "param_name": "group_name",
                        "example": "都道府県メッセンジャーグループ「富山県」",
                    }
                ]
            },
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "参加する",
                    "url": "https://m.me/j/{{url_suffix}}",
                    "example": {"url_suffix_example": "https://m.me/j/AbCdEfGhIjKlMnOp/"},
                }
            ],
        },
    ],
}


def graph_settings(settings: Settings, database_url: str, *, enabled: bool = True) -> Settings:
    return settings.replace(
        app=dataclasses.replace(settings.app, database_url=database_url),
        messenger=dataclasses.replace(
            settings.messenger,
            transport="graph",
            page_token="page-token",
            graph_api_base=BASE,
            utility_templates=enabled,
        ),
    )


@pytest.fixture
def graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_runtime(settings: Settings, database: Database, *, enabled: bool = True) -> Runtime:
    s = graph_settings(settings, database.url, enabled=enabled)
    rt = build_runtime(
        s,
        db=database,
        messenger=GraphClient("page-token", "app-secret", base_url=BASE),
        mailer=LocalMailer(),
    )
    rt.now = Clock(T0)
    return rt


def set_status(rt: Runtime, key: str, status: str) -> None:
    with rt.db.transaction() as s:
        utility.record(
            s,
            key,
            {"name": f"cityhall_{key}_ja", "language": "ja", "id": f"id-{key}", "status": status},
            rt.now(),
        )


def queue_invitation(rt: Runtime, *, last_interaction: datetime) -> int:
    """A queued invitation, shaped as bot.onboarding.invitations queues it."""
    with rt.db.transaction() as s:
        s.add(MessengerIdentity(psid=PSID, last_interaction_at=last_interaction))
        s.flush()
        return outbox.enqueue_messenger(
            s,
            key="invite:A-1:prefecture",
            psid=PSID,
            message={"text": "招待"},
            purpose="invitation",
            utility={
                "params": {"group_name": "都道府県メッセンジャーグループ「富山県」"},
                "url": INVITE_URL,
            },
            now=rt.now(),
        ).id


def deliver(rt: Runtime, row_id: int) -> OutboundMessage:
    worker = Worker(rt)
    assert row_id in worker.claim_outbound()
    worker.deliver(row_id)
    with rt.db.transaction() as s:
        row = s.get(OutboundMessage, row_id)
        assert row is not None
        s.expunge(row)
        return row


# -- sync -----------------------------------------------------------------------------------------
def test_sync_creates_the_templates_with_the_documented_body_and_records_id_and_status(
    settings: Settings, database_url: str, graph: responses.RequestsMock
) -> None:
    graph.post(
        TEMPLATES_URL,
        json={"id": "104595129340398", "status": "APPROVED", "category": "UTILITY"},
    )
    graph.post(TEMPLATES_URL, json={"id": "104595129340399", "status": "PENDING"})
    s = graph_settings(settings, database_url)

    assert cmd_templates_sync(argparse.Namespace(settings=s)) == 0

    bodies = [json.loads(call.request.body or b"{}") for call in graph.calls]
    assert bodies[0] == INVITATION_TEMPLATE
    reminder = bodies[1]
    assert reminder["name"] == "cityhall_orientation_reminder_ja"
    assert (reminder["language"], reminder["category"]) == ("ja", "UTILITY")
    assert reminder["parameter_format"] == "NAMED"
    named = reminder["components"][0]["example"]["body_text_named_params"]
    assert [p["param_name"] for p in named] == ["session_name", "when", "zoom_url"]
    assert "access_token=page-token" in (graph.calls[0].request.url or "")

    db = Database(database_url)
    try:
        with db.transaction() as session:
            state = utility.state(session)
    finally:
        db.dispose()
    assert state["invitation"]["id"] == "104595129340398"
    assert state["invitation"]["status"] == "APPROVED"
    assert state["orientation_reminder"]["id"] == "104595129340399"
    assert state["orientation_reminder"]["status"] == "PENDING"


def test_sync_records_a_refused_template_and_fails(
    settings: Settings, database_url: str, graph: responses.RequestsMock
) -> None:
    error = {"error": {"message": "(#200) permission", "code": 200, "type": "OAuthException"}}
    graph.post(TEMPLATES_URL, json=error, status=403)
    s = graph_settings(settings, database_url)

    assert cmd_templates_sync(argparse.Namespace(settings=s)) == 1

    db = Database(database_url)
    try:
        with db.transaction() as session:
            state = utility.state(session)
    finally:
        db.dispose()
    assert "code 200" in state["invitation"]["error"]
    assert "status" not in state["invitation"]


# -- status webhook -------------------------------------------------------------------------------
def test_status_webhook_changes_the_stored_status(settings: Settings, database: Database) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "PENDING")
    body = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": int(T0.timestamp() * 1000),
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {
                            "event": "APPROVED",
                            "message_template_id": "id-invitation",
                            "message_template_name": "cityhall_invitation_ja",
                            "message_template_language": "ja",
                            "reason": "NONE",
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(body).encode()
    client = create_app(runtime=rt).test_client()
    answer = client.post(
        "/webhooks/messenger",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, "app-secret"),
        },
    )
    assert answer.status_code == 200
    Worker(rt).drain_once()

    with rt.db.transaction() as s:
        assert utility.state(s)["invitation"]["status"] == "APPROVED"
        assert utility.approved(s, "invitation") is not None

    body["entry"][0]["changes"][0]["value"]["event"] = "REJECTED"
    raw = json.dumps(body).encode()
    client.post(
        "/webhooks/messenger",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, "app-secret"),
        },
    )
    Worker(rt).drain_once()
    with rt.db.transaction() as s:
        assert utility.state(s)["invitation"]["status"] == "REJECTED"
        assert utility.approved(s, "invitation") is None


def test_approval_by_webhook_releases_waiting_invitations(
    settings: Settings, database: Database, graph: responses.RequestsMock
) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "PENDING")
    row_id = queue_invitation(rt, last_interaction=T0 - timedelta(days=3))
    assert deliver(rt, row_id).status == outbox.WAITING
    graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_utility_2"})
    body = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": int(T0.timestamp() * 1000),
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_id": "id-invitation"},
                    }
                ],
            }
        ],
    }
    raw = json.dumps(body).encode()
    create_app(runtime=rt).test_client().post(
        "/webhooks/messenger",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, "app-secret"),
        },
    )
    worker = Worker(rt)
    worker.drain_once()
    worker.drain_once()

    with rt.db.transaction() as s:
        row = s.get(OutboundMessage, row_id)
        assert row is not None and row.status == "sent"
        assert row.history[-1]["messaging_type"] == "UTILITY"


# -- sending --------------------------------------------------------------------------------------
def test_outside_the_window_an_approved_invitation_goes_as_utility(
    settings: Settings, database: Database, graph: responses.RequestsMock
) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "APPROVED")
    row_id = queue_invitation(rt, last_interaction=T0 - timedelta(days=3))
    graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_utility_1"})

    row = deliver(rt, row_id)

    assert row.status == "sent" and row.provider_message_id == "m_utility_1"
    assert row.history[-1]["messaging_type"] == "UTILITY"
    assert json.loads(graph.calls[0].request.body or b"{}") == {
        "recipient": {"id": PSID},
        "messaging_type": "UTILITY",
        "message": {
            "template": {
                "name": "cityhall_invitation_ja",
                "language": {"code": "ja"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {
                                "type": "text",
                                "parameter_name": "group_name",
                                "text": "都道府県メッセンジャーグループ「富山県」",
                            }
                        ],
                    },
                    {"type": "buttons", "parameters": [{"type": "URL", "url": "AbCdEfGh123/"}]},
                ],
            }
        },
    }


def test_inside_the_window_the_invitation_goes_as_before(
    settings: Settings, database: Database, graph: responses.RequestsMock
) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "APPROVED")
    row_id = queue_invitation(rt, last_interaction=T0 - timedelta(hours=1))
    graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_update_1"})

    row = deliver(rt, row_id)

    body = json.loads(graph.calls[0].request.body or b"{}")
    assert row.status == "sent" and body["messaging_type"] == "UPDATE"
    assert body["message"] == {"text": "招待"}


@pytest.mark.parametrize(
    ("enabled", "status"),
    [(False, "APPROVED"), (True, "PENDING"), (True, "REJECTED"), (True, None)],
)
def test_otherwise_the_invitation_waits(
    settings: Settings,
    database: Database,
    graph: responses.RequestsMock,
    enabled: bool,
    status: str | None,
) -> None:
    rt = make_runtime(settings, database, enabled=enabled)
    if status is not None:
        set_status(rt, "invitation", status)
    row_id = queue_invitation(rt, last_interaction=T0 - timedelta(days=3))

    row = deliver(rt, row_id)

    assert row.status == outbox.WAITING
    assert not graph.calls


def test_other_purposes_keep_waiting_even_with_approved_templates(
    settings: Settings, database: Database, graph: responses.RequestsMock
) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "APPROVED")
    with rt.db.transaction() as s:
        s.add(MessengerIdentity(psid=PSID, last_interaction_at=T0 - timedelta(days=3)))
        s.flush()
        row_id = outbox.enqueue_messenger(
            s, key="reply:1", psid=PSID, message={"text": "返信"}, purpose="reply", now=rt.now()
        ).id

    assert deliver(rt, row_id).status == outbox.WAITING
    assert not graph.calls


def test_a_utility_send_outside_the_window_error_keeps_its_class(
    settings: Settings, database: Database, graph: responses.RequestsMock
) -> None:
    rt = make_runtime(settings, database)
    set_status(rt, "invitation", "APPROVED")
    row_id = queue_invitation(rt, last_interaction=T0 - timedelta(days=3))
    error = {"error": {"message": "window", "code": 10, "error_subcode": 2018278}}
    graph.post(SEND_URL, json=error, status=400)

    row = deliver(rt, row_id)

    assert row.status == outbox.WAITING
    assert row.history[-1]["outcome"] == "outside_window"
