"""The database schema of the whole join flow (SQLAlchemy 2 typed models)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store UTC; always hand back aware datetimes (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """Convert each value once per run of the same instant.

        A bulk insert binds one `now` into several columns of thousands of rows; remembering the
        last datetime converted (by identity; datetimes are immutable) skips the repeats. The
        (value, result) pair is replaced as one tuple, so threads sharing it see a whole pair.
        """
        convert = super().bind_processor(dialect)
        if convert is None:
            return None
        last: list[tuple[Any, Any]] = [(None, None)]

        def process(value: Any) -> Any:
            seen, result = last[0]
            if value is seen:
                return result
            result = convert(value)
            last[0] = (value, result)
            return result

        return process


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class QueueStatus(enum.StrEnum):
    """The state of a queue row: an outbound message (outbox) or an inbound event (inbox).

    Both queues: PENDING (due at next_attempt_at), LEASED (a worker holds it until lease_until),
    DEAD (failed for good, kept with its last error). Outbox only: SENT, CANCELLED,
    AWAITING_WINDOW (waits for the person to open the 24-hour window). Inbox only: DONE, IGNORED
    (no handler for its kind), INVALID (signed but unreadable), DISMISSED (looked at by a person).
    """

    PENDING = "pending"
    LEASED = "leased"
    DEAD = "dead"
    SENT = "sent"
    CANCELLED = "cancelled"
    AWAITING_WINDOW = "awaiting_window"
    DONE = "done"
    IGNORED = "ignored"
    INVALID = "invalid"
    DISMISSED = "dismissed"


class InvitationStatus(enum.StrEnum):
    """One group invitation of an approved member: held → allocated → queued → sent."""

    HELD = "held"  # no group with room (or none configured) yet
    ALLOCATED = "allocated"  # a seat is taken; waits for the member's Messenger link
    QUEUED = "queued"  # its outbox row exists
    SENT = "sent"


class JoinRequestStatus(enum.StrEnum):
    """A pasted Facebook join request: tied to an application, not yet, or set aside."""

    MATCHED = "matched"
    UNMATCHED = "unmatched"
    DISMISSED = "dismissed"


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    AWAITING_JOIN_REQUEST = "awaiting_join_request"
    READY_FOR_REVIEW = "ready_for_review"
    APPROVED = "approved"
    INVITED = "invited"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"


class Organization(Base):
    """A local government or national body from the shipped registry."""

    __tablename__ = "organizations"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    prefecture: Mapped[str] = mapped_column(String(8), default="")
    kana: Mapped[str] = mapped_column(String(200), default="")
    email_domains: Mapped[list[Any]] = mapped_column(default=list)


class MessengerIdentity(Base):
    """A person's page-scoped id (PSID) and what we know of their thread."""

    __tablename__ = "messenger_identities"
    id: Mapped[int] = mapped_column(primary_key=True)
    psid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_interaction_at: Mapped[datetime | None]
    disclosed_at: Mapped[datetime | None]  # automated-assistant disclosure sent
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str] = mapped_column(Text, default="")
    # A person (or another app) owns the thread until then: no automatic replies to free text.
    quiet_until: Mapped[datetime | None]
    # A 申込番号 typed in the chat, waiting for the registered email address (typed-code linking).
    link_code: Mapped[str | None] = mapped_column(String(16))
    link_code_at: Mapped[datetime | None]
    # A member-side conversation waiting for the person's next text ("" = none), e.g.
    # "consultation" after 匿名で相談 was chosen; it lapses (see bot/community).
    conversation_state: Mapped[str] = mapped_column(String(32), default="", server_default="")
    conversation_state_at: Mapped[datetime | None]


