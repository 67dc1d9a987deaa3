"""The application state machine: legal moves are audited, illegal ones refused untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Application, ApplicationStatus
from bot.onboarding import lifecycle
from bot.onboarding.lifecycle import DomainError, IllegalTransition, UnprovenIdentity

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
S = ApplicationStatus


def make(status: S = S.SUBMITTED) -> Application:
    app = Application(
        code="OC-7K3M9Q", link_token="t", email="a@example.jp", submitted_at=AT, status=status.value
    )
    app.history = []
    app.join_request_seen_at = None
    return app


def test_happy_path_walks_every_state_and_audits_each_move() -> None:
    app = make()
    lifecycle.confirmation_sent(app, at=AT)
    lifecycle.join_request_seen(app, actor="alice", at=AT)
    lifecycle.prove_email(app, by=lifecycle.PROOF_JOIN_REQUEST_CODE, actor="alice", at=AT)
    lifecycle.approve(app, actor="alice", at=AT)
    lifecycle.mark_invited(app, at=AT)
    assert app.status == S.INVITED
    assert [h.action for h in app.history] == [
        "confirmation_sent",
        "join_request_seen",
        "email_proven",
        "approve",
        "invited",
    ]
    assert app.history[3].actor == "alice"
    assert app.history[3].detail == {
        "from": "ready_for_review",
        "to": "approved",
        "join_request_confirmed_by_reviewer": False,
        "join_request_asked": False,
        "email_proven_by": "join_request_code",
        "identity_checked_by_reviewer": False,
    }


def test_approval_from_awaiting_join_request_records_reviewer_saw_the_request() -> None:
    app = make(S.AWAITING_JOIN_REQUEST)
    lifecycle.approve(
        app,
        actor="bob",
        at=AT,
        reason="FBで確認済み",
        identity_checked=True,
        join_request_confirmed=True,
    )
    assert app.status == S.APPROVED
    assert app.join_request_seen_at == AT
    assert app.history[-1].detail["join_request_confirmed_by_reviewer"] is True
    assert app.history[-1].reason == "FBで確認済み"


def test_approval_records_that_the_reviewer_did_not_see_the_request() -> None:
    app = make(S.AWAITING_JOIN_REQUEST)
    lifecycle.approve(app, actor="bob", at=AT, identity_checked=True, join_request_confirmed=False)
    assert app.status == S.APPROVED and app.join_request_seen_at is None
    assert app.history[-1].detail["join_request_confirmed_by_reviewer"] is False


def test_approval_of_an_unmatched_request_without_the_reviewers_answer_is_refused() -> None:
    app = make(S.AWAITING_JOIN_REQUEST)
    with pytest.raises(lifecycle.UnansweredJoinRequest):
        lifecycle.approve(app, actor="bob", at=AT, identity_checked=True)
    assert app.status == S.AWAITING_JOIN_REQUEST and app.history == []


def test_approval_of_an_unproven_address_is_refused_untouched_without_the_reviewers_check() -> None:
    app = make(S.READY_FOR_REVIEW)
    app.join_request_seen_at = AT  # matched by name: proves nothing about the address
    with pytest.raises(UnprovenIdentity):
        lifecycle.approve(app, actor="bob", at=AT)
    assert app.status == S.READY_FOR_REVIEW and app.history == []
    lifecycle.approve(app, actor="bob", at=AT, identity_checked=True)
    assert app.status == S.APPROVED
    assert app.history[-1].detail["identity_checked_by_reviewer"] is True
    assert app.history[-1].detail["email_proven_by"] == ""


def test_the_first_proof_of_the_address_is_kept() -> None:
    app = make(S.AWAITING_JOIN_REQUEST)
    later = AT.replace(hour=13)
    assert lifecycle.prove_email(app, by=lifecycle.PROOF_MESSENGER_REF, actor="m", at=AT)
    assert lifecycle.prove_email(app, by=lifecycle.PROOF_TYPED_CODE, actor="m", at=later) is None
    assert (app.email_proven_by, app.email_proven_at) == ("messenger_ref", AT)
    assert [h.action for h in app.history] == ["email_proven"]
    with pytest.raises(DomainError):
        lifecycle.prove_email(app, by="name", actor="m", at=AT)


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (S.SUBMITTED, lambda a: lifecycle.approve(a, actor="x", at=AT)),
        (S.APPROVED, lambda a: lifecycle.approve(a, actor="x", at=AT)),
        (S.REJECTED, lambda a: lifecycle.approve(a, actor="x", at=AT)),
        (S.INVITED, lambda a: lifecycle.reject(a, actor="x", at=AT, reason="r")),
        (S.APPROVED, lambda a: lifecycle.reject(a, actor="x", at=AT, reason="r")),
        (S.READY_FOR_REVIEW, lambda a: lifecycle.mark_invited(a, at=AT)),
        (S.AWAITING_JOIN_REQUEST, lambda a: lifecycle.confirmation_sent(a, at=AT)),
        (S.READY_FOR_REVIEW, lambda a: lifecycle.expire(a, at=AT)),
        (S.EXPIRED, lambda a: lifecycle.withdraw(a, actor="x", at=AT)),
        (S.DUPLICATE, lambda a: lifecycle.approve(a, actor="x", at=AT)),
    ],
)
def test_illegal_transition_is_refused_and_leaves_audit_log_untouched(status, move) -> None:
    app = make(status)
    with pytest.raises(IllegalTransition):
        move(app)
    assert app.status == status
    assert app.history == []


def test_rejection_needs_a_reason_and_keeps_whether_it_is_shared() -> None:
    app = make(S.READY_FOR_REVIEW)
    with pytest.raises(DomainError):
        lifecycle.reject(app, actor="x", at=AT, reason="  ")
    assert app.history == []
    lifecycle.reject(app, actor="x", at=AT, reason="退職済み", notify=True)
    assert (app.status, app.decision_reason, app.reason_shared) == (S.REJECTED, "退職済み", True)


def test_join_request_after_approval_is_recorded_without_a_transition() -> None:
    app = make(S.APPROVED)
    lifecycle.join_request_seen(app, actor="x", at=AT)
    assert app.status == S.APPROVED
    assert app.history[-1].action == "join_request_recorded"


def test_duplicate_of_itself_is_refused() -> None:
    app = make()
    app.id = 1
    with pytest.raises(DomainError):
        lifecycle.mark_duplicate(app, into=app, actor="x", at=AT)
