"""Deciding safely: the undo window, the join-request question, claims, close without email."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.messaging.worker import Worker
from bot.models import (
    Application,
    AuditEntry,
    Group,
    Invitation,
    MessengerIdentity,
    OutboundMessage,
    ReviewerNote,
)
from bot.onboarding import applications
from bot.onboarding.lifecycle import UndoRefused
from bot.runtime import Runtime
from tests.integration.conftest import logged_in
from tests.integration.test_console_helpers import make_application, post, text_of

PROVEN = {"email_proven_by": "messenger_ref"}


def ready(runtime: Runtime, **fields: Any) -> Application:
    """A matched, proven, verified application: approvable with one tap."""
    now = runtime.now()
    values = {
        "status": "ready_for_review",
        "join_request_seen_at": now,
        "email_proven_at": now,
        "facebook_name": "Taro <b>Yamada</b>",
        **PROVEN,
    }
    return make_application(runtime, **{**values, **fields})


def with_messenger_and_groups(runtime: Runtime, app: Application) -> None:
    """Link the applicant's Messenger and give every kind of group room."""
    cohort = runtime.now().astimezone(runtime.settings.tz).strftime("%Y-%m")
    with runtime.db.transaction() as db:
        for kind, key in (("prefecture", "富山県"), ("village", "village"), ("cohort", cohort)):
            db.add(Group(kind=kind, key=key, name=kind, invite_url=f"https://m.me/j/{kind}/"))
        identity = MessengerIdentity(psid=f"psid-{app.code}", last_interaction_at=runtime.now())
        db.add(identity)
        db.flush()
        stored = db.scalars(select(Application).where(Application.code == app.code)).one()
        stored.messenger_identity_id = identity.id


def stored(runtime: Runtime, code: str) -> Application:
    with runtime.db.transaction() as db:
        app = db.scalars(select(Application).where(Application.code == code)).one()
        db.expunge(app)
        return app


def audit_of(runtime: Runtime, code: str, action: str) -> list[AuditEntry]:
    with runtime.db.transaction() as db:
        app_id = db.scalars(select(Application.id).where(Application.code == code)).one()
        entries = db.scalars(
            select(AuditEntry).where(
                AuditEntry.application_id == app_id, AuditEntry.action == action
            )
        ).all()
        for e in entries:
            db.expunge(e)
        return list(entries)


def outbox(runtime: Runtime) -> list[OutboundMessage]:
    """The applicant's messages (alerts to the secretariat left out)."""
    with runtime.db.transaction() as db:
        rows = db.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.application_id.is_not(None))
            .order_by(OutboundMessage.id)
        ).all()
        for r in rows:
            db.expunge(r)
        return list(rows)


def seats(runtime: Runtime) -> int:
    with runtime.db.transaction() as db:
        return sum(g.seats_used for g in db.scalars(select(Group)))


def later(runtime: Runtime, seconds: float) -> None:
    """Move the runtime's clock forward."""
    start = runtime.now()
    runtime.now = lambda: start + timedelta(seconds=seconds)  # type: ignore[method-assign]


def approval_emails(runtime: Runtime) -> int:
    """Emails sent to applicants (the secretariat's alerts left out)."""
    sent = runtime.mailer.sent  # type: ignore[attr-defined]
    return sum(m["headers"].get("X-Cityhall-Key", "").startswith("approved:") for m in sent)


def sends(runtime: Runtime) -> int:
    return approval_emails(runtime) + len(runtime.messenger.sent)  # type: ignore[attr-defined]


