"""The application's life: one function per transition, each refused if illegal and audited.

    submitted → awaiting_join_request → ready_for_review → approved → invited
    side exits: rejected, withdrawn, expired, duplicate

Verification is not a state; it is a verdict stored beside the status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.models import Application, AuditEntry
from bot.models import ApplicationStatus as S


class DomainError(Exception):
    """A request the domain refuses; the message is safe to show (English, no personal data)."""


class IllegalTransition(DomainError):
    """A transition that the current status does not allow."""


class UnprovenIdentity(DomainError):
    """Approval of an application whose email address is not proven, without the reviewer's
    word that they checked the person."""


class UnansweredJoinRequest(DomainError):
    """Approval of an application whose join request was never matched, without the reviewer
    saying whether they saw the request in Facebook."""


class UndoRefused(DomainError):
    """An approval that cannot be undone; `why` is "not_approved", "expired" or "started"
    (a message of the approval was already claimed by the worker or sent)."""

    def __init__(self, message: str, why: str = "not_approved") -> None:
        super().__init__(message)
        self.why = why


OPEN = frozenset({S.SUBMITTED, S.AWAITING_JOIN_REQUEST, S.READY_FOR_REVIEW})
# Decided: an edit of the form never changes these by itself (it is held for a reviewer).
DECIDED = frozenset(S) - OPEN
# How an email address is proven: something sent only to that address came back.
PROOF_JOIN_REQUEST_CODE = "join_request_code"  # the 申込番号 in the join request's answer
PROOF_MESSENGER_REF = "messenger_ref"  # the m.me link (its token) from the email
PROOF_TYPED_CODE = "typed_code"  # the 申込番号 typed in Messenger, with the address
PROOFS = frozenset({PROOF_JOIN_REQUEST_CODE, PROOF_MESSENGER_REF, PROOF_TYPED_CODE})
TRANSITIONS: dict[str, tuple[frozenset[S], S]] = {
    "confirmation_sent": (frozenset({S.SUBMITTED}), S.AWAITING_JOIN_REQUEST),
    "join_request_seen": (frozenset({S.SUBMITTED, S.AWAITING_JOIN_REQUEST}), S.READY_FOR_REVIEW),
    "approve": (frozenset({S.AWAITING_JOIN_REQUEST, S.READY_FOR_REVIEW}), S.APPROVED),
    "invited": (frozenset({S.APPROVED}), S.INVITED),
    "reject": (OPEN, S.REJECTED),
    "withdraw": (OPEN | {S.APPROVED}, S.WITHDRAWN),
    "expire": (frozenset({S.SUBMITTED, S.AWAITING_JOIN_REQUEST}), S.EXPIRED),
    "mark_duplicate": (OPEN, S.DUPLICATE),
    # an application closed without telling the applicant (e.g. ineligible: they were told)
    "close_without_email": (OPEN, S.REJECTED),
}


def can(app: Application, action: str) -> bool:
    """Whether `action` is allowed from the application's current status."""
    sources, _ = TRANSITIONS[action]
    return S(app.status) in sources


