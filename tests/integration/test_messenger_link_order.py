"""Linking is idempotent whatever the order of events and however many workers handle them.

A newer text handled before the referral, the same person's Get Started and referral handled by
two workers at the same moment: the person is linked once, with one "linked" reply and one
audit entry. Runs on every database engine (two threads, then two worker processes).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.messaging.worker import Worker
from bot.models import AuditEntry, InboundEvent, MessengerIdentity, OutboundMessage, utcnow
from bot.onboarding import applications, conversation
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    approved_applicant,
    body,
    drain,
    get_started_item,
    invite_urls,
    referral_item,
    sent_to,
    text_item,
)
from tests.integration.test_messenger_flow import T0, add_application, post
from tests.integration.test_worker_concurrency import _start

MEETING_SECONDS = 2.0


class Meeting:
    """A meeting point in the middle of linking (where the invitations are queued).

    Two workers linking the same person side by side meet here and both go on. When linking is
    serialized the second never comes, and the first goes on alone after MEETING_SECONDS.
    """

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2)
        self.met = False

    def wait(self) -> None:
        try:
            self.barrier.wait(timeout=MEETING_SECONDS)
            self.met = True
        except threading.BrokenBarrierError:
            pass


@pytest.fixture
def meeting(monkeypatch: pytest.MonkeyPatch) -> Meeting:
    meeting = Meeting()
    queue_invitations = conversation.queue_invitations

    def meet_then_queue(*args: Any, **kwargs: Any) -> Any:
        meeting.wait()
        return queue_invitations(*args, **kwargs)

    monkeypatch.setattr(conversation, "queue_invitations", meet_then_queue)
    return meeting


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return approved_applicant(runtime)


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def link_effects(rt: Runtime, psid: str) -> tuple[int, Counter[str]]:
    """(messenger_linked audit entries, reply templates queued to `psid`)."""
    with rt.db.transaction() as s:
        audits = len(
            s.scalars(select(AuditEntry.id).where(AuditEntry.action == "messenger_linked")).all()
        )
        keys = s.scalars(
            select(OutboundMessage.idempotency_key).where(
                OutboundMessage.recipient == psid, OutboundMessage.purpose == "reply"
            )
        ).all()
    return audits, Counter(key.rsplit(":", 1)[1] for key in keys)


def test_newer_text_handled_before_the_referral_links_once(client, rt) -> None:
    post(client, rt, body(text_item("p1", 2, "こんにちは")))  # arrives first
    post(client, rt, body(referral_item("p1", 1, "tok-OC-AAAAAA")))
    post(client, rt, body(get_started_item("p1", 1.5, "tok-OC-AAAAAA")))
    drain(rt)
    audits, replies = link_effects(rt, "p1")
    assert audits == 1
    # こんにちは is small talk: a short reply, nothing kept for the secretariat (issue 17)
    assert replies == {"disclosure": 1, "faq_thanks": 1, "linked": 1, "link_already": 1}
    assert len(invite_urls(sent_to(rt, "p1"))) == 3
    with rt.db.transaction() as s:
        assert applications.get_by_code(s, "OC-AAAAAA").status == "invited"


def test_two_workers_linking_the_same_person_at_once_link_once(client, rt, meeting) -> None:
    post(client, rt, body(text_item("p1", 2, "こんにちは")))  # the newer text, handled first
    drain(rt)
    post(client, rt, body(referral_item("p1", 1, "tok-OC-AAAAAA")))
    post(client, rt, body(get_started_item("p1", 1.5, "tok-OC-AAAAAA")))
    workers = [Worker(rt, worker_id=f"w{n}") for n in range(2)]
    for worker in workers:
        worker.cfg = dataclasses.replace(worker.cfg, batch_size=1)
    claimed = [worker.claim_inbound() for worker in workers]
    assert sorted(len(ids) for ids in claimed) == [1, 1]
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda w=w, ids=ids: outcomes.append(w.process_event(ids[0])))
        for w, ids in zip(workers, claimed, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["done", "done"]
    drain(rt)
    audits, replies = link_effects(rt, "p1")
    assert audits == 1
    assert (replies["linked"], replies["link_already"], replies["disclosure"]) == (1, 1, 1)
    assert not meeting.met  # they took turns
    assert len(invite_urls(sent_to(rt, "p1"))) == 3
    with rt.db.transaction() as s:
        assert len(s.scalars(select(MessengerIdentity)).all()) == 1
        assert set(s.scalars(select(InboundEvent.status))) == {"done"}


PEOPLE = 40
BLOCK = 10  # worker_process claims 10 events at a time


def test_two_worker_processes_link_each_person_once(
    client: FlaskClient, rt: Runtime, tmp_path: Path
) -> None:
    """Per block of ten people: their texts, then their referrals, then their Get Started.

    Two processes claim consecutive batches, so one handles a person's text or referral while
    the other handles the same person's next event.
    """
    for n in range(PEOPLE):
        if n:
            add_application(rt, f"OC-{n:06d}")
    token = {n: f"tok-OC-{n:06d}" if n else "tok-OC-AAAAAA" for n in range(PEOPLE)}
    # The worker processes run on the real clock: the people wrote just now (inside the window).
    now = (utcnow() - T0).total_seconds() / 60
    for start in range(0, PEOPLE, BLOCK):
        people = range(start, start + BLOCK)
        for n in people:
            post(client, rt, body(text_item(f"q{n}", now + 0.3, "よろしくお願いします")))
        for n in people:
            post(client, rt, body(referral_item(f"q{n}", now + 0.1, token[n])))
        for n in people:
            post(client, rt, body(get_started_item(f"q{n}", now + 0.2, token[n])))
    procs = [_start(rt.db.url, tmp_path / f"w{n}.jsonl", lease=60, delay=0.0) for n in range(2)]
    try:
        assert [p.wait(timeout=240) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    with rt.db.transaction() as s:
        assert set(s.scalars(select(InboundEvent.status))) == {"done"}
        linked = Counter(
            s.scalars(
                select(AuditEntry.application_id).where(AuditEntry.action == "messenger_linked")
            )
        )
        assert len(linked) == PEOPLE and set(linked.values()) == {1}
        assert len(s.scalars(select(MessengerIdentity)).all()) == PEOPLE
        keys = s.scalars(
            select(OutboundMessage.recipient).where(
                OutboundMessage.idempotency_key.like("%:linked")
            )
        ).all()
        assert Counter(keys) == {f"q{n}": 1 for n in range(PEOPLE)}
        disclosures = s.scalars(
            select(OutboundMessage.recipient).where(
                OutboundMessage.idempotency_key.like("%:disclosure")
            )
        ).all()
        assert Counter(disclosures) == {f"q{n}": 1 for n in range(PEOPLE)}