# -- the undo window ----------------------------------------------------------------------------
def test_an_approval_from_the_list_shows_the_undo_toast_and_the_facebook_reminder(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    response = post(
        reviewer,
        "/console/decisions/approve",
        {"only": app.code, "back": "/console/"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "1 件を承認しました —" in html
    assert "取り消す（残り 30 秒）" in " ".join(text_of(html).split())
    reminder = "「Taro &lt;b&gt;Yamada&lt;/b&gt;」さんの参加リクエストも承認してください"
    assert f"Facebookのグループで{reminder}" in html
    assert "<b>Yamada</b>" not in html  # escaped
    [row] = outbox(runtime)
    assert row.next_attempt_at == row.created_at + timedelta(seconds=30)


def test_undo_within_the_window_cancels_everything_and_nothing_is_sent(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime, status="awaiting_join_request", join_request_seen_at=None)
    with_messenger_and_groups(runtime, app)
    post(reviewer, "/console/decisions/approve", {"only": app.code, "join_request": "yes"})
    assert stored(runtime, app.code).status == "approved"
    assert len(outbox(runtime)) == 4 and seats(runtime) == 3  # the email + three invitations
    Worker(runtime).run(once=True)
    assert sends(runtime) == 0  # held by the window
    later(runtime, 10)
    response = post(
        reviewer,
        "/console/decisions/undo",
        {"codes": app.code, "back": "/console/"},
        follow_redirects=True,
    )
    assert "1 件の承認を取り消しました" in response.get_data(as_text=True)
    back = stored(runtime, app.code)
    assert (back.status, back.join_request_seen_at, back.approved_at) == (
        "awaiting_join_request",
        None,
        None,
    )
    assert {r.status for r in outbox(runtime)} == {"cancelled"}
    assert seats(runtime) == 0
    with runtime.db.transaction() as db:
        assert db.scalars(select(Invitation)).all() == []
    [entry] = audit_of(runtime, app.code, "approve_undone")
    assert entry.actor == "rev" and entry.detail["messages_withdrawn"] == 4
    assert entry.detail["seats_freed"] == 3
    later(runtime, 3600)
    Worker(runtime).run(once=True)
    assert sends(runtime) == 0


def test_after_the_window_undo_is_refused_and_the_email_and_invitations_go(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    with_messenger_and_groups(runtime, app)
    post(reviewer, "/console/decisions/approve", {"only": app.code})
    later(runtime, 31)
    response = post(
        reviewer,
        "/console/decisions/undo",
        {"codes": app.code, "back": "/console/"},
        follow_redirects=True,
    )
    assert "取り消せる時間を過ぎたため" in response.get_data(as_text=True)
    assert stored(runtime, app.code).status == "approved"
    Worker(runtime).run(once=True)
    assert approval_emails(runtime) == 1
    assert len(runtime.messenger.sent) == 3  # type: ignore[attr-defined]
    assert {r.status for r in outbox(runtime)} == {"sent"}


def test_approving_again_after_an_undo_sends_once(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = ready(runtime)
    post(reviewer, "/console/decisions/approve", {"only": app.code})
    post(reviewer, "/console/decisions/undo", {"codes": app.code})
    post(reviewer, "/console/decisions/approve", {"only": app.code})
    later(runtime, 31)
    Worker(runtime).run(once=True)
    assert approval_emails(runtime) == 1
    assert [r.status for r in outbox(runtime)] == ["cancelled", "sent"]


def test_undo_of_a_message_the_worker_already_claimed_is_refused(runtime: Runtime) -> None:
    """A message on its way is never marked cancelled: the undo refuses instead."""
    app = ready(runtime)
    now = runtime.now()
    with runtime.db.transaction() as db:
        a = db.scalars(select(Application).where(Application.code == app.code)).one()
        applications.approve(db, a, settings=runtime.settings, actor="rev", at=now, undo_seconds=30)
    later(runtime, 30)  # the worker's clock says due; the web's is a little behind
    worker = Worker(runtime)
    claimed = worker.claim_outbound()
    assert claimed
    runtime.now = lambda: now + timedelta(seconds=29)  # type: ignore[method-assign]
    with pytest.raises(UndoRefused) as refused, runtime.db.transaction() as db:
        a = db.scalars(select(Application).where(Application.code == app.code)).one()
        applications.undo_approval(db, a, actor="rev", at=runtime.now())
    assert refused.value.why == "started"
    assert worker.deliver(claimed[0]) == "sent"
    assert stored(runtime, app.code).status == "approved"


def _race(runtime: Runtime, code: str, undo_at: Any) -> str:
    """Run an undo and a worker's pass at once; return how the undo ended."""
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def undo() -> None:
        barrier.wait()
        try:
            with runtime.db.transaction() as db:
                a = db.scalars(select(Application).where(Application.code == code)).one()
                applications.undo_approval(db, a, actor="rev", at=undo_at)
            outcome["undo"] = "done"
        except UndoRefused as exc:
            outcome["undo"] = exc.why

    def work() -> None:
        barrier.wait()
        Worker(runtime).run(once=True)

    threads = [threading.Thread(target=undo), threading.Thread(target=work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcome["undo"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_undo_racing_the_worker_on_postgresql_never_cancels_a_sent_message(
    runtime: Runtime,
) -> None:
    """Many rounds of an undo and a worker at the window's edge: each message is either
    cancelled and never sent, or sent and the approval stays."""
    for _ in range(8):
        app = ready(runtime)
        start = runtime.now()
        with runtime.db.transaction() as db:
            a = db.scalars(select(Application).where(Application.code == app.code)).one()
            applications.approve(
                db, a, settings=runtime.settings, actor="rev", at=start, undo_seconds=1
            )
        runtime.now = lambda start=start: start + timedelta(seconds=1)  # type: ignore[misc]
        outcome = _race(runtime, app.code, start + timedelta(milliseconds=999))
        with runtime.db.transaction() as db:
            row = db.scalars(
                select(OutboundMessage).where(OutboundMessage.idempotency_key.like(f"%{app.code}%"))
            ).one()
            status = db.scalars(
                select(Application.status).where(Application.code == app.code)
            ).one()
            if outcome == "done":
                assert row.status == "cancelled" and row.sent_at is None
                assert status == "ready_for_review"
            else:
                assert outcome == "started" and row.status in ("leased", "sent")
                assert status == "approved"
    sent = len(runtime.mailer.sent)  # type: ignore[attr-defined]
    with runtime.db.transaction() as db:
        assert sent == len(
            db.scalars(select(OutboundMessage).where(OutboundMessage.status == "sent")).all()
        )


def test_undo_seconds_zero_sends_at_once_and_offers_no_undo(
    runtime: Runtime, settings: Any
) -> None:
    runtime.settings = settings.replace(console=settings.console.__class__(undo_seconds=0))
    client = logged_in(runtime, "rev2", "reviewer")
    app = ready(runtime)
    html = post(client, "/console/decisions/approve", {"only": app.code}, follow_redirects=True)
    text = html.get_data(as_text=True)
    assert "取り消す" not in text and "参加リクエストも承認してください" in text
    Worker(runtime).run(once=True)
    assert approval_emails(runtime) == 1


# -- the join request question --------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "recorded"), [("yes", True), ("no", False)])
def test_the_join_request_answer_is_recorded_truthfully(
    runtime: Runtime, reviewer: FlaskClient, answer: str, recorded: bool
) -> None:
    app = ready(runtime, status="awaiting_join_request", join_request_seen_at=None)
    page = reviewer.get(f"/console/applications/{app.code}").get_data(as_text=True)
    assert "Facebookでこの人の参加リクエストを確認しましたか？" in page
    post(reviewer, f"/console/applications/{app.code}/approve", {"join_request": answer})
    [entry] = audit_of(runtime, app.code, "approve")
    assert entry.detail["join_request_confirmed_by_reviewer"] is recorded
    assert (stored(runtime, app.code).join_request_seen_at is not None) is recorded


def test_approval_without_the_join_request_answer_is_refused(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime, status="awaiting_join_request", join_request_seen_at=None)
    other = ready(runtime)
    response = post(
        reviewer,
        "/console/decisions/approve",
        {"codes": [app.code, other.code], "back": "/console/"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "参加リクエスト未確認" in html and app.code in html
    assert stored(runtime, app.code).status == "awaiting_join_request"
    assert stored(runtime, other.code).status == "approved"
    page = post(reviewer, f"/console/applications/{app.code}/approve", {}, follow_redirects=True)
    assert "参加リクエスト未確認" in page.get_data(as_text=True)
    assert audit_of(runtime, app.code, "approve") == []


def test_a_matched_request_is_not_asked_and_not_claimed_as_confirmed(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    page = reviewer.get(f"/console/applications/{app.code}").get_data(as_text=True)
    assert "参加リクエストを確認しましたか" not in page
    post(reviewer, f"/console/applications/{app.code}/approve", {})
    [entry] = audit_of(runtime, app.code, "approve")
    assert entry.detail["join_request_confirmed_by_reviewer"] is False
    assert entry.detail["join_request_asked"] is False


# -- next after a decision -----------------------------------------------------------------------
def test_approving_on_the_page_opens_the_next_application_of_the_tab(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    first = ready(runtime, days_ago=3)
    second = ready(runtime, days_ago=2)
    response = post(reviewer, f"/console/applications/{first.code}/approve", {})
    assert response.headers["Location"] == f"/console/applications/{second.code}"
    response = post(reviewer, f"/console/applications/{second.code}/approve", {})
    assert response.headers["Location"] == "/console/?tab=ready"


# -- claims ----------------------------------------------------------------------------------------
def test_a_claim_is_shown_to_others_and_deciding_needs_confirmation(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    other = logged_in(runtime, "sato", "reviewer")
    post(other, f"/console/applications/{app.code}/claim", {"back": "/console/"})
    assert [e.actor for e in audit_of(runtime, app.code, "claimed")] == ["sato"]
    queue = reviewer.get("/console/").get_data(as_text=True)
    assert "対応中：sato" in queue
    page = reviewer.get(f"/console/applications/{app.code}").get_data(as_text=True)
    assert "対応中：sato" in page and "それでも決定する" in page
    html = post(
        reviewer, "/console/decisions/approve", {"only": app.code}, follow_redirects=True
    ).get_data(as_text=True)
    assert "他の人が対応中です" in html
    assert stored(runtime, app.code).status == "ready_for_review"
    post(reviewer, f"/console/applications/{app.code}/approve", {"confirm_others": "1"})
    after = stored(runtime, app.code)
    assert after.status == "approved" and after.claimed_by == ""


def test_a_claim_lapses_after_claim_minutes(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = ready(runtime)
    other = logged_in(runtime, "sato", "reviewer")
    post(other, f"/console/applications/{app.code}/claim", {})
    later(runtime, 31 * 60)
    assert "対応中：sato" not in reviewer.get("/console/").get_data(as_text=True)
    post(reviewer, "/console/decisions/approve", {"only": app.code})
    assert stored(runtime, app.code).status == "approved"


def test_the_claimer_decides_without_confirmation_and_can_release(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    post(reviewer, f"/console/applications/{app.code}/claim", {})
    post(reviewer, f"/console/applications/{app.code}/release", {})
    assert stored(runtime, app.code).claimed_by == ""
    assert [e.actor for e in audit_of(runtime, app.code, "claim_released")] == ["rev"]


def test_a_note_saying_kakuninchu_requires_confirmation(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = ready(runtime)
    with runtime.db.transaction() as db:
        app_id = db.scalars(select(Application.id).where(Application.code == app.code)).one()
        db.add(
            ReviewerNote(
                application_id=app_id, author="sato", text="所属を確認中です", at=runtime.now()
            )
        )
    html = post(
        reviewer,
        "/console/decisions/reject",
        {"only": app.code, "reason": "r"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "最新のメモが「確認中」です" in html
    assert stored(runtime, app.code).status == "ready_for_review"
    post(
        reviewer,
        "/console/decisions/reject",
        {"only": app.code, "reason": "r", "confirm_others": "1"},
    )
    assert stored(runtime, app.code).status == "rejected"


# -- close without email ---------------------------------------------------------------------------
def test_closing_an_ineligible_application_queues_no_email(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, verdict="ineligible", status="awaiting_join_request")
    tab = reviewer.get("/console/?tab=ineligible").get_data(as_text=True)
    assert "メールを送らずに閉じる" in tab
    post(
        reviewer,
        "/console/decisions/close",
        {"only": app.code, "close_reason": "対象外のため、メールを送らずに終了"},
    )
    assert stored(runtime, app.code).status == "rejected"
    assert outbox(runtime) == []
    [entry] = audit_of(runtime, app.code, "close_without_email")
    assert entry.actor == "rev" and entry.detail["notify"] is False
    history = reviewer.get(f"/console/applications/{app.code}").get_data(as_text=True)
    assert "メールを送らずに終了" in text_of(history)


# -- guards ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/console/decisions/undo", "/console/decisions/close", "/console/applications/{code}/claim"],
)
def test_decision_posts_without_csrf_are_refused(
    runtime: Runtime, reviewer: FlaskClient, path: str
) -> None:
    app = ready(runtime)
    response = reviewer.post(path.format(code=app.code), data={"codes": app.code, "only": app.code})
    assert response.status_code == 400
    assert stored(runtime, app.code).claimed_by == ""


@pytest.mark.parametrize(
    "path",
    ["/console/decisions/undo", "/console/decisions/close", "/console/applications/{code}/claim"],
)
def test_decision_posts_need_a_login(runtime: Runtime, path: str) -> None:
    app = ready(runtime)
    client = create_app(runtime=runtime).test_client()
    response = post(client, path.format(code=app.code), {"codes": app.code})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