def audit(
    app: Application | None,
    *,
    actor: str,
    at: datetime,
    action: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Build an audit entry (attached to the application's history when there is one)."""
    entry = AuditEntry(actor=actor, at=at, action=action, reason=reason, detail=detail or {})
    if app is not None:
        app.history.append(entry)
    return entry


def email_proven(app: Application) -> bool:
    """Whether the application's email address was proven to be the applicant's."""
    return app.email_proven_at is not None


def prove_email(
    app: Application,
    *,
    by: str,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> AuditEntry | None:
    """Record that the address is the applicant's (`by`: one of PROOFS); the first proof stays.

    Returns the audit entry, or None when the address was already proven.
    """
    if by not in PROOFS:
        raise DomainError(f"{app.code}: {by!r} does not prove an email address")
    if email_proven(app):
        return None
    app.email_proven_by, app.email_proven_at = by, at
    return audit(
        app, actor=actor, at=at, action="email_proven", detail={"by": by, **(detail or {})}
    )


def _move(
    app: Application,
    action: str,
    *,
    actor: str,
    at: datetime,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    sources, target = TRANSITIONS[action]
    current = S(app.status)
    if current not in sources:
        raise IllegalTransition(
            f"{app.code}: cannot {action.replace('_', ' ')} an application that is {current}"
        )
    app.status = target
    app.status_changed_at = at
    return audit(
        app,
        actor=actor,
        at=at,
        action=action,
        reason=reason,
        detail={"from": current.value, "to": target.value, **(detail or {})},
    )


def confirmation_sent(app: Application, *, at: datetime, actor: str = "system") -> AuditEntry:
    """The confirmation email went out: wait for the Facebook join request."""
    app.confirmation_sent_at = at
    return _move(app, "confirmation_sent", actor=actor, at=at)


def join_request_seen(
    app: Application, *, actor: str, at: datetime, detail: dict[str, Any] | None = None
) -> AuditEntry:
    """A join request was matched: ready for the secretariat's decision.

    For an application already decided, only the fact is recorded (no transition)."""
    first_time = app.join_request_seen_at is None
    if first_time:
        app.join_request_seen_at = at
    if can(app, "join_request_seen"):
        return _move(app, "join_request_seen", actor=actor, at=at, detail=detail)
    return audit(
        app,
        actor=actor,
        at=at,
        action="join_request_recorded",
        detail={"status": app.status, "first_time": first_time, **(detail or {})},
    )


def approve(
    app: Application,
    *,
    actor: str,
    at: datetime,
    reason: str = "",
    identity_checked: bool = False,
    join_request_confirmed: bool | None = None,
) -> AuditEntry:
    """Approve, recording what the reviewer said they checked.

    An application whose email address is not proven (a join request matched by name or by
    hand proves nothing) is approved only when the reviewer says they checked the person
    (`identity_checked`). One whose join request was never matched is approved only when the
    reviewer answered whether they saw the request in Facebook (`join_request_confirmed`); the
    answer is recorded as given, and only a "yes" marks the request as seen.
    """
    unseen = app.join_request_seen_at is None
    if can(app, "approve"):
        if not email_proven(app) and not identity_checked:
            raise UnprovenIdentity(
                f"{app.code}: the email address is not proven (no registration code or m.me "
                "link came back); a reviewer must confirm they checked the person"
            )
        if unseen and join_request_confirmed is None:
            raise UnansweredJoinRequest(
                f"{app.code}: the join request was not matched; the reviewer must say whether "
                "they saw it in Facebook"
            )
    proven = email_proven(app)
    confirmed = bool(unseen and join_request_confirmed)
    entry = _move(
        app,
        "approve",
        actor=actor,
        at=at,
        reason=reason,
        detail={
            "join_request_confirmed_by_reviewer": confirmed,
            "join_request_asked": unseen,
            "email_proven_by": app.email_proven_by if proven else "",
            "identity_checked_by_reviewer": identity_checked,
        },
    )
    if confirmed:
        app.join_request_seen_at = at
    app.approved_at = at
    app.approved_by = actor
    app.decision_reason = reason
    return entry


def undo_approve(app: Application, *, actor: str, at: datetime) -> AuditEntry:
    """Take back the last approval: the status, the seen mark and the decision it set.

    Refused (UndoRefused) when the application is no longer approved or the window is over;
    what the approval queued and allocated is the caller's to cancel and release.
    """
    approval = next((h for h in reversed(app.history) if h.action == "approve"), None)
    if S(app.status) != S.APPROVED or approval is None:
        raise UndoRefused(f"{app.code}: not an approval that can be undone ({app.status})")
    if app.undo_until is None or at >= app.undo_until:
        raise UndoRefused(f"{app.code}: the time to undo the approval is over", "expired")
    previous = S(approval.detail.get("from", S.READY_FOR_REVIEW))
    if approval.detail.get("join_request_confirmed_by_reviewer"):
        app.join_request_seen_at = None  # the approval set it; the request was never matched
    app.status, app.status_changed_at = previous, at
    app.approved_at, app.approved_by, app.decision_reason = None, "", ""
    app.cohort_key, app.undo_until = "", None
    return audit(
        app,
        actor=actor,
        at=at,
        action="approve_undone",
        detail={"from": S.APPROVED.value, "to": previous.value},
    )


def mark_invited(app: Application, *, at: datetime, actor: str = "system") -> AuditEntry:
    """Every invitation was delivered."""
    return _move(app, "invited", actor=actor, at=at)


def reject(
    app: Application, *, actor: str, at: datetime, reason: str, notify: bool = False
) -> AuditEntry:
    """Reject with a reason; `notify` says whether the applicant is told the reason."""
    if not reason.strip():
        raise DomainError(f"{app.code}: a rejection needs a reason")
    entry = _move(app, "reject", actor=actor, at=at, reason=reason, detail={"notify": notify})
    app.decision_reason = reason
    app.reason_shared = notify
    return entry


def close_without_email(app: Application, *, actor: str, at: datetime, reason: str) -> AuditEntry:
    """Close an open application (e.g. ineligible, already told so) without telling anyone."""
    if not reason.strip():
        raise DomainError(f"{app.code}: closing needs a reason")
    entry = _move(
        app, "close_without_email", actor=actor, at=at, reason=reason, detail={"notify": False}
    )
    app.decision_reason = reason
    app.reason_shared = False
    return entry


def withdraw(app: Application, *, actor: str, at: datetime, reason: str = "") -> AuditEntry:
    """The applicant withdrew (or asked to be removed)."""
    return _move(app, "withdraw", actor=actor, at=at, reason=reason)


def expire(app: Application, *, at: datetime, reason: str = "") -> AuditEntry:
    """No join request arrived in time."""
    return _move(app, "expire", actor="system", at=at, reason=reason)


def mark_duplicate(app: Application, *, into: Application, actor: str, at: datetime) -> AuditEntry:
    """Merge this application into another one."""
    if into.id == app.id:
        raise DomainError(f"{app.code}: cannot be a duplicate of itself")
    entry = _move(app, "mark_duplicate", actor=actor, at=at, detail={"merged_into": into.code})
    app.merged_into_id = into.id
    return entry
