"""The outbox: outbound Messenger messages and emails as rows, sent by the worker after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import OutboundMessage, Purpose, QueueStatus, SystemFlag, utcnow

WAITING = QueueStatus.AWAITING_WINDOW
PROFILE = "profile"  # the channel of User Profile API calls (Messenger's rate and pause apply)


def outbound_row(
    *,
    key: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    purpose: str = "",
    application_id: int | None = None,
    now: datetime,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a new outbox row (for `enqueue`, or many at once for a bulk insert).

    `not_before` holds the row back: the worker claims it only from then on.
    """
    return {
        "idempotency_key": key,
        "channel": channel,
        "recipient": recipient,
        "payload": payload,
        "purpose": purpose,
        "application_id": application_id,
        "status": QueueStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": max(now, not_before) if not_before else now,
        "created_at": now,
        "leased_by": "",
        "last_error": "",
        "provider_message_id": "",
    }


def enqueue(
    session: Session,
    *,
    key: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    purpose: str = "",
    application_id: int | None = None,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> OutboundMessage:
    """Queue one message once: a second call with the same key returns the first row unchanged.

    `not_before`: not sent before then (an approval's undo window).
    """
    row = outbound_row(
        key=key,
        channel=channel,
        recipient=recipient,
        payload=payload,
        purpose=purpose,
        application_id=application_id,
        now=now or utcnow(),
        not_before=not_before,
    )
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, OutboundMessage.__table__)
    session.execute(insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]), row)
    return session.scalars(
        select(OutboundMessage).where(OutboundMessage.idempotency_key == key)
    ).one()


def enqueue_email(
    session: Session,
    *,
    key: str,
    to: str,
    subject: str,
    body: str,
    purpose: str = "",
    application_id: int | None = None,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> OutboundMessage:
    """Queue an email (idempotent by key)."""
    return enqueue(
        session,
        key=key,
        channel="email",
        recipient=to,
        purpose=purpose,
        application_id=application_id,
        now=now,
        not_before=not_before,
        payload={"subject": subject, "body": body},
    )


def enqueue_messenger(
    session: Session,
    *,
    key: str,
    psid: str,
    message: dict[str, Any],
    purpose: str = "",
    application_id: int | None = None,
    response: bool = False,
    utility: dict[str, Any] | None = None,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> OutboundMessage:
    """Queue a Send API message (idempotent by key); `response` marks a reply to the person.

    `utility` ({"params": {name: text}, "url": button URL}) fills the purpose's utility template
    when the message is sent outside the 24-hour window (see bot.messaging.utility).
    """
    payload: dict[str, Any] = {"message": message, "response": response}
    if utility is not None:
        payload["utility"] = utility
    return enqueue(
        session,
        key=key,
        channel="messenger",
        recipient=psid,
        purpose=purpose,
        application_id=application_id,
        now=now,
        not_before=not_before,
        payload=payload,
    )


def enqueue_profile_lookup(
    session: Session, *, psid: str, application_id: int | None, now: datetime | None = None
) -> OutboundMessage:
    """Queue one User Profile API call for a person (once per PSID), made by the worker.

    The call is a side effect like a send: it runs after the commit, outside any transaction,
    so a slow Graph never holds the locks of the linking that asked for it.
    """
    return enqueue(
        session,
        key=f"profile:{psid}",
        channel=PROFILE,
        recipient=psid,
        purpose=Purpose.PROFILE_LOOKUP,
        application_id=application_id,
        now=now,
        payload={},
    )


def release_waiting(session: Session, psid: str, now: datetime) -> int:
    """The person opened the thread: everything waiting for the window becomes due, in order."""
    result = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.channel == "messenger",
            OutboundMessage.recipient == psid,
            OutboundMessage.status == WAITING,
        )
        .values(status=QueueStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pause_flag(channel: str) -> str:
    """The name of the flag that pauses one channel's sending."""
    return f"paused:{channel}"


def paused_channels(session: Session) -> dict[str, dict[str, Any]]:
    """Channels whose sending is paused, with why and since when."""
    flags = session.scalars(select(SystemFlag).where(SystemFlag.name.like("paused:%"))).all()
    return {f.name.split(":", 1)[1]: f.value for f in flags if f.value.get("paused")}


def set_paused(
    session: Session, channel: str, paused: bool, *, reason: str = "", now: datetime | None = None
) -> None:
    """Pause or resume all sending on a channel."""
    now = now or utcnow()
    flag = session.get(SystemFlag, pause_flag(channel))
    value = {"paused": paused, "reason": reason, "since": now.isoformat()}
    if flag is None:
        session.add(SystemFlag(name=pause_flag(channel), value=value, updated_at=now))
    else:
        flag.value = value
        flag.updated_at = now


def retry_now(session: Session, row: OutboundMessage, now: datetime) -> None:
    """Put a dead or waiting message back in the queue (console 'retry')."""
    row.status = QueueStatus.PENDING
    row.next_attempt_at = now
    row.attempts = 0
    row.lease_until = None


def withdraw_unsent(session: Session, row: OutboundMessage) -> bool:
    """Cancel a row that no worker has started (pending or waiting) and free its key.

    The key gets the row's id appended, so the same message can be queued again later (an
    approval undone and made again). A leased row may be on its way: it is left alone, and so is
    a sent, dead or cancelled one. Returns whether the row was cancelled.
    """
    if row.status not in {QueueStatus.PENDING, WAITING}:
        return False
    row.status = QueueStatus.CANCELLED
    row.idempotency_key = f"{row.idempotency_key[:180]}:withdrawn:{row.id}"
    return True


def cancel(session: Session, row: OutboundMessage) -> bool:
    """Cancel a message that has not been sent; returns False if it already went."""
    if row.status in {QueueStatus.SENT, QueueStatus.CANCELLED}:
        return False
    row.status = QueueStatus.CANCELLED
    return True
