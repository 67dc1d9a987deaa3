"""orientation: on the day of a session, remind recently approved members of it.

By Messenger when the member is inside the 24-hour window, by email otherwise; once per member
per session (one idempotency key for both channels). The reminder of a 大説明会 names the 課
that introduce themselves there (`introduce_at_grand` in the 課 directory).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.community.sections import grand_section_names
from bot.messaging.compose import text_message
from bot.messaging.outbox import enqueue_email, enqueue_messenger
from bot.messaging.policy import in_window
from bot.models import Application, ApplicationStatus, Purpose
from bot.onboarding.orientation import LARGE, Session, sessions_on
from jobs.context import JobContext

WEEKDAYS_JA = "月火水木金土日"


def describe_when(session: Session) -> str:
    """E.g. ``11月27日（金）21:00〜22:00``."""
    start, end = session.starts_at, session.ends_at
    return (
        f"{start.month}月{start.day}日（{WEEKDAYS_JA[start.weekday()]}）{start:%H:%M}〜{end:%H:%M}"
    )


def run(ctx: JobContext) -> str:
    """Remind members approved in the last `announce_days` days of today's sessions."""
    cfg = ctx.settings.orientation
    today = ctx.local_now.date()
    sessions = [
        s
        for s in sessions_on(today, cfg, ctx.settings.tz)
        if s.kind in cfg.remind_kinds and s.starts_at > ctx.now
    ]
    if not sessions:
        return "no session today"
    members = ctx.session.scalars(
        select(Application)
        .where(
            Application.status.in_([ApplicationStatus.APPROVED, ApplicationStatus.INVITED]),
            Application.approved_at.is_not(None),
            Application.approved_at >= ctx.now - timedelta(days=cfg.announce_days),
            Application.erased_at.is_(None),
        )
        .options(selectinload(Application.messenger_identity))
        .order_by(Application.id)
    ).all()
    grand = grand_section_names(ctx.session) if any(s.kind == LARGE for s in sessions) else []
    by_messenger = by_email = 0
    for session in sessions:
        introduced = grand if session.kind == LARGE else []
        for app in members:
            if _remind(ctx, app, session, introduced):
                by_messenger += 1
            else:
                by_email += 1
    names = ", ".join(s.key for s in sessions)
    return f"{names}: {by_messenger} by Messenger, {by_email} by email"


def _remind(ctx: JobContext, app: Application, session: Session, grand_sections: list[str]) -> bool:
    """Queue one reminder; return whether it goes by Messenger."""
    text = ctx.text(
        "orientation_reminder",
        full_name=app.full_name,
        session_name=session.name,
        when=describe_when(session),
        zoom_url=session.zoom_url,
        grand_sections=grand_sections,
    )
    key = f"orientation:{session.key}:{app.code}"
    identity = app.messenger_identity
    if identity is not None and identity.unreachable_at is None and in_window(identity, ctx.now):
        enqueue_messenger(
            ctx.session,
            key=key,
            psid=identity.psid,
            message=text_message(text.body[:2000]),
            purpose=Purpose.ORIENTATION_REMINDER,
            application_id=app.id,
            utility={
                "params": {
                    "session_name": session.name,
                    "when": describe_when(session),
                    "zoom_url": session.zoom_url,
                }
            },
            now=ctx.now,
        )
        return True
    enqueue_email(
        ctx.session,
        key=key,
        to=app.email,
        subject=text.subject,
        body=text.body,
        purpose=Purpose.ORIENTATION_REMINDER,
        application_id=app.id,
        now=ctx.now,
    )
    return False
