"""retention: erase the personal data of applications closed long enough ago.

Applications rejected, withdrawn, expired or merged as duplicates more than `erase_after_days`
ago (from their last status change) keep only what is not personal: code, status, verdict
codes, organization, prefecture and dates. Their audit history keeps who did what and when, but
not the free-text reasons nor the before/after values of edited answers (only which questions
changed). An anonymous ApplicationStat row and an audit entry (no personal data) are left;
`erased_at` marks the application so a second run skips it.
Job-run history older than `job_runs_days` is pruned too (but for each job's latest scheduled
run, which tells a new leader what was made), and so are webhook events received more
than `inbound_days` ago once handled (done, ignored, dismissed): they hold PSIDs and message
text. Unreadable and failed events stay until someone deals with them in the console.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.messaging import typed_codes
from bot.models import (
    Application,
    ApplicationStat,
    ApplicationStatus,
    InboundEvent,
    JobRun,
    JoinRequest,
    LinkAttempt,
    MessengerIdentity,
    OutboundMessage,
    ReviewerNote,
)
from bot.onboarding import lifecycle
from jobs.context import JobContext

CLOSED = (
    ApplicationStatus.REJECTED,
    ApplicationStatus.WITHDRAWN,
    ApplicationStatus.EXPIRED,
    ApplicationStatus.DUPLICATE,
)
UNSENT = ("pending", "leased", "awaiting_window")
HANDLED = ("done", "ignored", "dismissed")  # inbound events nobody needs to look at again


def run(ctx: JobContext) -> str:
    """Erase every application due for it."""
    days = ctx.settings.retention.erase_after_days
    apps = ctx.session.scalars(
        select(Application)
        .where(
            Application.status.in_([s.value for s in CLOSED]),
            Application.erased_at.is_(None),
            Application.status_changed_at <= ctx.now - timedelta(days=days),
        )
        .order_by(Application.id)
        .with_for_update(skip_locked=True)
    ).all()
    for app in apps:
        erase(ctx, app)
    latest_scheduled = (
        select(func.max(JobRun.id)).where(JobRun.scheduled_for.is_not(None)).group_by(JobRun.job)
    )
    pruned = ctx.session.execute(
        delete(JobRun)
        .where(
            JobRun.started_at < ctx.now - timedelta(days=ctx.settings.retention.job_runs_days),
            JobRun.id.not_in(latest_scheduled),
        )
        .returning(JobRun.id)
        .execution_options(synchronize_session=False)
    ).all()
    cfg = ctx.settings.retention
    events = ctx.session.execute(
        delete(InboundEvent)
        .where(
            InboundEvent.status.in_(HANDLED),
            InboundEvent.received_at < ctx.now - timedelta(days=cfg.inbound_days),
        )
        .returning(InboundEvent.id)
        .execution_options(synchronize_session=False)
    ).all()
    attempts = sweep_link_attempts(ctx.session, ctx.now)
    return (
        f"erased {len(apps)}"
        + (f", pruned {len(pruned)} job runs" if pruned else "")
        + (f", pruned {len(events)} inbound events" if events else "")
        + (f", pruned {attempts} typed-code checks" if attempts else "")
    )


def sweep_link_attempts(session: Session, now: datetime) -> int:
    """Delete typed-code checks past their use (a PSID and a code each) and stale typed codes.

    They are otherwise pruned only when the next check is recorded, which may never come.
    """
    gone = session.execute(
        delete(LinkAttempt)
        .where(LinkAttempt.at < now - typed_codes.KEEP_ATTEMPTS)
        .returning(LinkAttempt.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.execute(
        update(MessengerIdentity)
        .where(
            MessengerIdentity.link_code.is_not(None),
            MessengerIdentity.link_code_at < now - typed_codes.PENDING_FOR,
        )
        .values(link_code=None, link_code_at=None)
        .execution_options(synchronize_session=False)
    )
    return len(gone)


def erase(ctx: JobContext, app: Application) -> None:
    """Replace one application's personal data, leaving statistics and an audit entry."""
    s = ctx.session
    submitted = app.submitted_at.astimezone(ctx.settings.tz)
    s.add(
        ApplicationStat(
            submitted_month=f"{submitted.year:04d}-{submitted.month:02d}",
            prefecture=app.prefecture,
            service_type=app.service_type,
            organization_code=app.organization_code,
            verdict=app.verdict,
            final_status=app.status,
            erased_at=ctx.now,
        )
    )
    app.full_name = app.kana = app.facebook_name = ""
    app.email = f"erased-{app.id}@invalid"
    app.organization_text = app.department = app.employment_status = ""
    app.consent = app.referrer = app.fingerprint = app.decision_reason = ""
    app.answers, app.interests = {}, []
    app.reasons = [
        {"code": r.get("code", ""), "message": ""} for r in app.reasons if isinstance(r, dict)
    ]
    app.link_token = f"erased-{app.id}"
    identity = app.messenger_identity
    if identity is not None:
        identity.name = identity.first_name = identity.last_name = ""
        app.messenger_identity = None
    s.execute(
        delete(ReviewerNote)
        .where(ReviewerNote.application_id == app.id)
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(JoinRequest)
        .where(JoinRequest.application_id == app.id)
        .values(name="", answer="", candidates=[])
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(OutboundMessage)
        .where(OutboundMessage.application_id == app.id, OutboundMessage.status.in_(UNSENT))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(OutboundMessage)
        .where(OutboundMessage.application_id == app.id)
        .values(payload={}, recipient="erased", last_error="")
        .execution_options(synchronize_session=False)
    )
    for entry in app.history:  # keep what happened and who did it; drop what was said
        entry.reason = ""
        if isinstance(entry.detail, dict) and isinstance(entry.detail.get("changed"), dict):
            entry.detail = {**entry.detail, "changed": sorted(entry.detail["changed"])}
    app.erased_at = ctx.now
    lifecycle.audit(
        app,
        actor="system",
        at=ctx.now,
        action="personal_data_erased",
        detail={"final_status": app.status, "after_days": ctx.settings.retention.erase_after_days},
    )
