"""Application queries and decisions shared by the CLI and the console."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import Application
from bot.onboarding import lifecycle
from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.invitations import allocate_invitations
from bot.onboarding.lifecycle import DomainError
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
) -> None:
    """Approve one application, allocate its invitations and email the member their link.

    An application whose email address is not proven is refused (`lifecycle.UnprovenIdentity`)
    unless the reviewer confirms they checked the person (`identity_checked`).
    """
    lifecycle.approve(app, actor=actor, at=at, reason=reason, identity_checked=identity_checked)
    app.cohort_key = at.astimezone(settings.tz).strftime("%Y-%m")
    session.flush()
    allocate_invitations(session, app, settings=settings, at=at)
    send_approval(session, app, settings=settings, at=at)


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
    session.flush()
    send_rejection(session, app, settings=settings, at=at, share_reason=notify)
