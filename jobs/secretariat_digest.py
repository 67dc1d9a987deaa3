"""secretariat-digest: the daily summary email to the secretariat (事務局)."""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bot.messaging.outbox import enqueue_email
from bot.models import (
    Alert,
    Application,
    ApplicationStatus,
    Base,
    InboundEvent,
    JoinRequest,
    JoinRequestStatus,
    OutboundMessage,
    Purpose,
    QuarantinedRow,
    QueueStatus,
)
from bot.onboarding.lifecycle import OPEN
from jobs.context import JobContext

log = logging.getLogger(__name__)
VERDICTS = {"verified": "確認済み", "needs_review": "要確認", "ineligible": "対象外の可能性"}


def run(ctx: JobContext) -> str:
    """Queue today's digest (once a day) when a secretariat address is configured."""
    address = ctx.settings.mail.secretariat_address
    if not address:
        log.info("secretariat digest skipped: mail.secretariat_address is not set")
        return "skipped: mail.secretariat_address is not set"
    s = ctx.session
    open_statuses = [status.value for status in OPEN]
    by_verdict = dict(
        s.execute(
            select(Application.verdict, func.count())
            .where(Application.status.in_(open_statuses))
            .group_by(Application.verdict)
        )
        .tuples()
        .all()
    )
    pending = [
        {"verdict": v, "label": label, "count": by_verdict.get(v, 0)}
        for v, label in VERDICTS.items()
    ]
    pending += [
        {"verdict": v, "label": v, "count": n}
        for v, n in sorted(by_verdict.items())
        if v not in VERDICTS
    ]
    oldest = s.scalar(
        select(func.min(Application.submitted_at)).where(Application.status.in_(open_statuses))
    )
    ready = _count(s, Application, Application.status == ApplicationStatus.READY_FOR_REVIEW)
    dead = _count(s, OutboundMessage, OutboundMessage.status == QueueStatus.DEAD)
    unmatched = _count(s, JoinRequest, JoinRequest.status == JoinRequestStatus.UNMATCHED)
    unprocessed = _count(
        s, InboundEvent, InboundEvent.status.in_((QueueStatus.INVALID, QueueStatus.DEAD))
    )
    quarantined = _count(s, QuarantinedRow, QuarantinedRow.resolved_at.is_(None))
    alerts = s.scalars(
        select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.created_at)
    ).all()
    today = ctx.local_now.date()
    text = ctx.text(
        "secretariat_digest",
        date=f"{today.year}年{today.month}月{today.day}日",
        pending=pending,
        pending_total=sum(by_verdict.values()),
        ready=ready,
        oldest_days=None if oldest is None else (ctx.now - oldest).days,
        dead=dead,
        unmatched=unmatched,
        unprocessed=unprocessed,
        quarantined=quarantined,
        alerts=[
            {
                "message": a.message,
                "since": a.created_at.astimezone(ctx.settings.tz).strftime("%m/%d %H:%M"),
            }
            for a in alerts[:30]
        ],
        alerts_total=len(alerts),
        console_url=ctx.settings.app.base_url.rstrip("/") + "/console/",
    )
    enqueue_email(
        s,
        key=f"digest:{today.isoformat()}",
        to=address,
        subject=text.subject,
        body=text.body,
        purpose=Purpose.SECRETARIAT_DIGEST,
        now=ctx.now,
    )
    return (
        f"pending {sum(by_verdict.values())}, dead {dead}, unmatched {unmatched}, "
        f"inbound problems {unprocessed}, quarantined {quarantined}, alerts {len(alerts)}"
    )


def _count(session: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