class LinkAttempt(Base):
    """One check of a typed 申込番号 and email address, counted against the attempt limits."""

    __tablename__ = "link_attempts"
    __table_args__ = (
        Index("ix_link_attempts_psid_at", "psid", "at"),
        Index("ix_link_attempts_code_at", "code", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    psid: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # linked | mismatch


class Application(Base):
    """One applicant's form response and where it stands in the join flow."""

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_queue", "status", "submitted_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    link_token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(32), default=ApplicationStatus.SUBMITTED, index=True)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    email: Mapped[str] = mapped_column(String(254), index=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    kana: Mapped[str] = mapped_column(String(200), default="")
    facebook_name: Mapped[str] = mapped_column(String(200), default="")
    service_type: Mapped[str] = mapped_column(String(40), default="")
    organization_text: Mapped[str] = mapped_column(String(300), default="")
    department: Mapped[str] = mapped_column(String(300), default="")
    prefecture: Mapped[str] = mapped_column(String(8), default="", index=True)
    employment_status: Mapped[str] = mapped_column(String(200), default="")
    interests: Mapped[list[Any]] = mapped_column(default=list)
    consent: Mapped[str] = mapped_column(String(200), default="")
    referrer: Mapped[str] = mapped_column(String(300), default="")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # question title -> verbatim
    # the form response last taken in (applied, or held as the pending change, or discarded)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # verification verdict (not a state)
    verdict: Mapped[str] = mapped_column(String(16), default="needs_review", index=True)
    reasons: Mapped[list[Any]] = mapped_column(default=list)  # [{code, message}]
    organization_code: Mapped[str | None] = mapped_column(String(16), index=True)
    organization_name: Mapped[str] = mapped_column(String(120), default="")
    verified_at: Mapped[datetime | None]
    # join flow facts
    confirmation_sent_at: Mapped[datetime | None]
    join_request_seen_at: Mapped[datetime | None]
    join_request_reminders: Mapped[int] = mapped_column(default=0)
    last_reminder_at: Mapped[datetime | None]
    link_reminders: Mapped[int] = mapped_column(default=0)
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str] = mapped_column(String(100), default="")
    cohort_key: Mapped[str] = mapped_column(String(16), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    reason_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    messenger_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("messenger_identities.id"), unique=True
    )
    erased_at: Mapped[datetime | None]
    # how the email address was first proven to be the applicant's ("" = not proven): the
    # registration code or the m.me link token, both sent only to that address, came back
    email_proven_by: Mapped[str] = mapped_column(String(32), default="", server_default="")
    email_proven_at: Mapped[datetime | None]
    # an edit of a decided application, held until a reviewer accepts or discards it ({} = none):
    # {"changed": {question: {"before", "after"}}, "answers", "fields", "fingerprint",
    #  "submitted_at", "source", "actor", "held_at", "first_held_at"}
    pending_change: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    pending_change_at: Mapped[datetime | None]  # when it was (last) held; None = no change held
    # who is handling it (「対応中」; "" = nobody) and since when; a claim lapses after
    # [console] claim_minutes
    claimed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    claimed_at: Mapped[datetime | None]
    # until when an approval can be undone: its email and invitations are not sent before
    undo_until: Mapped[datetime | None]

    messenger_identity: Mapped[MessengerIdentity | None] = relationship()
    history: Mapped[list[AuditEntry]] = relationship(
        back_populates="application", order_by="AuditEntry.id"
    )
    invitations: Mapped[list[Invitation]] = relationship(back_populates="application")
    notes: Mapped[list[ReviewerNote]] = relationship(order_by="ReviewerNote.id")


class QuarantinedRow(Base):
    """A form row that could not become an application, kept with its reason."""

    __tablename__ = "quarantined_rows"
    __table_args__ = (UniqueConstraint("source", "fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # poll | push | csv
    fingerprint: Mapped[str] = mapped_column(String(64))
    row_number: Mapped[int | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class JoinRequest(Base):
    """A Facebook group join request as the secretariat typed or pasted it."""

    __tablename__ = "join_requests"
    __table_args__ = (
        Index("ix_join_requests_application_id", "application_id"),
        Index("ix_join_requests_name", "name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text, default="")
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered_by: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default=JoinRequestStatus.UNMATCHED, index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    match_method: Mapped[str] = mapped_column(String(16), default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    # the profile lines Facebook showed beside the request: [{"kind", "text"}] (see
    # bot.onboarding.join_request_parsing.Evidence)
    evidence: Mapped[list[Any]] = mapped_column(default=list)


class Group(Base):
    """A Messenger group chat or Facebook group that members are invited to."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("kind", "key", "name"),
        Index("ux_groups_config_key", "config_key", unique=True),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # prefecture | village | cohort
    key: Mapped[str] = mapped_column(String(32))  # 富山県 | village | 2026-11
    name: Mapped[str] = mapped_column(String(200))
    invite_url: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int] = mapped_column(default=250)
    seats_used: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the [[groups]] entry it was created from ("kind|key|name"); None when made in the console
    config_key: Mapped[str | None] = mapped_column(String(300))


class Invitation(Base):
    """One member's invitation to one kind of group (held until a group has room)."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("application_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.HELD)
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    application: Mapped[Application] = relationship(back_populates="invitations")
    group: Mapped[Group | None] = relationship()


class InboundEvent(Base):
    """An inbound webhook event (the inbox), processed by the worker after it is stored."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("source", "event_key"),
        Index("ix_inbound_claim", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # messenger | forms
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=QueueStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None]


class Purpose(enum.StrEnum):
    """Why an outbound message exists; stored as its string in `outbound_messages.purpose`.

    Delivery does not interpret it: the domain's reaction table (`bot/onboarding/reactions.py`)
    says what follows a delivered message of a purpose, and utility templates are chosen by it.
    """

    CONFIRMATION = "confirmation"
    INELIGIBLE_NOTICE = "ineligible_notice"
    APPROVED = "approved"
    REJECTION = "rejection"
    INVITATION = "invitation"
    REPLY = "reply"
    PROFILE_LOOKUP = "profile_lookup"  # not a message: a User Profile API call (channel "profile")
    LINK_REMINDER = "link_reminder"
    ORIENTATION_REMINDER = "orientation_reminder"
    JOIN_REQUEST_REMINDER = "join_request_reminder"
    APPLICATION_EXPIRED = "application_expired"
    ALERT = "alert"
    SECRETARIAT_DIGEST = "secretariat_digest"
    JOB_FAILED = "job_failed"
    SECTION_SUGGESTIONS = "section_suggestions"  # up to three 課 after the invitations
    EVENT_REMINDER = "event_reminder"  # the Zoom link, an hour before an RSVP'd event
    QUESTION_REPLY = "question_reply"  # the secretariat's answer to a member's question
    CONSULTATION_REPLY = "consultation_reply"  # the answer to an anonymous consultation


class OutboundMessage(Base):
    """A Messenger message or email to send (the outbox); the worker sends it after commit."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_claim", "status", "next_attempt_at"),
        Index("ix_outbound_recipient", "channel", "recipient", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # messenger | email
    recipient: Mapped[str] = mapped_column(String(254))  # PSID or address
    purpose: Mapped[str] = mapped_column(String(40), default="")
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=QueueStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str] = mapped_column(String(200), default="")
    # one entry per attempt that ended: {"at", "outcome", "error"} (no personal data)
    history: Mapped[list[Any]] = mapped_column(default=list)


class SecretariatUser(Base):
    """A secretariat (事務局) console account."""

    __tablename__ = "secretariat_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))  # admin | reviewer
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # set by an admin's reset: the next login must choose a new password before anything else
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    password_changed_at: Mapped[datetime | None]
    # an authenticator app's base32 secret ("" = no second factor); the step of the last code
    # accepted, so that one code opens one login
    totp_secret: Mapped[str] = mapped_column(String(64), default="", server_default="")
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ConsoleSession(Base):
    """A console login: the cookie carries a random token, this row its SHA-256.

    Logout, a password change and deactivation set `ended_at`, so a copied cookie stops working
    at once; a session also ends after the idle timeout and the absolute lifetime.
    """

    __tablename__ = "console_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("secretariat_users.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Login attempts admitted for one key (an account or a client network) and when the next
    may be; changed only by single atomic statements (see bot/accounts/login_throttle.py)."""

    __tablename__ = "login_throttles"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_allowed_at: Mapped[datetime]
    admitted_by: Mapped[str] = mapped_column(String(32), default="")  # the last admitted attempt
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what, when and why: transitions, logins, decisions, edits, exports."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor_at", "actor", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    application: Mapped[Application | None] = relationship(back_populates="history")


class ReviewerNote(Base):
    """A secretariat note on an application."""

    __tablename__ = "reviewer_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RejectionTemplate(Base):
    """An editable reason text for rejections."""

    __tablename__ = "rejection_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Alert(Base):
    """Something the secretariat must act on (a full group, a paused sender, …)."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class SystemFlag(Base):
    """A small piece of global state, e.g. the sending pause."""

    __tablename__ = "system_flags"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named lease (e.g. the clock leader) held by one process until it expires."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class JobRun(Base):
    """One run of a job, or one scheduled run skipped, and how it ended.

    A scheduled run is named by the time it was scheduled for, so each is made (or skipped)
    once: `scheduled_for` is unique per job, and empty for a run started by hand.
    """

    __tablename__ = "job_runs"
    __table_args__ = (Index("ux_job_runs_job_scheduled_for", "job", "scheduled_for", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60), index=True)
    scheduled_for: Mapped[datetime | None]
    # schedule | catch-up | manual; empty on runs recorded before this column existed
    started_by: Mapped[str] = mapped_column(String(16), server_default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # running | ok | error | interrupted | skipped (scheduled, but past its catch-up grace)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str] = mapped_column(Text, default="")


class ApplicationStat(Base):
    """An anonymous statistics row left behind when personal data is erased."""

    __tablename__ = "application_stats"
    id: Mapped[int] = mapped_column(primary_key=True)
    submitted_month: Mapped[str] = mapped_column(String(7))
    prefecture: Mapped[str] = mapped_column(String(8), default="")
    service_type: Mapped[str] = mapped_column(String(40), default="")
    organization_code: Mapped[str | None] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16), default="")
    final_status: Mapped[str] = mapped_column(String(32))
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- after the invitations: 課, events, questions, anonymous consultation (bot/community) ------


class Section(Base):
    """A 課: a group inside the community, each a Facebook group joined by request."""

    __tablename__ = "sections"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # work | skill | hobby
    description: Mapped[str] = mapped_column(String(300), default="")
    group_url: Mapped[str] = mapped_column(String(500), default="")
    leader_name: Mapped[str] = mapped_column(String(100), default="")
    # words of the form's 興味のある分野（課） answers that suggest this 課 (one per line)
    keywords: Mapped[str] = mapped_column(Text, default="")
    introduce_at_grand: Mapped[bool] = mapped_column(Boolean, default=False)  # at the 大説明会
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """One occurrence of an event (an orientation, a 大説明会, a study session, a broadcast)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # orientation | grand | study | broadcast | other
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    zoom_url: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None]  # None: no limit
    audience: Mapped[str] = mapped_column(String(16), default="members")  # public | members
    series_key: Mapped[str] = mapped_column(String(40), default="")  # occurrences made together
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class EventRsvp(Base):
    """A person's answer to an event (参加する / やめる)."""

    __tablename__ = "event_rsvps"
    __table_args__ = (UniqueConstraint("event_id", "psid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    psid: Mapped[str] = mapped_column(String(64), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # going | cancelled
    answered_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]


class FaqEntry(Base):
    """A question the bot answers by itself (よくある質問)."""

    __tablename__ = "faq_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(300))
    answer: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text, default="")  # one per line
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    created_from_question_id: Mapped[int | None]


class MemberQuestion(Base):
    """A question the bot could not answer, waiting in the secretariat's inbox."""

    __tablename__ = "member_questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    psid: Mapped[str] = mapped_column(String(64), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | closed
    reply: Mapped[str] = mapped_column(Text, default="")
    replied_by: Mapped[str] = mapped_column(String(100), default="")
    replied_at: Mapped[datetime | None]
    reply_channel: Mapped[str] = mapped_column(
        String(16), default=""
    )  # response | human_agent | email
    faq_entry_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id"))


class Consultation(Base):
    """An anonymous consultation: the text only; who sent it is kept apart (ConsultationLink)."""

    __tablename__ = "consultations"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | closed
    reply: Mapped[str] = mapped_column(Text, default="")
    replied_by: Mapped[str] = mapped_column(String(100), default="")
    replied_at: Mapped[datetime | None]
    reply_channel: Mapped[str] = mapped_column(String(16), default="")
    posted_at: Mapped[datetime | None]  # "posted to the group anonymously"
    posted_by: Mapped[str] = mapped_column(String(100), default="")


class ConsultationLink(Base):
    """Who sent a consultation: seen by admins only, every access audited."""

    __tablename__ = "consultation_links"
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), primary_key=True)
    psid: Mapped[str] = mapped_column(String(64), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
