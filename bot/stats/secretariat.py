"""The secretariat's dashboard numbers: the queue by state and age, how long approval and
invitation take, the invitations still waiting, by group, and event attendance."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.models import Application, Event, EventRsvp, Group, Invitation, InvitationStatus
from bot.models import ApplicationStatus as S

AGE_DAYS = (3, 7, 14)
# Waiting on the secretariat or on the applicant (open), or on the invitations (approved).
WAITING = (S.SUBMITTED, S.AWAITING_JOIN_REQUEST, S.READY_FOR_REVIEW, S.APPROVED)
WAITING_INVITATIONS = (InvitationStatus.HELD, InvitationStatus.ALLOCATED, InvitationStatus.QUEUED)


@dataclass(frozen=True)
class StateRow:
    """Applications in one state; for waiting states, how many applied more than N days ago."""

    status: str
    count: int
    older: tuple[int, ...] = ()  # one per AGE_DAYS; empty for the states nobody waits in


def queue_by_state(session: Session, *, now: datetime) -> list[StateRow]:
    """Every state's count (in the lifecycle's order), with the ages of the waiting ones.

    Age is counted from `submitted_at` (as the queue's 「◯日以上」 filter does).
    """
    older = [
        func.sum(case((Application.submitted_at < now - timedelta(days=d), 1), else_=0))
        for d in AGE_DAYS
    ]
    none = (0,) * len(AGE_DAYS)
    counts: dict[str, tuple[int, tuple[int, ...]]] = {
        status: (count, tuple(int(n or 0) for n in ages))
        for status, count, *ages in session.execute(
            select(Application.status, func.count(), *older).group_by(Application.status)
        ).all()
    }
    rows = []
    for status in S:
        count, ages = counts.get(status, (0, none))
        rows.append(StateRow(str(status), count, ages if status in WAITING else ()))
    return rows


@dataclass(frozen=True)
class Duration:
    """The median of some durations, and how many there were."""

    median: timedelta | None
    count: int

    @property
    def days(self) -> float | None:
        """The median in days (one decimal), or None without any duration."""
        return None if self.median is None else round(self.median / timedelta(days=1), 1)


def _median(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> Duration:
    seconds = [
        (end - start).total_seconds()
        for start, end in pairs
        if start is not None and end is not None
    ]
    median = timedelta(seconds=statistics.median(seconds)) if seconds else None
    return Duration(median, len(seconds))


def time_to_approval(session: Session, *, since: datetime | None = None) -> Duration:
    """Median time from the application (`submitted_at`) to approval (`approved_at`)."""
    query = select(Application.submitted_at, Application.approved_at).where(
        Application.approved_at.is_not(None)
    )
    if since is not None:
        query = query.where(Application.approved_at >= since)
    return _median(session.execute(query).tuples())


def time_to_invitation(session: Session, *, since: datetime | None = None) -> Duration:
    """Median time from the application to its last invitation sent (status `invited`)."""
    last_sent = func.max(Invitation.sent_at)
    query = (
        select(Application.submitted_at, last_sent)
        .join(Invitation, Invitation.application_id == Application.id)
        .where(Application.status == S.INVITED)
        .group_by(Application.id, Application.submitted_at)
    )
    if since is not None:
        query = query.having(last_sent >= since)
    return _median(session.execute(query).tuples())


@dataclass
class WaitingInvitations:
    """Invitations of approved members not sent yet, for one group (or one kind/key held)."""

    kind: str
    key: str
    group: str  # the group's name; "" while held (no group with room yet)
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All waiting invitations of this row."""
        return sum(self.by_status.values())


def invitations_waiting(session: Session) -> list[WaitingInvitations]:
    """Held, allocated and queued invitations of approved members, per group."""
    rows = session.execute(
        select(
            Invitation.kind, Invitation.key, Group.id, Group.name, Invitation.status, func.count()
        )
        .join(Application, Application.id == Invitation.application_id)
        .outerjoin(Group, Group.id == Invitation.group_id)
        .where(
            Application.status == S.APPROVED,
            Invitation.status.in_(WAITING_INVITATIONS),
        )
        .group_by(Invitation.kind, Invitation.key, Group.id, Group.name, Invitation.status)
    ).all()
    out: dict[tuple[str, str, int | None], WaitingInvitations] = {}
    for kind, key, group_id, name, status, count in rows:
        row = out.setdefault((kind, key, group_id), WaitingInvitations(kind, key, name or ""))
        row.by_status[status] = row.by_status.get(status, 0) + count
    return sorted(out.values(), key=lambda r: (r.kind, r.key, r.group))


@dataclass(frozen=True)
class EventAttendance:
    """One event and how many said they are going (RSVP 参加する, not withdrawn)."""

    event_id: int
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    going: int
    capacity: int | None


def event_attendance(
    session: Session, *, now: datetime, upcoming: int = 5, past_days: int = 30
) -> tuple[list[EventAttendance], list[EventAttendance]]:
    """The next `upcoming` events and those of the last `past_days` days (not cancelled), each
    with its count of people going."""
    going = func.count(EventRsvp.id)
    query = (
        select(
            Event.id,
            Event.title,
            Event.kind,
            Event.starts_at,
            Event.ends_at,
            going,
            Event.capacity,
        )
        .outerjoin(EventRsvp, (EventRsvp.event_id == Event.id) & (EventRsvp.status == "going"))
        .where(Event.cancelled_at.is_(None))
        .group_by(Event.id)
    )
    next_rows = session.execute(
        query.where(Event.ends_at > now).order_by(Event.starts_at, Event.id).limit(upcoming)
    ).tuples()
    past_rows = session.execute(
        query.where(
            Event.ends_at <= now, Event.starts_at >= now - timedelta(days=past_days)
        ).order_by(Event.starts_at.desc(), Event.id.desc())
    ).tuples()
    return (
        [EventAttendance(*row) for row in next_rows.all()],
        [EventAttendance(*row) for row in past_rows.all()],
    )
