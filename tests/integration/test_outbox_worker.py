"""The transactional outbox and inbox: exactly-once enqueue, leases, retries, dead rows."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.messaging import outbox
from bot.messaging.inbox import store_event
from bot.messaging.rate import RateLimiter
from bot.messaging.worker import Worker
from bot.models import Alert, InboundEvent, MessengerIdentity, OutboundMessage, utcnow
from bot.runtime import Runtime
from integrations.ports import DeliveryError, EmailMessage, FailureKind, SendResult
from tests.clock import Clock


class FailingMailer:
    """Fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> SendResult:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return SendResult(message_id=f"m{len(self.sent)}")


def queue_email(runtime: Runtime, key: str = "k1", to: str = "a@example.jp") -> int:
    with runtime.db.transaction() as s:
        return outbox.enqueue_email(
            s, key=key, to=to, subject="件名", body="本文", now=runtime.now()
        ).id


def row(runtime: Runtime, row_id: int) -> OutboundMessage:
    with runtime.db.transaction() as s:
        r = s.get(OutboundMessage, row_id)
        assert r is not None
        s.expunge(r)
        return r


def test_enqueue_twice_with_the_same_key_keeps_one_row(runtime: Runtime) -> None:
    first = queue_email(runtime, "invite:1:prefecture")
    second = queue_email(runtime, "invite:1:prefecture", to="other@example.jp")
    assert first == second
    with runtime.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutboundMessage)) == 1
        assert s.get(OutboundMessage, first).recipient == "a@example.jp"  # type: ignore[union-attr]


def test_nothing_is_sent_before_the_deciding_transaction_commits(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), runtime.db.transaction() as s:
        outbox.enqueue_email(s, key="k", to="a@example.jp", subject="s", body="b")
        raise RuntimeError("decision failed")
    Worker(runtime).run(once=True)
    assert runtime.mailer.sent == []  # type: ignore[attr-defined]


def test_worker_once_sends_each_due_email_and_marks_it_sent(runtime: Runtime) -> None:
    ids = [queue_email(runtime, f"k{i}") for i in range(3)]
    Worker(runtime).run(once=True)
    assert [m["headers"]["X-Cityhall-Key"] for m in runtime.mailer.sent] == [  # type: ignore[attr-defined]
        "k0",
        "k1",
        "k2",
    ]
    assert {row(runtime, i).status for i in ids} == {"sent"}
    Worker(runtime).run(once=True)
    assert len(runtime.mailer.sent) == 3  # type: ignore[attr-defined]


def test_transient_failure_backs_off_then_succeeds(runtime: Runtime, now: Any) -> None:
    clock = Clock(now)
    runtime.now = clock
    runtime.mailer = FailingMailer(DeliveryError(FailureKind.RETRY, "421 try later"))
    row_id = queue_email(runtime)
    worker = Worker(runtime)
    worker.run(once=True)
    r = row(runtime, row_id)
    assert (r.status, r.attempts, r.last_error) == ("pending", 1, "DeliveryError: 421 try later")
    assert now + timedelta(seconds=0.5) <= r.next_attempt_at <= now + timedelta(seconds=1)
    worker.run(once=True)  # not due yet
    assert runtime.mailer.sent == []  # type: ignore[attr-defined]
    clock.at = now + timedelta(seconds=2)
    worker.run(once=True)
    assert row(runtime, row_id).status == "sent"


def test_retries_are_bounded_and_the_dead_row_keeps_its_last_error(
    runtime: Runtime, now: Any
) -> None:
    clock = Clock(now)
    runtime.now = clock
    attempts = runtime.settings.worker.max_attempts
    runtime.mailer = FailingMailer(
        *[DeliveryError(FailureKind.RETRY, f"fail {i}") for i in range(attempts + 5)]
    )
    row_id = queue_email(runtime)
    worker = Worker(runtime)
    for _ in range(attempts + 3):
        worker.run(once=True)
        clock.at += timedelta(hours=2)
    r = row(runtime, row_id)
    assert (r.status, r.attempts) == ("dead", attempts)
    assert r.last_error == f"DeliveryError: fail {attempts - 1}"


def test_invalid_request_goes_dead_at_once(runtime: Runtime) -> None:
    runtime.mailer = FailingMailer(DeliveryError(FailureKind.INVALID, "550 no such user"))
    row_id = queue_email(runtime)
    Worker(runtime).run(once=True)
    assert (row(runtime, row_id).status, row(runtime, row_id).attempts) == ("dead", 1)


