"""messenger-link-reminders: re-send the m.me link to approved members Messenger cannot reach.

An approved member whose invitations still wait for the 24-hour window (or who never linked
Messenger) gets the link by email `link_after_days` after approval, then again after as many
days again, at most `link_max` times.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, or_, select

from bot.messaging.outbox import WAITING
from bot.models import Application, ApplicationStatus, OutboundMessage, Purpose
from bot.onboarding import lifecycle
from bot.onboarding.notifications import email_applicant, messenger_link
from jobs.context import JobContext


def run(ctx: JobContext) -> str:
    """Email the link to members whose invitations are stuck outside the window."""
    cfg = ctx.settings.reminders
    now = ctx.now
    after = timedelta(days=cfg.link_after_days)
    waiting = exists().where(
        OutboundMessage.application_id == Application.id,
        OutboundMessage.channel == "messenger",
        OutboundMessage.status == WAITING,
    )
    apps = ctx.session.scalars(
        select(Application)
        .where(
            Application.status == ApplicationStatus.APPROVED,
            Application.approved_at.is_not(None),
            Application.approved_at <= now - after,
            Application.link_reminders < cfg.link_max,
            or_(Application.messenger_identity_id.is_(None), waiting),
        )
        .order_by(Application.id)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for app in apps:
        assert app.approved_at is not None
        n = app.link_reminders
        if now - app.approved_at < after * (n + 1):
            continue
        last = app.last_reminder_at
        if last is not None and last > app.approved_at and now - last < after:
            continue
        email_applicant(
            ctx.session,
            ctx.settings,
            app,
            key=f"link-reminder:{app.code}:{n + 1}",
            template="link_reminder",
            purpose=Purpose.LINK_REMINDER,
            at=now,
            full_name=app.full_name,
            code=app.code,
            link_url=messenger_link(ctx.settings, app),
            number=n + 1,
        )
        app.link_reminders = n + 1
        app.last_reminder_at = now
        lifecycle.audit(
            app, actor="system", at=now, action="link_reminder_sent", detail={"number": n + 1}
        )
        sent += 1
    return f"reminded {sent}"
