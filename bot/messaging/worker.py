"""The worker: processes the inbox and sends the outbox, after the deciding commit.

Rows are claimed with a lease (see leasing.py), processed one at a time, and each outcome is
committed on its own, so a worker killed at any point loses nothing: its leased rows are taken
over when the lease expires. A delivery that succeeded but whose "sent" mark was lost with the
process is the one case that can be sent twice (at most one message per killed worker).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased

from bot.alerts import raise_alert
from bot.messaging import outbox, policy, utility
from bot.messaging.leasing import backoff_delay, claim
from bot.messaging.rate import page_limiter
from bot.models import InboundEvent, MessengerIdentity, OutboundMessage, QueueStatus
from bot.outage import OutageLog
from bot.runtime import Runtime
from integrations.ports import DeliveryError, EmailMessage, FailureKind, SendResult, UserProfile

log = logging.getLogger(__name__)
UNFINISHED = (QueueStatus.PENDING, QueueStatus.LEASED, outbox.WAITING)
_CHANNEL_LABELS = {"messenger": "Messenger", "email": "メール"}


def _record(
    row: OutboundMessage,
    at: datetime,
    outcome: str,
    exc: Exception | None = None,
    *,
    messaging_type: str | None = None,
) -> None:
    """Add one attempt's end to the row's history (kept short; shown in the console)."""
    entry: dict[str, Any] = {"at": at.isoformat(timespec="seconds"), "outcome": outcome}
    if messaging_type:  # Messenger sends: RESPONSE, UPDATE, MESSAGE_TAG or UTILITY
        entry["messaging_type"] = messaging_type
    if exc is not None:
        entry["error"] = _error_text(exc)[:300]
    row.history = [*(row.history or []), entry][-20:]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class Worker:
    """Drains the inbox and the outbox of one database."""

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None) -> None:
        self.rt = runtime
        self.cfg = runtime.settings.worker
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.limiter = page_limiter(
            runtime.db.engine, runtime.settings.messenger.rate_limit_per_second
        )
        self.outage = OutageLog(log, f"worker {self.worker_id}", url=runtime.db.url)

    # -- outbox -------------------------------------------------------------------------------
    def _outbox_filter(self, session: Session, now: datetime) -> Any:
        """Skip paused channels; send a person's Messenger messages strictly in order, and
        paced: none within `per_person_interval_seconds` of the last one sent to that person."""
        earlier = aliased(OutboundMessage)
        in_order = ~exists().where(
            earlier.channel == "messenger",
            earlier.recipient == OutboundMessage.recipient,
            earlier.id < OutboundMessage.id,
            earlier.status.in_(UNFINISHED),
        )
        ready = in_order
        gap = self.rt.settings.messenger.per_person_interval_seconds
        if gap > 0:
            recent = aliased(OutboundMessage)
            ready = and_(
                in_order,
                ~exists().where(
                    recent.channel == "messenger",
                    recent.recipient == OutboundMessage.recipient,
                    recent.status == QueueStatus.SENT,
                    recent.sent_at > now - timedelta(seconds=gap),
                ),
            )
        condition: Any = (OutboundMessage.channel != "messenger") | ready
        paused = _with_profile(outbox.paused_channels(session))
        if paused:
            condition = and_(condition, OutboundMessage.channel.not_in(paused))
        return condition

    def claim_outbound(self) -> list[int]:
        """Lease a batch of due outbound rows to this worker."""
        now = self.rt.now()
        with self.rt.db.transaction() as session:
            return claim(
                session,
                OutboundMessage,
                now=now,
                worker_id=self.worker_id,
                limit=self.cfg.batch_size,
                lease_seconds=self.cfg.lease_seconds,
                where=self._outbox_filter(session, now),
            )

    def _mine(self, session: Session, model: Any, row_id: int) -> Any:
        row = session.get(model, row_id, with_for_update=self.rt.db.is_postgres)
        if row is None or row.status != QueueStatus.LEASED or row.leased_by != self.worker_id:
            return None  # the lease ran out and another worker took the row over
        return row

    def deliver(self, row_id: int) -> str:
        """Send one leased row and record the outcome; returns the row's new status."""
        now = self.rt.now()
        with self.rt.db.transaction() as session:
            row = self._mine(session, OutboundMessage, row_id)
            if row is None:
                return "lost"
            # The send (at most the transport's timeout) starts with a whole lease ahead of it.
            row.lease_until = now + timedelta(seconds=self.cfg.lease_seconds)
            job = self._prepare(session, row, now)
            if job is None:
                return str(row.status)
            channel, recipient, payload = row.channel, row.recipient, dict(row.payload)
            key, purpose = row.idempotency_key, row.purpose
        messaging_type = job.get("messaging_type")
        profile: UserProfile | None = None
        try:
            if channel == outbox.PROFILE and self.rt.profiles is not None:
                self.limiter.wait()  # a Graph call like a send: the Page's one rate
                profile = self.rt.profiles.user_profile(recipient)
                result = SendResult(message_id="")
            elif channel == "messenger":
                self.limiter.wait()
                result = self.rt.messenger.send(
                    recipient,
                    job.get("message") or payload["message"],
                    messaging_type=job["messaging_type"],
                    tag=job.get("tag"),
                )
            else:
                result = self.rt.mailer.send(
                    EmailMessage(
                        to=recipient,
                        subject=payload["subject"],
                        body=payload["body"],
                        headers={"X-Cityhall-Key": key},
                    )
                )
        except DeliveryError as exc:
            return self._failed(row_id, exc)
        except Exception as exc:  # an adapter bug must not kill the worker: retry, then dead
            log.exception("outbound %s (%s): unexpected transport error", row_id, purpose)
            return self._failed(row_id, DeliveryError(FailureKind.RETRY, _error_text(exc)))
        return self._sent(row_id, result, messaging_type, profile)

    def _prepare(
        self, session: Session, row: OutboundMessage, now: datetime
    ) -> dict[str, Any] | None:
        """Decide whether a leased row goes now; park it (and return None) if not."""
        if row.channel in _with_profile(outbox.paused_channels(session)):
            row.status, row.attempts, row.lease_until = QueueStatus.PENDING, row.attempts - 1, None
            return None
        if row.channel == outbox.PROFILE and self.rt.profiles is None:
            row.status, row.lease_until = QueueStatus.DEAD, None
            row.last_error = "this Messenger transport has no User Profile API"
            return None
        if row.channel != "messenger":
            return {}
        identity = session.scalars(
            select(MessengerIdentity).where(MessengerIdentity.psid == row.recipient)
        ).first()
        template_message = None
        if (
            self.rt.settings.messenger.utility_templates
            and (identity is None or identity.unreachable_at is None)
            and not policy.in_window(identity, now)
        ):
            template_message = utility.utility_message(
                session, row.purpose, row.payload, self.rt.settings.app.templates_dir
            )
        decision = policy.decide(
            identity,
            row.payload,
            now,
            human_agent_enabled=self.rt.settings.messenger.human_agent_enabled,
            utility_available=template_message is not None,
        )
        if decision.action == "send" and decision.messaging_type == "UTILITY":
            return {"messaging_type": "UTILITY", "tag": None, "message": template_message}
        if decision.action == "send":
            return {"messaging_type": decision.messaging_type, "tag": decision.tag}
        if decision.action == "wait":
            row.status, row.attempts, row.lease_until = outbox.WAITING, row.attempts - 1, None
            return None
        row.status, row.lease_until = QueueStatus.DEAD, None
        row.last_error = "recipient unreachable on Messenger"
        return None

    def _sent(
        self,
        row_id: int,
        result: SendResult,
        messaging_type: str | None = None,
        profile: UserProfile | None = None,
    ) -> str:
        with self.rt.db.transaction() as session:
            row = self._mine(session, OutboundMessage, row_id)
            if row is None:
                log.warning("outbound %s: sent, but its lease was lost before recording", row_id)
                return "lost"
            now = self.rt.now()
            row.status, row.sent_at, row.lease_until = QueueStatus.SENT, now, None
            row.provider_message_id, row.last_error = result.message_id, ""
            _record(row, now, "sent", messaging_type=messaging_type)
            if profile is not None:
                _store_profile(session, row.recipient, profile)
            hook = self.rt.after_sent.get(row.purpose)
            if hook is not None:
                hook(session, row, self.rt)
            return QueueStatus.SENT

    def _failed(self, row_id: int, exc: DeliveryError) -> str:
        with self.rt.db.transaction() as session:
            row = self._mine(session, OutboundMessage, row_id)
            if row is None:
                return "lost"
            now = self.rt.now()
            row.last_error, row.lease_until = _error_text(exc)[:2000], None
            unknown_before = any(h.get("outcome") == "unknown" for h in row.history or [])
            _record(row, now, "unknown" if exc.outcome_unknown else exc.kind.value, exc)
            if exc.outcome_unknown and unknown_before:
                # Twice maybe delivered: a third try is more likely a duplicate than a help.
                row.status = QueueStatus.DEAD
                row.last_error = (
                    "outcome unknown twice (the message may have arrived): "
                    "check the conversation before sending it again; " + row.last_error
                )[:2000]
            elif exc.kind is FailureKind.RETRY and row.attempts < self.cfg.max_attempts:
                delay = exc.retry_after or backoff_delay(
                    row.attempts,
                    base=self.cfg.backoff_base_seconds,
                    cap=self.cfg.backoff_max_seconds,
                )
                row.status, row.next_attempt_at = (
                    QueueStatus.PENDING,
                    now + timedelta(seconds=delay),
                )
            elif exc.kind is FailureKind.OUTSIDE_WINDOW:
                row.status, row.attempts = outbox.WAITING, row.attempts - 1
            elif exc.kind is FailureKind.AUTH:
                row.status, row.attempts, row.next_attempt_at = (
                    QueueStatus.PENDING,
                    row.attempts - 1,
                    now,
                )
                channel = "messenger" if row.channel == outbox.PROFILE else row.channel
                reason = f"{channel} sending paused: {exc.cause or exc}"
                outbox.set_paused(session, channel, True, reason=reason, now=now)
                raise_alert(
                    session,
                    kind="sending_paused",
                    key=channel,
                    message=f"{_CHANNEL_LABELS.get(channel, channel)}の送信を"
                    f"すべて一時停止しました。原因: {exc.cause or exc}"
                    f"（code {exc.code}, subcode {exc.subcode}）。"
                    "設定を直したらコンソールの送信箱で再開してください。",
                    now=now,
                    notify=self.rt.settings.mail.secretariat_address if channel != "email" else "",
                )
            else:
                row.status = QueueStatus.DEAD
                if exc.unknown:  # nobody documented it: this row only, and a person looks once
                    raise_alert(
                        session,
                        kind="delivery_error_unknown",
                        key=f"{row.channel}:{exc.code}/{exc.subcode}",
                        message=f"{_CHANNEL_LABELS.get(row.channel, row.channel)}が未知のエラー"
                        f"（code {exc.code}, subcode {exc.subcode}）を返しました。"
                        "該当する送信だけを止めています。送信箱で内容を確認してください。",
                        now=now,
                        notify=self.rt.settings.mail.secretariat_address,
                    )
                if exc.kind is FailureKind.UNREACHABLE and row.channel == "messenger":
                    identity = session.scalars(
                        select(MessengerIdentity).where(MessengerIdentity.psid == row.recipient)
                    ).first()
                    if identity is not None:
                        identity.unreachable_at = now
                        identity.unreachable_reason = str(exc)[:500]
            log.warning(
                "outbound %s (%s) failed: %s -> %s", row_id, row.purpose, exc.kind.value, row.status
            )
            return str(row.status)

    # -- inbox --------------------------------------------------------------------------------
    def claim_inbound(self) -> list[int]:
        """Lease a batch of due inbound events to this worker."""
        with self.rt.db.transaction() as session:
            return claim(
                session,
                InboundEvent,
                now=self.rt.now(),
                worker_id=self.worker_id,
                limit=self.cfg.batch_size,
                lease_seconds=self.cfg.lease_seconds,
            )

    def process_event(self, event_id: int) -> str:
        """Run an event's handler and mark it done, in one transaction; retry on error."""
        try:
            with self.rt.db.transaction() as session:
                event = self._mine(session, InboundEvent, event_id)
                if event is None:
                    return "lost"
                handler = self.rt.inbox.lookup(event.source, event.kind)
                if handler is not None:
                    handler(session, event, self.rt)
                event.status = QueueStatus.DONE if handler is not None else QueueStatus.IGNORED
                event.processed_at, event.lease_until = self.rt.now(), None
                return str(event.status)
        except Exception as exc:
            log.exception("inbound event %s: handler failed", event_id)
            with self.rt.db.transaction() as session:
                event = self._mine(session, InboundEvent, event_id)
                if event is None:
                    return "lost"
                event.last_error, event.lease_until = _error_text(exc), None
                if event.attempts >= self.cfg.max_attempts:
                    event.status = QueueStatus.DEAD
                else:
                    delay = backoff_delay(
                        event.attempts,
                        base=self.cfg.backoff_base_seconds,
                        cap=self.cfg.backoff_max_seconds,
                    )
                    event.status = QueueStatus.PENDING
                    event.next_attempt_at = self.rt.now() + timedelta(seconds=delay)
                return str(event.status)

    # -- loop ---------------------------------------------------------------------------------
    def drain_once(self, stop: threading.Event | None = None) -> int:
        """Process one batch of inbox events and one of outbox rows; return how many.

        When `stop` is set mid-batch, the rows not started yet are handed back at once (their
        leases released) instead of waiting for their leases to run out.
        """
        done = 0
        for model, claim_batch, work in (
            (InboundEvent, self.claim_inbound, self.process_event),
            (OutboundMessage, self.claim_outbound, self.deliver),
        ):
            claimed = claim_batch()
            renewed = time.monotonic()
            for position, row_id in enumerate(claimed):
                if stop is not None and stop.is_set():
                    self.release(model, claimed[position:])
                    return done
                if time.monotonic() - renewed > self.cfg.lease_seconds / 3:
                    # Slow sends: keep the rest of the batch ours, so no other worker sends
                    # what this one is about to send.
                    self.renew(model, claimed[position:])
                    renewed = time.monotonic()
                work(row_id)
                done += 1
        return done

    def renew(self, model: Any, ids: list[int]) -> int:
        """Extend this worker's leases on rows it holds; return how many it still held."""
        lease_until = self.rt.now() + timedelta(seconds=self.cfg.lease_seconds)
        return self._update_held(model, ids, lease_until=lease_until)

    def _update_held(self, model: Any, ids: list[int], **values: Any) -> int:
        """Update the rows among `ids` this worker still holds; return how many there were."""
        with self.rt.db.transaction() as session:
            result = session.execute(
                update(model)
                .where(
                    model.id.in_(ids),
                    model.status == QueueStatus.LEASED,
                    model.leased_by == self.worker_id,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def release(self, model: Any, ids: list[int]) -> int:
        """Give leased rows back (not attempted): another worker may take them at once."""
        if not ids:
            return 0
        released = self._update_held(
            model, ids, status=QueueStatus.PENDING, lease_until=None, attempts=model.attempts - 1
        )
        log.info("worker %s: %s leased row(s) handed back", self.worker_id, released)
        return released

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        """Work until stopped (SIGTERM/SIGINT in the `cityhall worker` process); with `once`,
        until nothing is due right now. A stop lets the current row finish and hands the rest
        of the batch back."""
        stop = stop or threading.Event()
        previous: dict[signal.Signals, Any] = {}
        if not once and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        try:
            self._loop(once, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self, once: bool, stop: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                done = self.drain_once(stop)
            except Exception as exc:
                if once:
                    raise
                # One line a minute while the database is down (not a trace per poll).
                self.outage.failure("drain failed, retrying", exc, with_traceback=True)
                done = 0
            else:
                self.outage.recovered()
            if done == 0:
                if once:
                    break
                stop.wait(self.cfg.poll_seconds)
        log.info("worker %s stopped", self.worker_id)


def _with_profile(paused: Mapping[str, Any]) -> list[str]:
    """The paused channels; User Profile calls use the Page's token and pause with Messenger."""
    channels = list(paused)
    return [*channels, outbox.PROFILE] if "messenger" in channels else channels


def _store_profile(session: Session, psid: str, profile: UserProfile) -> None:
    """Keep the names the User Profile API gave (join requests are matched by them)."""
    identity = session.scalars(
        select(MessengerIdentity).where(MessengerIdentity.psid == psid)
    ).first()
    if identity is None or identity.name:
        return
    identity.name = _storable(profile.name, 200)
    identity.first_name = _storable(profile.first_name, 100)
    identity.last_name = _storable(profile.last_name, 100)


def _storable(text: str | None, length: int) -> str:
    """A name as its column can hold it on every engine (no NUL, at most `length` characters)."""
    return (text or "").replace("\x00", "")[:length]