def test_auth_failure_pauses_the_channel_and_alerts(runtime: Runtime) -> None:
    runtime.mailer = FailingMailer(DeliveryError(FailureKind.AUTH, "535 auth failed"))
    first, second = queue_email(runtime, "a"), queue_email(runtime, "b")
    Worker(runtime).run(once=True)
    with runtime.db.transaction() as s:
        assert "email" in outbox.paused_channels(s)
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
    assert {row(runtime, first).status, row(runtime, second).status} == {"pending"}
    with runtime.db.transaction() as s:
        outbox.set_paused(s, "email", False)
    Worker(runtime).run(once=True)
    assert {row(runtime, first).status, row(runtime, second).status} == {"sent"}


def test_expired_lease_is_taken_over_by_another_worker(runtime: Runtime, now: Any) -> None:
    clock = Clock(now)
    runtime.now = clock
    row_id = queue_email(runtime)
    crashed = Worker(runtime, worker_id="crashed")
    assert crashed.claim_outbound() == [row_id]  # then it dies without sending
    survivor = Worker(runtime, worker_id="survivor")
    assert survivor.claim_outbound() == []  # lease still valid
    clock.at = now + timedelta(seconds=runtime.settings.worker.lease_seconds + 1)
    survivor.run(once=True)
    assert row(runtime, row_id).status == "sent"
    assert crashed.deliver(row_id) == "lost"  # the late worker cannot record over it
    assert len(runtime.mailer.sent) == 1  # type: ignore[attr-defined]


def test_messenger_message_outside_the_window_waits_then_goes_in_order(
    runtime: Runtime, now: Any
) -> None:
    clock = Clock(now)
    runtime.now = clock
    with runtime.db.transaction() as s:
        s.add(MessengerIdentity(psid="p1", last_interaction_at=now - timedelta(hours=25)))
        for i in range(3):
            outbox.enqueue_messenger(s, key=f"m{i}", psid="p1", message={"text": f"#{i}"}, now=now)
    Worker(runtime).run(once=True)
    assert runtime.messenger.sent == []  # type: ignore[attr-defined]
    with runtime.db.transaction() as s:
        statuses = s.scalars(select(OutboundMessage.status).order_by(OutboundMessage.id)).all()
        # the first waits for the window; the later ones queue behind it, never overtaking
        assert statuses == ["awaiting_window", "pending", "pending"]
        identity = s.scalars(select(MessengerIdentity)).one()
        identity.last_interaction_at = now
        assert outbox.release_waiting(s, "p1", now) == 1
    Worker(runtime).run(once=True)
    sent = runtime.messenger.sent  # type: ignore[attr-defined]
    assert [m["message"]["text"] for m in sent] == ["#0", "#1", "#2"]
    assert {m["messaging_type"] for m in sent} == {"UPDATE"}


def test_unreachable_person_is_not_messaged_again(runtime: Runtime, now: Any) -> None:
    class Unreachable:
        def send(self, psid: str, message: Any, *, messaging_type: str, tag: Any = None) -> Any:
            raise DeliveryError(FailureKind.UNREACHABLE, "551 person unavailable", code=551)

    runtime.now = Clock(now)
    runtime.messenger = Unreachable()
    with runtime.db.transaction() as s:
        s.add(MessengerIdentity(psid="p1", last_interaction_at=now))
        outbox.enqueue_messenger(s, key="a", psid="p1", message={"text": "a"}, now=now)
        outbox.enqueue_messenger(s, key="b", psid="p1", message={"text": "b"}, now=now)
    Worker(runtime).run(once=True)
    with runtime.db.transaction() as s:
        statuses = s.scalars(select(OutboundMessage.status).order_by(OutboundMessage.id)).all()
        assert statuses == ["dead", "dead"]
        assert s.scalars(select(MessengerIdentity)).one().unreachable_at == now


def test_inbox_redelivery_is_stored_once_and_processed_once(runtime: Runtime) -> None:
    calls: list[str] = []
    runtime.inbox.register("messenger", "message", lambda s, e, rt: calls.append(e.event_key))
    with runtime.db.transaction() as s:
        assert store_event(s, source="messenger", event_key="mid:1", kind="message", payload={})
        assert not store_event(s, source="messenger", event_key="mid:1", kind="message", payload={})
        store_event(s, source="messenger", event_key="x", kind="read", payload={})
    Worker(runtime).run(once=True)
    assert calls == ["mid:1"]
    with runtime.db.transaction() as s:
        assert sorted(s.scalars(select(InboundEvent.status)).all()) == ["done", "ignored"]


