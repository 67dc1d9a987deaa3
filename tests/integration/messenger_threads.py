"""Helpers of the Messenger thread tests (humans in the thread, typed codes, linking order).

Webhook items are shaped as Meta documents them: standby items under `entry[].standby[]`
(sender = the person, recipient = the Page), message echoes with `message.is_echo` and the
sending app's `app_id` (sender = the Page, recipient = the person).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from bot.messaging.worker import Worker
from bot.models import Group
from bot.runtime import Runtime
from tests.integration.test_messenger_flow import T0, Clock, add_application, approve

PAGE = "1000"
OWN_APP_ID = "777000777"
PAGE_INBOX_APP_ID = 263902037430900  # a number, as in Meta's examples


def prepared(runtime: Runtime, **messenger: Any) -> Runtime:
    """The runtime at T0 with the three groups of 富山県 members, and `[messenger]` overrides."""
    runtime.now = Clock(T0)
    runtime.settings = runtime.settings.replace(
        messenger=dataclasses.replace(runtime.settings.messenger, app_id=OWN_APP_ID, **messenger)
    )
    with runtime.db.transaction() as s:
        s.add_all(
            [
                Group(
                    kind="prefecture",
                    key="富山県",
                    name="富山県チャット",
                    invite_url="https://m.me/j/toyama/",
                ),
                Group(
                    kind="village",
                    key="village",
                    name="村",
                    invite_url="https://www.facebook.com/groups/village",
                ),
                Group(
                    kind="cohort",
                    key="2026-11",
                    name="2026年11月入庁同期",
                    invite_url="https://m.me/j/cohort/",
                ),
            ]
        )
    return runtime


def ms(minutes: float) -> int:
    """Meta's millisecond timestamp of T0 + `minutes`."""
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


def body(item: dict[str, Any], *, standby: bool = False) -> dict[str, Any]:
    """A webhook body with one item, under standby[] or messaging[]."""
    channel = "standby" if standby else "messaging"
    return {"object": "page", "entry": [{"id": PAGE, "time": item["timestamp"], channel: [item]}]}


def text_item(psid: str, minutes: float, text: str, mid: str | None = None) -> dict[str, Any]:
    """A person's text message."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "message": {"mid": mid or f"m_{psid}_{minutes}", "text": text},
    }


def referral_item(psid: str, minutes: float, ref: str) -> dict[str, Any]:
    """An m.me link opened in an existing thread (messaging_referrals)."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }


def get_started_item(psid: str, minutes: float, ref: str) -> dict[str, Any]:
    """Get Started in a new thread opened from an m.me link (postback.referral)."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "postback": {
            "mid": f"m_pb_{psid}_{minutes}",
            "title": "スタート",
            "payload": "GET_STARTED",
            "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    }


def echo_item(
    psid: str, minutes: float, app_id: Any, text: str = "担当の山田です"
) -> dict[str, Any]:
    """A message the Page sent to `psid` (app_id None: the key is left out)."""
    message: dict[str, Any] = {"is_echo": True, "mid": f"m_echo_{psid}_{minutes}", "text": text}
    if app_id is not None:
        message["app_id"] = app_id
    return {
        "sender": {"id": PAGE},
        "recipient": {"id": psid},
        "timestamp": ms(minutes),
        "message": message,
    }


def drain(rt: Runtime) -> None:
    """Process everything due now."""
    Worker(rt).run(once=True)


def sent_to(rt: Runtime, psid: str) -> list[dict[str, Any]]:
    """The Send API messages `psid` got so far."""
    return [m["message"] for m in rt.messenger.sent if m["psid"] == psid]  # type: ignore[attr-defined]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text messages among `messages`."""
    return [m["text"] for m in messages if "text" in m]


def invite_urls(messages: list[dict[str, Any]]) -> list[str]:
    """The invite links among `messages`, in order."""
    return [m["attachment"]["payload"]["buttons"][0]["url"] for m in messages if "attachment" in m]


def approved_applicant(runtime: Runtime, **messenger: Any) -> Runtime:
    """`prepared`, with OC-AAAAAA approved and waiting for its Messenger link."""
    rt = prepared(runtime, **messenger)
    add_application(rt)
    approve(rt, "OC-AAAAAA")
    return rt
