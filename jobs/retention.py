"""retention: erase the personal data of applications closed long enough ago.

Applications rejected, withdrawn, expired or merged as duplicates more than `erase_after_days`
ago (from their last status change) are erased by `bot/onboarding/erasure.py`: the application
keeps only what is not personal (status, verdict codes, organization, prefecture and dates; its
code becomes `ERASED-<id>`), and every copy of the person elsewhere goes — Messenger identity,
webhook events, typed-code checks, messages and replies, join requests naming them and their
place in other requests' candidate lists, refused form rows with their address, mentions in
audit details and alerts. Their audit history keeps who did what and when, but not the
free-text reasons nor the before/after values of edited answers (only which questions changed).
An anonymous ApplicationStat row and an audit entry (no personal data) are left; `erased_at`
marks the application so a second run skips it.
Join requests left unmatched or set aside, and refused form rows, go after `erase_after_days`
too. Job-run history older than `job_runs_days` is pruned (but for each job's latest scheduled
run, which tells a new leader what was made), and so are webhook events received more
than `inbound_days` ago once handled (done, ignored, dismissed): they hold PSIDs and message
text. Unreadable and failed events stay until someone deals with them in the console.
What members did after joining (bot/community) goes too: anonymous consultations and the links
to who sent them `consultation_days` after they were sent (answered or not); members' questions
once answered or closed, `erase_after_days` after the last of asking and the reply (open ones
wait for the secretariat); and RSVPs (PSIDs) of events that ended `erase_after_days` ago. The
secretariat's replies to pruned consultations and questions (outbox rows holding the text and
the person's PSID or address) are emptied as erasure empties messages: cancelled if unsent,
payload, recipient and error blanked, key `erased:<row id>`; their status and dates stay.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.models import (
    Application,
    ApplicationStatus,
    Consultation,
    ConsultationLink,
    Event,
    EventRsvp,
    InboundEvent,
    JobRun,
    JoinRequest,
    LinkAttempt,
    MemberQuestion,
    MessengerIdentity,
    OutboundMessage,
    Purpose,
    QuarantinedRow,
)
from bot.onboarding import typed_codes
from bot.onboarding.erasure import empty_messages, erase_applications
from jobs.context import JobContext

CLOSED = (
    ApplicationStatus.REJECTED,
    ApplicationStatus.WITHDRAWN,
    ApplicationStatus.EXPIRED,
    ApplicationStatus.DUPLICATE,
)
STALE_REQUESTS = ("unmatched", "dismissed")  # join requests no application claimed
HANDLED = ("done", "ignored", "dismissed")  # inbound events nobody needs to look at again
# The secretariat's replies: their outbox key is `<prefix>:<row id>:<epoch>` (or, before the
# epoch was added, `<prefix>:<row id>`).
CONSULTATION_REPLIES = (Purpose.CONSULTATION_REPLY, "consultation-reply")
QUESTION_REPLIES = (Purpose.QUESTION_REPLY, "question-reply")
CHUNK = 500


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
    erase_applications(
        ctx.session,
        apps,
        now=ctx.now,
        tz=ctx.settings.tz,
        after_days=ctx.settings.retention.erase_after_days,
    )
    stale_requests, stale_rows = prune_stale_personal_rows(ctx)
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
    consultations, questions, rsvps = prune_member_rows(ctx)
    return (
        f"erased {len(apps)}"
        + (f", pruned {len(pruned)} job runs" if pruned else "")
        + (f", pruned {len(events)} inbound events" if events else "")
        + (f", pruned {attempts} typed-code checks" if attempts else "")
        + (f", pruned {stale_requests} stale join requests" if stale_requests else "")
        + (f", pruned {stale_rows} quarantined rows" if stale_rows else "")
        + (f", pruned {consultations} consultations" if consultations else "")
        + (f", pruned {questions} member questions" if questions else "")
        + (f", pruned {rsvps} event RSVPs" if rsvps else "")
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


def prune_stale_personal_rows(ctx: JobContext) -> tuple[int, int]:
    """Delete join requests left unmatched or set aside, and refused form rows, past retention.

    Both hold a name (and the rows every answer) that no application may ever claim: they go
    after `erase_after_days` like a closed application's data. A refused row still in the sheet
    is quarantined again by the next poll.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.retention.erase_after_days)
    requests = ctx.session.execute(
        delete(JoinRequest)
        .where(JoinRequest.status.in_(STALE_REQUESTS), JoinRequest.entered_at < cutoff)
        .returning(JoinRequest.id)
        .execution_options(synchronize_session=False)
    ).all()
    rows = ctx.session.execute(
        delete(QuarantinedRow)
        .where(func.coalesce(QuarantinedRow.resolved_at, QuarantinedRow.last_seen_at) < cutoff)
        .returning(QuarantinedRow.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(requests), len(rows)


def prune_member_rows(ctx: JobContext) -> tuple[int, int, int]:
    """Delete consultations (and links), settled questions and past RSVPs beyond retention."""
    cfg = ctx.settings.retention
    old_consultations = select(Consultation.id).where(
        Consultation.submitted_at < ctx.now - timedelta(days=cfg.consultation_days)
    )
    ctx.session.execute(
        delete(ConsultationLink)
        .where(ConsultationLink.consultation_id.in_(old_consultations))
        .execution_options(synchronize_session=False)
    )
    consultations = ctx.session.execute(
        delete(Consultation)
        .where(Consultation.submitted_at < ctx.now - timedelta(days=cfg.consultation_days))
        .returning(Consultation.id)
        .execution_options(synchronize_session=False)
    ).all()
    cutoff = ctx.now - timedelta(days=cfg.erase_after_days)
    questions = ctx.session.execute(
        delete(MemberQuestion)
        .where(
            MemberQuestion.status.in_(("answered", "closed")),
            func.coalesce(MemberQuestion.replied_at, MemberQuestion.asked_at) < cutoff,
            MemberQuestion.asked_at < cutoff,
        )
        .returning(MemberQuestion.id)
        .execution_options(synchronize_session=False)
    ).all()
    rsvps = ctx.session.execute(
        delete(EventRsvp)
        .where(EventRsvp.event_id.in_(select(Event.id).where(Event.ends_at < cutoff)))
        .returning(EventRsvp.id)
        .execution_options(synchronize_session=False)
    ).all()
    empty_replies(ctx.session, CONSULTATION_REPLIES, {row.id for row in consultations})
    empty_replies(ctx.session, QUESTION_REPLIES, {row.id for row in questions})
    return len(consultations), len(questions), len(rsvps)


def _replied_row(key: str, prefix: str) -> int | None:
    """The consultation or question id in a reply's outbox key (None: not such a key)."""
    parts = key.split(":")
    if parts[0] != prefix or len(parts) not in (2, 3) or not parts[1].isdigit():
        return None
    return int(parts[1])


def empty_replies(session: Session, replies: tuple[Purpose, str], pruned: Collection[int]) -> int:
    """Empty the outbox rows of the replies to `pruned` consultations or questions.

    They hold the reply's text and the person's PSID or address; the row stays (status and
    dates count in the outbox's history) as erasure leaves a person's messages.
    """
    if not pruned:
        return 0
    purpose, prefix = replies
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.idempotency_key).where(
            OutboundMessage.purpose == purpose.value,
            OutboundMessage.idempotency_key.like(f"{prefix}:%"),
        )
    ).tuples()
    ids = [row_id for row_id, key in rows if _replied_row(key, prefix) in pruned]
    for start in range(0, len(ids), CHUNK):
        empty_messages(session, ids[start : start + CHUNK])
    return len(ids)
