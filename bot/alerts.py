"""Alerts for the secretariat: kept open in the database until resolved, emailed once."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messaging.outbox import enqueue_email
from bot.models import Alert, Purpose

log = logging.getLogger(__name__)


def raise_alert(
    session: Session, *, kind: str, key: str, message: str, now: datetime, notify: str = ""
) -> Alert:
    """Open an alert unless the same one is already open; email `notify` the first time.

    An open alert takes the newest message (e.g. how many people wait now) without a new email.
    """
    existing = session.scalars(
        select(Alert).where(Alert.kind == kind, Alert.key == key, Alert.resolved_at.is_(None))
    ).first()
    if existing is not None:
        if existing.message != message:
            existing.message = message
        return existing
    alert = Alert(kind=kind, key=key, message=message, created_at=now)
    session.add(alert)
    session.flush()
    log.warning("alert %s opened (%s)", kind, key)
    if notify:
        enqueue_email(
            session,
            key=f"alert:{alert.id}",
            to=notify,
            purpose=Purpose.ALERT,
            subject=f"[cityhall] {message[:60]}",
            body=message,
            now=now,
        )
    return alert


def resolve_alerts(session: Session, *, kind: str, key: str, now: datetime) -> int:
    """Close the open alerts of one kind and key."""
    alerts = session.scalars(
        select(Alert).where(Alert.kind == kind, Alert.key == key, Alert.resolved_at.is_(None))
    ).all()
    return sum(resolve_alert(alert, now) for alert in alerts)


def resolve_alert(alert: Alert, now: datetime) -> bool:
    """Close one alert; False when it was already closed."""
    if alert.resolved_at is not None:
        return False
    alert.resolved_at = now
    log.info("alert %s resolved (%s)", alert.kind, alert.key)
    return True
