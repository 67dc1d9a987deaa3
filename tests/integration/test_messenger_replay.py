"""A replay of 1,000 signed Messenger events (30% redeliveries) in shuffled batches.

After the worker drains, every effect happened exactly once: one inbox row per event key, one
identity per person, one link per application, one reply per interaction, one disclosure per
person, one invitation per application and group, and exactly one Send API call per outbound
row. Runs on every database engine.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot import create_app
from bot.messaging.events import parse_webhook
from bot.messaging.rate import RateLimiter
from bot.messaging.worker import Worker
from bot.messenger_commands import simulated_event
from bot.models import (
    Application,
    AuditEntry,
    Group,
    InboundEvent,
    MessengerIdentity,
    OutboundMessage,
)
from bot.onboarding import applications
from bot.runtime import Runtime
from bot.webhooks.signature import sign

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PAGE = "1000"
APPLICANTS = 100
APPROVED = 60  # approved before they link: their invitations go when they do
STRANGERS = 40  # people who write to the Page but never link
REOPENED = 10  # applicants who open their m.me link a second time
UNIQUE = 700
TOTAL = 1000  # 300 redeliveries
INTERACTIONS = {"message", "postback", "referral"}


def psid_of(i: int) -> str:
    return f"psid-{i:03d}"


def code_of(i: int) -> str:
    return f"OC-R{i:05d}"


def _item(body: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = body["entry"][0]["messaging"][0]
    return item


def unique_items(rng: random.Random) -> list[dict[str, Any]]:
    """700 distinct items: links, re-opened links, messages, postbacks, reads, deliveries."""
    people = [psid_of(i) for i in range(APPLICANTS)] + [f"stranger-{j}" for j in range(STRANGERS)]
    clock = iter(range(10**9))  # a distinct millisecond for every event: distinct keys

    def at() -> int:
        return int((T0 - timedelta(minutes=50)).timestamp() * 1000) + 1000 * next(clock)

    items = []
    for i in range(APPLICANTS):  # half from Get Started (new thread), half from an open thread
        postback = "GET_STARTED" if i % 2 == 0 else None
        body = simulated_event(
            psid_of(i), page_id=PAGE, ref=f"tok-{i}", postback=postback, at_ms=at()
        )
        items.append(_item(body))
    for i in range(REOPENED):
        items.append(_item(simulated_event(psid_of(i), page_id=PAGE, ref=f"tok-{i}", at_ms=at())))
    menu = ["MENU_STATUS", "MENU_HELP", "MENU_ORIENTATION", "OLD_BUTTON"]
    while len(items) < UNIQUE:
        person, kind = (
            rng.choice(people),
            rng.choice(["message"] * 2 + ["postback", "read", "delivery"]),
        )
        if kind == "message":
            item = _item(simulated_event(person, page_id=PAGE, text="質問です", at_ms=at()))
            if rng.random() < 0.2:
                item["message"]["quick_reply"] = {"payload": "MENU_STATUS"}
        elif kind == "postback":
            item = _item(
                simulated_event(person, page_id=PAGE, postback=rng.choice(menu), at_ms=at())
            )
        else:
            stamp = at()
            item = {"sender": {"id": person}, "recipient": {"id": PAGE}, "timestamp": stamp}
            item[kind] = {"watermark": stamp - 500}
            if kind == "delivery":
                item[kind]["mids"] = [f"m_out_{stamp}"]
        items.append(item)
    return items


def batches(items: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Webhook bodies of 1–8 items each, spread over 1–3 entries, as Meta batches them."""
    bodies, start = [], 0
    while start < len(items):
        size = rng.randint(1, 8)
        chunk, start = items[start : start + size], start + size
        cuts = sorted(rng.sample(range(1, len(chunk)), min(len(chunk) - 1, rng.randint(0, 2))))
        groups = [chunk[a:b] for a, b in zip([0, *cuts], [*cuts, len(chunk)], strict=True)]
        entries = [{"id": PAGE, "time": g[0]["timestamp"], "messaging": g} for g in groups]
        bodies.append({"object": "page", "entry": entries})
    return bodies


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.now = lambda: T0
    with runtime.db.transaction() as s:
        s.add_all(
            [
                Group(
                    kind="prefecture", key="富山県", name="富山県", invite_url="https://m.me/j/t/"
                ),
                Group(kind="village", key="village", name="村", invite_url="https://fb.test/v"),
                Group(kind="cohort", key="2026-11", name="同期", invite_url="https://m.me/j/c/"),
            ]
        )
        for i in range(APPLICANTS):
            s.add(
                Application(
                    code=code_of(i),
                    link_token=f"tok-{i}",
                    status="ready_for_review",
                    email=f"r{i}@example.jp",
                    full_name="山田 太郎",
                    prefecture="富山県",
                    submitted_at=T0 - timedelta(days=2),
                )
            )
    with runtime.db.transaction() as s:
        for i in range(APPROVED):
            app = applications.get_by_code(s, code_of(i))
            applications.approve(
                s,
                app,
                settings=runtime.settings,
                actor="alice",
                at=T0,
                identity_checked=True,
                join_request_confirmed=True,  # the reviewer saw the request in Facebook
            )
    return runtime


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def test_replayed_events_with_redeliveries_take_effect_exactly_once(
    client: FlaskClient, rt: Runtime
) -> None:
    rng = random.Random(20261120)
    unique = unique_items(rng)
    replay = unique + [rng.choice(unique) for _ in range(TOTAL - UNIQUE)]
    rng.shuffle(replay)
    for body in batches(replay, rng):
        raw = json.dumps(body, ensure_ascii=False).encode()
        response = client.post(
            "/webhooks/messenger",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(raw, "app-secret"),
            },
        )
        assert response.status_code == 200

    worker = Worker(rt)
    worker.limiter = RateLimiter(0)  # the local transport needs no pacing
    worker.run(once=True)

    parsed = parse_webhook(
        json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": unique}]})
    )
    assert not parsed.errors
    kinds = {e.event_key: str(e.kind) for e in parsed.events}
    interactions = {key for key, kind in kinds.items() if kind in INTERACTIONS}
    people = {e.sender_psid for e in parsed.events if e.event_key in interactions}

    with rt.db.transaction() as s:
        # the inbox: one row per event key, interactions handled, receipts ignored, none dead
        events = s.execute(select(InboundEvent.event_key, InboundEvent.status)).all()
        assert Counter(key for key, _ in events) == Counter(kinds.keys())
        assert {key: status for key, status in events} == {
            key: "done" if key in interactions else "ignored" for key in kinds
        }
        # one identity per person, each told once that a bot answers
        identities = s.scalars(select(MessengerIdentity)).all()
        assert sorted(i.psid for i in identities) == sorted(people)
        assert all(i.disclosed_at is not None for i in identities)
        # each application linked once, to its own person
        linked = dict(
            s.execute(
                select(Application.code, MessengerIdentity.psid).join(
                    MessengerIdentity, Application.messenger_identity_id == MessengerIdentity.id
                )
            ).all()
        )
        assert linked == {code_of(i): psid_of(i) for i in range(APPLICANTS)}
        link_audits = Counter(
            s.scalars(
                select(Application.code)
                .join(AuditEntry, AuditEntry.application_id == Application.id)
                .where(AuditEntry.action == "messenger_linked")
            )
        )
        assert link_audits == {code_of(i): 1 for i in range(APPLICANTS)}
        statuses = Counter(s.scalars(select(Application.status)))
        assert statuses == {"invited": APPROVED, "ready_for_review": APPLICANTS - APPROVED}

        rows = s.scalars(
            select(OutboundMessage).where(OutboundMessage.channel == "messenger")
        ).all()
        keys = Counter(r.idempotency_key for r in rows)
        assert max(keys.values()) == 1
        # one disclosure per person, one reply per interaction, the links and invitations once
        disclosures = [r for r in rows if r.idempotency_key.endswith(":disclosure")]
        assert sorted(r.recipient for r in disclosures) == sorted(people)
        replies = Counter(
            r.idempotency_key.removeprefix("reply:").rsplit(":", 1)[0]
            for r in rows
            if r.purpose == "reply" and not r.idempotency_key.endswith(":disclosure")
        )
        assert replies == {key: 1 for key in interactions}
        templates = Counter(
            r.idempotency_key.rsplit(":", 1)[1] for r in rows if r.purpose == "reply"
        )
        assert (templates["linked"], templates["link_already"]) == (APPLICANTS, REOPENED)
        invitations = sorted(
            (r.recipient, r.idempotency_key) for r in rows if r.purpose == "invitation"
        )
        assert invitations == sorted(
            (psid_of(i), f"invite:{code_of(i)}:{kind}")
            for i in range(APPROVED)
            for kind in ("prefecture", "village", "cohort")
        )
        # everything went out; nothing is dead, waiting or pending
        assert {r.status for r in rows} == {"sent"}
        all_statuses = set(s.scalars(select(OutboundMessage.status)))
        assert all_statuses == {"sent"}
        seats = s.scalars(select(Group.seats_used).order_by(Group.id)).all()
        assert seats == [APPROVED] * 3

    # the Send API saw each outbound row exactly once
    sent = rt.messenger.sent  # type: ignore[attr-defined]
    assert len(sent) == len(rows)
    assert Counter((m["psid"], json.dumps(m["message"], sort_keys=True)) for m in sent) == Counter(
        (r.recipient, json.dumps(r.payload["message"], sort_keys=True)) for r in rows
    )
    with rt.db.transaction() as s:
        emails = int(s.scalar(select(func.count()).where(OutboundMessage.channel == "email")) or 0)
    assert len(rt.mailer.sent) == emails  # type: ignore[attr-defined]