def test_failing_handler_rolls_back_its_effects_and_retries_then_dies(
    runtime: Runtime, now: Any
) -> None:
    clock = Clock(now)
    runtime.now = clock

    def handler(s: Any, e: Any, rt: Any) -> None:
        outbox.enqueue_email(s, key="side-effect", to="a@example.jp", subject="s", body="b")
        raise ValueError("bad payload")

    runtime.inbox.register("messenger", "message", handler)
    with runtime.db.transaction() as s:
        store_event(s, source="messenger", event_key="mid:1", kind="message", payload={}, now=now)
    worker = Worker(runtime)
    for _ in range(runtime.settings.worker.max_attempts + 2):
        worker.run(once=True)
        clock.at += timedelta(hours=2)
    with runtime.db.transaction() as s:
        event = s.scalars(select(InboundEvent)).one()
        assert event.status == "dead"
        assert event.last_error == "ValueError: bad payload"
        assert s.scalar(select(func.count()).select_from(OutboundMessage)) == 0


def test_rate_limiter_spaces_calls() -> None:
    t = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(10, clock=lambda: t[0], sleep=slept.append)
    for _ in range(3):
        limiter.wait()
    assert slept == pytest.approx([0.1, 0.2])


def test_rate_limiter_makes_up_for_a_late_call() -> None:
    t = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(10, clock=lambda: t[0], sleep=slept.append)
    limiter.wait()
    t[0] = 0.15  # the second call comes late: it may start at once
    limiter.wait()
    t[0] = 0.17  # the third keeps the spacing from the second's slot (0.1 → 0.2)
    limiter.wait()
    assert slept == pytest.approx([0.03])


class BlockingMailer:
    """Sends, but the first send waits until `release` is set (a slow SMTP server)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> SendResult:
        if not self.sent:
            self.started.set()
            self.release.wait(timeout=10)
        self.sent.append(message)
        return SendResult(message_id=f"m{len(self.sent)}")


def test_a_stopped_worker_finishes_its_row_and_hands_the_rest_of_its_batch_back(
    runtime: Runtime,
) -> None:
    mailer = BlockingMailer()
    runtime.mailer = mailer
    ids = [queue_email(runtime, f"k{i}") for i in range(5)]
    stop = threading.Event()
    worker = Worker(runtime, worker_id="leaving")
    thread = threading.Thread(target=worker.run, kwargs={"stop": stop})
    thread.start()
    assert mailer.started.wait(timeout=10)
    stop.set()  # what SIGTERM does in `cityhall worker`
    mailer.release.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    rows = [row(runtime, i) for i in ids]
    assert [r.status for r in rows] == ["sent", "pending", "pending", "pending", "pending"]
    assert [r.attempts for r in rows[1:]] == [0, 0, 0, 0]  # handed back, not counted as tried
    assert all(r.lease_until is None for r in rows[1:])
    Worker(runtime, worker_id="next").run(once=True)  # taken at once, no lease to wait out
    assert [row(runtime, i).status for i in ids] == ["sent"] * 5


class SlowMailer:
    """Every send succeeds after `seconds` (a slow but healthy server); records what it sent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> SendResult:
        time.sleep(self.seconds)
        with self._lock:
            self.sent.append(message.headers["X-Cityhall-Key"])
        return SendResult(message_id=f"m{len(self.sent)}")


def test_a_batch_slower_than_the_lease_is_not_sent_again_by_another_worker(
    runtime: Runtime,
) -> None:
    """Five 0.6 s sends outlast a 1 s lease; the worker keeps its leases, the other gets none."""
    mailer = SlowMailer(0.6)
    runtime.mailer = mailer
    keys = [f"slow{i}" for i in range(5)]
    for key in keys:
        queue_email(runtime, key)
    slow = Worker(runtime, worker_id="slow")
    slow.cfg = dataclasses.replace(slow.cfg, lease_seconds=1, batch_size=5)
    other = Worker(runtime, worker_id="other")
    other.cfg = dataclasses.replace(other.cfg, lease_seconds=1)
    runtime.now = utcnow  # real time: leases run out as they would
    stop, claimed = threading.Event(), threading.Event()
    taken: list[int] = []
    claim = slow.claim_outbound

    def claim_then_signal() -> list[int]:
        ids = claim()
        claimed.set()
        return ids

    slow.claim_outbound = claim_then_signal  # type: ignore[method-assign]

    def keep_trying() -> None:
        claimed.wait(timeout=10)
        while not stop.is_set():
            for row_id in other.claim_outbound():
                taken.append(row_id)
                other.deliver(row_id)
            time.sleep(0.05)

    thief = threading.Thread(target=keep_trying)
    thief.start()
    slow.run(once=True)
    stop.set()
    thief.join(timeout=10)
    assert sorted(mailer.sent) == sorted(keys)  # each exactly once
    assert taken == []
