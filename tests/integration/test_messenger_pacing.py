"""Per-person pacing: Meta "may rate limit" an app that sends too many messages to one thread.

A person's Messenger messages go strictly in order, and none within
`[messenger] per_person_interval_seconds` of the last one sent to that person; other people's
messages, and emails, are not held back by it. Time is an explicit clock, so the gaps are exact.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from bot.config import ConfigError, parse_settings
from bot.messaging import outbox
from bot.messaging.worker import Worker
from bot.models import MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from integrations.local import LocalMessenger
from tests.clock import Clock

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _paced(runtime: Runtime, seconds: float) -> tuple[Runtime, Clock]:
    clock = Clock(T0)
    messenger = dataclasses.replace(runtime.settings.messenger, per_person_interval_seconds=seconds)
    runtime.settings = runtime.settings.replace(messenger=messenger)
    runtime.now = clock
    with runtime.db.transaction() as session:
        for psid in ("psid-a", "psid-b"):
            session.add(MessengerIdentity(psid=psid, last_interaction_at=T0))
        for n in range(3):
            outbox.enqueue_messenger(
                session, key=f"a:{n}", psid="psid-a", message={"text": f"a{n}"}, now=T0
            )
        outbox.enqueue_messenger(session, key="b:0", psid="psid-b", message={"text": "b0"}, now=T0)
        for n in range(2):
            outbox.enqueue_email(
                session,
                key=f"mail:{n}",
                to="hanako@city.toyama.lg.jp",
                subject="件名",
                body=f"本文{n}",
                now=T0,
            )
    return runtime, clock


def _sent_texts(runtime: Runtime) -> list[str]:
    messenger = runtime.messenger
    assert isinstance(messenger, LocalMessenger)
    return [record["message"]["text"] for record in messenger.sent]


def _sent_at(runtime: Runtime, psid: str) -> list[datetime]:
    with runtime.db.transaction() as session:
        rows = session.scalars(
            select(OutboundMessage.sent_at)
            .where(OutboundMessage.recipient == psid)
            .order_by(OutboundMessage.id)
        ).all()
    return [at.replace(tzinfo=UTC) if at and at.tzinfo is None else at for at in rows if at]


def test_a_persons_second_message_waits_for_the_interval(runtime: Runtime) -> None:
    rt, clock = _paced(runtime, 1.0)
    worker = Worker(rt)

    worker.run(once=True)
    assert _sent_texts(rt) == ["a0", "b0"]  # one each; the emails are not paced

    clock.advance(0.5)
    worker.run(once=True)
    assert _sent_texts(rt) == ["a0", "b0"], "half an interval later a1 still waits"

    clock.advance(0.6)
    worker.run(once=True)
    assert _sent_texts(rt) == ["a0", "b0", "a1"]

    clock.advance(1.1)
    worker.run(once=True)
    assert _sent_texts(rt) == ["a0", "b0", "a1", "a2"], "in order, one per interval"
    sent_at = _sent_at(rt, "psid-a")
    assert [later - earlier >= timedelta(seconds=1) for earlier, later in pairwise(sent_at)] == [
        True,
        True,
    ]


def test_emails_to_one_address_are_not_paced(runtime: Runtime) -> None:
    rt, _clock = _paced(runtime, 1.0)
    Worker(rt).run(once=True)
    with rt.db.transaction() as session:
        mail = session.scalars(
            select(OutboundMessage.status).where(OutboundMessage.channel == "email")
        ).all()
    assert mail == ["sent", "sent"]


def test_pacing_off_sends_a_persons_messages_in_one_drain(runtime: Runtime) -> None:
    rt, _clock = _paced(runtime, 0)
    Worker(rt).run(once=True)
    assert _sent_texts(rt) == ["a0", "b0", "a1", "a2"]


def test_a_failed_send_does_not_count_as_a_recent_one(runtime: Runtime) -> None:
    """Only a message that was sent paces the next one; a retry or a dead row does not."""
    rt, clock = _paced(runtime, 1.0)
    with rt.db.transaction() as session:
        first = session.scalars(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == "a:0")
        ).one()
        outbox.cancel(session, first)
    Worker(rt).run(once=True)
    assert _sent_texts(rt) == ["a1", "b0"]
    clock.advance(1.0)
    Worker(rt).run(once=True)
    assert _sent_texts(rt)[-1] == "a2"


@pytest.mark.parametrize("bad", [-1, -0.5])
def test_a_negative_interval_is_refused_at_start_up(bad: float) -> None:
    with pytest.raises(ConfigError, match="per_person_interval_seconds"):
        parse_settings({"messenger": {"per_person_interval_seconds": bad}}, env={})
