"""Application queries and decisions shared by the CLI and the console."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messaging.outbox import withdraw_unsent
from bot.models import Application, OutboundMessage, Purpose, QueueStatus
from bot.onboarding import claims, lifecycle
from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.invitations import allocate_invitations, withdraw_invitations
from bot.onboarding.lifecycle import DomainError, UndoRefused
from bot.onboarding.notifications import send_approval, send_rejection


class NotFound(DomainError):
    """No application has that registration code."""


def canonical_code(text: str) -> str:
    """Normalise a typed registration code (width, case, spaces, hyphen variants)."""
    return normalize_registration_code(text) or unicodedata.normalize(
        "NFKC", text
    ).strip().upper().replace(" ", "")


def get_by_code(session: Session, code: str) -> Application:
    """The application with this registration code, or NotFound."""
    app = session.scalars(
        select(Application).where(Application.code == canonical_code(code))
    ).first()
    if app is None:
        raise NotFound(f"no application with code {code.strip()!r}")
    return app


def list_applications(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> Sequence[Application]:
    """Applications, oldest first, optionally of one status."""
    query = select(Application).order_by(Application.submitted_at, Application.id)
    if status:
        query = query.where(Application.status == status)
    if limit:
        query = query.limit(limit)
    return session.scalars(query).all()


def to_json(app: Application, tz: ZoneInfo) -> dict[str, Any]:
    """The documented JSON shape of an application (README: "applications list --json")."""
    return {
        "code": app.code,
        "status": app.status,
        "verdict": app.verdict,
        "reasons": [
            {"code": r.get("code", ""), "message": r.get("message", "")}
            for r in (app.reasons or [])
        ],
        "email": app.email,
        "full_name": app.full_name,
        "kana": app.kana,
        "facebook_name": app.facebook_name,
        "organization_text": app.organization_text,
        "organization_code": app.organization_code,
        "organization_name": app.organization_name,
        "prefecture": app.prefecture,
        "service_type": app.service_type,
        "submitted_at": app.submitted_at.astimezone(tz).isoformat(),
        "status_changed_at": app.status_changed_at.astimezone(tz).isoformat(),
        "join_request_seen": app.join_request_seen_at is not None,
        "messenger_linked": app.messenger_identity_id is not None,
        "email_proven_by": app.email_proven_by or "",
        "email_proven_at": (
            app.email_proven_at.astimezone(tz).isoformat() if app.email_proven_at else None
        ),
        "pending_change": bool(app.pending_change),
    }


def approve(
    session: Session,
    app: Application,
    *,
    settings: Settings,
    actor: str,
    at: datetime,
    reason: str = "",
    identity_checked: bool = False,
    join_request_confirmed: bool | None = None,
    undo_seconds: int = 0,
) -> None:
    """Approve one application, allocate its invitations and email the member their link.

    An application whose email address is not proven is refused (`lifecycle.UnprovenIdentity`)
    unless the reviewer confirms they checked the person (`identity_checked`); one whose join
    request was never matched needs the reviewer's answer (`join_request_confirmed`). With
    `undo_seconds`, nothing the approval queues is sent before that many seconds have passed,
    and `undo_approval` can take it back until then.
    """
    lifecycle.approve(
        app,
        actor=actor,
        at=at,
        reason=reason,
        identity_checked=identity_checked,
        join_request_confirmed=join_request_confirmed,
    )
    app.cohort_key = at.astimezone(settings.tz).strftime("%Y-%m")
    app.undo_until = at + timedelta(seconds=undo_seconds) if undo_seconds > 0 else None
    claims.clear_after_decision(app)
    session.flush()
    allocate_invitations(session, app, settings=settings, at=at)
    send_approval(session, app, settings=settings, at=at)


# What an approval queues: held back during its undo window, withdrawn by an undo.
APPROVAL_PURPOSES = (Purpose.APPROVED, Purpose.INVITATION)


def lock(session: Session, app: Application) -> Application:
    """Lock the application's row for this transaction and read it afresh.

    A no-op UPDATE: on PostgreSQL it holds the row until the commit (a second web worker doing
    the same waits, then sees the first one's result); on SQLite it takes the database's write
    lock, which the worker's claim of outbox rows needs too.
    """
    session.execute(
        update(Application)
        .where(Application.id == app.id)
        .values(status=Application.status)
        .execution_options(synchronize_session=False)
    )
    session.refresh(app)
    return app


def undo_approval(session: Session, app: Application, *, actor: str, at: datetime) -> int:
    """Take back an approval within its window: nothing it queued is sent, its seats are freed.

    Refused (`lifecycle.UndoRefused`, nothing changed) after the window, or when any of its
    messages was already claimed by the worker or sent: a message on its way is never marked
    cancelled. The outbox rows are locked first (FOR UPDATE on PostgreSQL; the worker's claim
    skips locked rows and, having claimed one, commits it leased before we can read it).
    Returns how many messages were withdrawn.
    """
    lock(session, app)
    if app.status != "approved":
        raise UndoRefused(f"{app.code}: not approved ({app.status})")
    if app.undo_until is None or at >= app.undo_until:
        raise UndoRefused(f"{app.code}: the time to undo the approval is over", "expired")
    query = (
        select(OutboundMessage)
        .where(
            OutboundMessage.application_id == app.id,
            OutboundMessage.purpose.in_([p.value for p in APPROVAL_PURPOSES]),
            OutboundMessage.status != QueueStatus.CANCELLED,
        )
        .order_by(OutboundMessage.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    rows = session.scalars(query).all()
    if app.approved_at is not None:
        rows = [r for r in rows if r.created_at >= app.approved_at]
    unsent = {QueueStatus.PENDING, QueueStatus.AWAITING_WINDOW}
    if any(r.status not in unsent for r in rows):
        raise UndoRefused(f"{app.code}: a message of the approval is on its way", "started")
    entry = lifecycle.undo_approve(app, actor=actor, at=at)
    withdrawn = sum(withdraw_unsent(session, r) for r in rows)
    freed = withdraw_invitations(session, app)
    session.expire(app, ["invitations"])
    entry.detail = {**entry.detail, "messages_withdrawn": withdrawn, "seats_freed": freed}
    return withdrawn


def close_without_email(
    session: Session, app: Application, *, actor: str, at: datetime, reason: str
) -> None:
    """Close an open application without any email (the applicant was already told)."""
    lifecycle.close_without_email(app, actor=actor, at=at, reason=reason)
    claims.clear_after_decision(app)
    session.flush()


def reject(
    session: Session,
    app: Application,
    *,
    settings: Settings,
    actor: str,
    at: datetime,
    reason: str,
    notify: bool,
) -> None:
    """Reject one application and tell the applicant (the reason only when `notify`)."""
    lifecycle.reject(app, actor=actor, at=at, reason=reason, notify=notify)
    claims.clear_after_decision(app)
    session.flush()
    send_rejection(session, app, settings=settings, at=at, share_reason=notify)
