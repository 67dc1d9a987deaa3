"""join-request-reminders: nudge applicants whose Facebook join request has not been seen.

A reminder email `join_request_after_days` after the confirmation, then every
`join_request_spacing_days`, at most `join_request_max`; after `expire_after_days` the
application expires and the applicant is told how to apply again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.models import Application, ApplicationStatus, Purpose
from bot.onboarding import lifecycle
from bot.onboarding.notifications import email_applicant
from jobs.context import JobContext


def run(ctx: JobContext) -> str:
    """Send due reminders and expire stale applications."""
    cfg = ctx.settings.reminders
    now = ctx.now
    first_due = now - timedelta(days=cfg.join_request_after_days)
    spacing = timedelta(days=cfg.join_request_spacing_days)
    apps = ctx.session.scalars(
        select(Application)
        .where(
            Application.status == ApplicationStatus.AWAITING_JOIN_REQUEST,
            Application.confirmation_sent_at.is_not(None),
            Application.confirmation_sent_at <= first_due,
            Application.join_request_seen_at.is_(None),
        )
        .order_by(Application.id)
        .with_for_update(skip_locked=True)
    ).all()
    reminded = expired = 0
    for app in apps:
        assert app.confirmation_sent_at is not None
        waited = now - app.confirmation_sent_at
        if waited >= timedelta(days=cfg.expire_after_days):
            _expire(ctx, app)
            expired += 1
            continue
        n = app.join_request_reminders
        if n >= cfg.join_request_max:
            continue
        if waited < timedelta(days=cfg.join_request_after_days) + n * spacing:
            continue
        if app.last_reminder_at is not None and now - app.last_reminder_at < spacing:
            continue
        _remind(ctx, app, n + 1)
        reminded += 1
    return f"reminded {reminded}, expired {expired}"


def _remind(ctx: JobContext, app: Application, n: int) -> None:
    cfg = ctx.settings.reminders
    assert app.confirmation_sent_at is not None
    deadline = (app.confirmation_sent_at + timedelta(days=cfg.expire_after_days)).astimezone(
        ctx.settings.tz
    )
    email_applicant(
        ctx.session,
        ctx.settings,
        app,
        key=f"jr-reminder:{app.code}:{n}",
        template="join_request_reminder",
        purpose=Purpose.JOIN_REQUEST_REMINDER,
        at=ctx.now,
        full_name=app.full_name,
        code=app.code,
        group_url=ctx.settings.app.facebook_group_url,
        number=n,
        deadline=f"{deadline.month}月{deadline.day}日",
    )
    app.join_request_reminders = n
    app.last_reminder_at = ctx.now
    lifecycle.audit(
        app, actor="system", at=ctx.now, action="join_request_reminder_sent", detail={"number": n}
    )


def _expire(ctx: JobContext, app: Application) -> None:
    cfg = ctx.settings.reminders
    lifecycle.expire(app, at=ctx.now, reason=f"no join request within {cfg.expire_after_days} days")
    email_applicant(
        ctx.session,
        ctx.settings,
        app,
        key=f"expired:{app.code}",
        template="application_expired",
        purpose=Purpose.APPLICATION_EXPIRED,
        at=ctx.now,
        full_name=app.full_name,
        code=app.code,
        days=cfg.expire_after_days,
        apply_url=cfg.apply_url,
    )
