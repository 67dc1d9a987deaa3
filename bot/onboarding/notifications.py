"""Emails to applicants about their application (texts in bot/messaging/texts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messaging.outbox import enqueue_email
from bot.messaging.texts import render
from bot.models import Application, ApplicationStatus, OutboundMessage, Purpose
from bot.onboarding import lifecycle
from bot.onboarding.orientation import ORIENTATION_KINDS, next_session


def messenger_link(settings: Settings, app: Any) -> str:
    """The applicant's m.me link that ties their Messenger identity to the application."""
    return f"https://m.me/{settings.messenger.page_username}?ref={app.link_token}"


def email_applicant(
    session: Session,
    settings: Settings,
    app: Application,
    *,
    key: str,
    template: str,
    purpose: str,
    at: datetime,
    not_before: datetime | None = None,
    **context: object,
) -> OutboundMessage:
    """Render `template` (with the application and settings in its context) and queue it to the
    applicant's email address, keyed `key` so it goes out once (not before `not_before`)."""
    text = render(template, settings.app.templates_dir, app=app, settings=settings, **context)
    return enqueue_email(
        session,
        key=key,
        to=app.email,
        subject=text.subject,
        body=text.body,
        purpose=purpose,
        application_id=app.id,
        now=at,
        not_before=not_before,
    )


@dataclass(frozen=True)
class PlannedEmail:
    """An email decided and rendered, not yet queued."""

    key: str
    purpose: str
    subject: str
    body: str


NOT_COMPUTED: Any = object()


def screening_email(
    app: Any, *, settings: Settings, at: datetime, upcoming: Any = NOT_COMPUTED
) -> PlannedEmail | None:
    """What a new applicant gets after verification: the confirmation, or the configured notice.

    `app` is an Application (or anything with its code, email, names and link token);
    `upcoming` lets a caller that plans many emails compute the next orientation once.
    """
    if app.verdict == "ineligible":
        if settings.verification.ineligible_email != "notice":
            return None
        key, template, purpose = f"ineligible:{app.code}", "ineligible", Purpose.INELIGIBLE_NOTICE
        context: dict[str, Any] = {}
    else:
        if upcoming is NOT_COMPUTED:
            upcoming = next_session(at, settings.orientation, ORIENTATION_KINDS, tz=settings.tz)
        key, template, purpose = f"confirmation:{app.code}", "confirmation", Purpose.CONFIRMATION
        context = {
            "link": messenger_link(settings, app),
            "session_info": upcoming,
            "tz": settings.tz,
        }
    text = render(template, settings.app.templates_dir, app=app, settings=settings, **context)
    return PlannedEmail(key=key, purpose=purpose, subject=text.subject, body=text.body)


def after_screening(
    session: Session, app: Application, *, settings: Settings, at: datetime
) -> None:
    """Send the confirmation email (or, for an ineligible verdict, the configured notice)."""
    if app.status != ApplicationStatus.SUBMITTED:
        return
    planned = screening_email(app, settings=settings, at=at)
    if planned is not None:
        enqueue_email(
            session,
            key=planned.key,
            to=app.email,
            subject=planned.subject,
            body=planned.body,
            purpose=planned.purpose,
            application_id=app.id,
            now=at,
        )


def after_confirmation_sent(session: Session, row: OutboundMessage, runtime: object) -> None:
    """The confirmation went out: the application now waits for the Facebook join request."""
    app = session.get(Application, row.application_id) if row.application_id else None
    if app is not None and lifecycle.can(app, "confirmation_sent"):
        lifecycle.confirmation_sent(app, at=row.sent_at or app.status_changed_at)


def send_approval(session: Session, app: Application, *, settings: Settings, at: datetime) -> None:
    """Welcome the member and give them the m.me link that receives the invitations."""
    upcoming = next_session(at, settings.orientation, ORIENTATION_KINDS, tz=settings.tz)
    email_applicant(
        session,
        settings,
        app,
        key=f"approved:{app.code}",
        template="approved",
        purpose=Purpose.APPROVED,
        at=at,
        not_before=app.undo_until,  # an approval being undone sends nothing
        link=messenger_link(settings, app),
        linked=app.messenger_identity_id is not None,
        session_info=upcoming,
        tz=settings.tz,
    )


def send_rejection(
    session: Session, app: Application, *, settings: Settings, at: datetime, share_reason: bool
) -> None:
    """Tell a rejected applicant, with the reason only when the reviewer chose to share it."""
    email_applicant(
        session,
        settings,
        app,
        key=f"rejection:{app.code}",
        template="rejection",
        purpose=Purpose.REJECTION,
        at=at,
        share_reason=share_reason,
        reason=app.decision_reason,
    )
