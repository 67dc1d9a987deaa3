"""Edits after a decision: the form submitted again for a decided application is held as a
pending change (before/after), not applied, not screened, not mailed, until a reviewer accepts
or discards it in the console; an undecided application is still updated in place, with no
second confirmation.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot.models import Application, AuditEntry, OutboundMessage, QuarantinedRow
from bot.onboarding import applications
from bot.onboarding.intake import SyncCounts, ingest_snapshot
from bot.runtime import Runtime
from integrations.ports import SheetSnapshot
from tests.form_sheet import HEADER, NOTE, response_row
from tests.integration.test_console_helpers import post

EMAIL = "m.yashiki@city.toyama.lg.jp"
ORG = "所属団体名（例：富山市、国土交通省）"
DEPARTMENT = "所属部署"
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def take_in(rt: Runtime, row: list[Any], at: datetime) -> SyncCounts:
    """One poll of a sheet holding `row` only, at `at`."""
    snapshot = SheetSnapshot(header=list(HEADER), rows=[row], timezone="Asia/Tokyo")
    with rt.db.transaction() as session:
        return ingest_snapshot(session, snapshot, settings=rt.settings, now=at, source="sheet")


def row(minute: int = 0, **overrides: Any) -> list[Any]:
    """The applicant's response, sent at 09:00 + `minute` (Tokyo), with `overrides`."""
    return response_row(EMAIL, at=datetime(2026, 11, 20, 9, minute), overrides=overrides)


def stored(rt: Runtime) -> Application:
    with rt.db.transaction() as session:
        return session.scalars(select(Application).where(Application.email == EMAIL)).one()


def actions(rt: Runtime) -> list[str]:
    with rt.db.transaction() as session:
        app = session.scalars(select(Application).where(Application.email == EMAIL)).one()
        query = select(AuditEntry.action).where(AuditEntry.application_id == app.id)
        return list(session.scalars(query.order_by(AuditEntry.id)))


def outbox_keys(rt: Runtime) -> list[str]:
    with rt.db.transaction() as session:
        query = select(OutboundMessage.idempotency_key).order_by(OutboundMessage.id)
        return list(session.scalars(query))


def decide(rt: Runtime, status: str) -> None:
    """Approve the application (and mark it invited, or reject it) as the reviewer would."""
    with rt.db.transaction() as session:
        app = session.scalars(select(Application).where(Application.email == EMAIL)).one()
        app.status = "ready_for_review"
        if status == "rejected":
            applications.reject(
                session, app, settings=rt.settings, actor="rev", at=T0, reason="r", notify=False
            )
            return
        applications.approve(
            session,
            app,
            settings=rt.settings,
            actor="rev",
            at=T0,
            identity_checked=True,
            join_request_confirmed=True,  # the reviewer saw the request in Facebook
        )
        if status == "invited":
            app.status = "invited"


@pytest.fixture
def approved(runtime: Runtime) -> Runtime:
    """The runtime with the applicant's response taken in and approved."""
    take_in(runtime, row(), T0)
    decide(runtime, "approved")
    return runtime


# -- held, not applied ----------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["approved", "invited"])
def test_edit_of_a_decided_application_is_held_and_changes_nothing(
    runtime: Runtime, status: str
) -> None:
    take_in(runtime, row(), T0)
    decide(runtime, status)
    before = stored(runtime)
    mails = outbox_keys(runtime)

    counts = take_in(runtime, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))

    assert (counts.held, counts.updated, counts.new) == (1, 0, 0)
    after = stored(runtime)
    assert after.status == status
    assert after.organization_text == "富山市" and after.answers[ORG] == "富山市"
    assert after.submitted_at == before.submitted_at
    assert (after.verdict, after.reasons) == (before.verdict, before.reasons)  # not screened
    assert after.verified_at == before.verified_at
    assert outbox_keys(runtime) == mails  # no email of any kind
    change = after.pending_change
    assert change["changed"][ORG] == {"before": "富山市", "after": "存在しない村"}
    assert change["fields"]["organization_text"] == "存在しない村"
    assert change["answers"][ORG] == "存在しない村"
    assert change["source"] == "sheet" and change["actor"] == "forms"
    assert after.pending_change_at == T0 + timedelta(hours=1)
    assert actions(runtime)[-1] == "answers_edit_held"


def test_a_held_edit_is_taken_in_once(approved: Runtime) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    history = actions(approved)
    counts = take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=2))
    assert (counts.held, counts.unchanged) == (0, 1)
    assert actions(approved) == history


def test_a_second_edit_replaces_the_pending_one_and_keeps_the_original_before(
    approved: Runtime,
) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    take_in(approved, row(40, **{ORG: "高岡市", DEPARTMENT: "総務課"}), T0 + timedelta(hours=2))
    change = stored(approved).pending_change
    assert change["changed"][ORG] == {"before": "富山市", "after": "高岡市"}
    assert change["changed"][DEPARTMENT]["before"] == "企画管理部企画調整課"
    assert change["first_held_at"] == (T0 + timedelta(hours=1)).isoformat()
    assert change["held_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert actions(approved).count("answers_edit_held") == 2
    assert stored(approved).organization_text == "富山市"


def test_an_edit_back_to_the_applied_answers_drops_the_pending_change(approved: Runtime) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    take_in(approved, row(50), T0 + timedelta(hours=2))
    after = stored(approved)
    assert after.pending_change == {} and after.pending_change_at is None
    assert actions(approved)[-1] == "answers_edit_dropped"


# -- undecided: applied as before, never a second confirmation ------------------------------------
@pytest.mark.parametrize("status", ["submitted", "awaiting_join_request", "ready_for_review"])
def test_edit_of_an_undecided_application_is_applied_without_a_second_email(
    runtime: Runtime, status: str
) -> None:
    take_in(runtime, row(), T0)
    with runtime.db.transaction() as session:
        app = session.scalars(select(Application).where(Application.email == EMAIL)).one()
        app.status = status
    mails = outbox_keys(runtime)
    assert [k for k in mails if k.startswith("confirmation:")]

    counts = take_in(runtime, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))

    assert (counts.updated, counts.held) == (1, 0)
    after = stored(runtime)
    assert after.organization_text == "存在しない村" and after.verdict == "needs_review"
    assert after.pending_change == {}
    assert actions(runtime)[-1] == "answers_updated"
    assert outbox_keys(runtime) == mails


# -- the console ----------------------------------------------------------------------------------
def page(client: FlaskClient, rt: Runtime) -> str:
    return client.get(f"/console/applications/{stored(rt).code}").get_data(as_text=True)


def test_the_application_page_shows_the_pending_change_escaped(
    approved: Runtime, reviewer: FlaskClient
) -> None:
    take_in(approved, row(30, **{NOTE: "<script>alert(1)</script>"}), T0 + timedelta(hours=1))
    html = page(reviewer, approved)
    assert "保留中の回答の変更" in html and "変更を反映" in html and "変更を破棄" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "回答の変更あり（未反映）" in html


def test_the_list_marks_an_application_with_a_pending_change(
    approved: Runtime, reviewer: FlaskClient
) -> None:
    code = stored(approved).code
    listed = reviewer.get("/console/?tab=approved").get_data(as_text=True)
    assert code in listed and "回答の変更あり" not in listed
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    listed = reviewer.get("/console/?tab=approved").get_data(as_text=True)
    card = listed.split(f'data-code="{code}"', 1)[1].split("</tr>", 1)[0]
    assert "回答の変更あり（未反映）" in card


def test_accepting_applies_the_change_and_screens_again_without_email(
    approved: Runtime, reviewer: FlaskClient
) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    mails = outbox_keys(approved)
    code = stored(approved).code
    response = post(reviewer, f"/console/applications/{code}/pending-change/accept")
    assert response.status_code == 302
    after = stored(approved)
    assert after.status == "approved"
    assert after.organization_text == "存在しない村" and after.answers[ORG] == "存在しない村"
    assert after.verdict == "needs_review"
    assert "org_unresolved" in {r["code"] for r in after.reasons}
    assert after.pending_change == {} and after.pending_change_at is None
    assert actions(approved)[-2:] == ["answers_updated", "answers_edit_accepted"]
    assert outbox_keys(approved) == mails
    with approved.db.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "answers_edit_accepted")
        ).one()
        assert entry.actor == "rev"
    # the sheet still holds the accepted response: the next poll finds nothing new
    counts = take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=3))
    assert (counts.unchanged, counts.held, counts.updated) == (1, 0, 0)


def test_discarding_drops_the_change_for_good(approved: Runtime, reviewer: FlaskClient) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    code = stored(approved).code
    response = post(reviewer, f"/console/applications/{code}/pending-change/discard")
    assert response.status_code == 302
    after = stored(approved)
    assert after.organization_text == "富山市" and after.pending_change == {}
    assert actions(approved)[-1] == "answers_edit_discarded"
    assert "保留中の回答の変更" not in page(reviewer, approved)
    counts = take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=2))
    assert (counts.unchanged, counts.held) == (1, 0)  # not held again from the same response
    assert stored(approved).pending_change == {}


@pytest.mark.parametrize("verb", ["accept", "discard"])
def test_accept_and_discard_need_the_csrf_token(
    approved: Runtime, reviewer: FlaskClient, verb: str
) -> None:
    take_in(approved, row(30, **{ORG: "存在しない村"}), T0 + timedelta(hours=1))
    code = stored(approved).code
    response = reviewer.post(f"/console/applications/{code}/pending-change/{verb}", data={})
    assert response.status_code == 400
    after = stored(approved)
    assert after.pending_change and after.organization_text == "富山市"


@pytest.mark.parametrize("verb", ["accept", "discard"])
def test_accept_and_discard_without_a_pending_change_say_so(
    approved: Runtime, reviewer: FlaskClient, verb: str
) -> None:
    code = stored(approved).code
    response = post(
        reviewer, f"/console/applications/{code}/pending-change/{verb}", follow_redirects=True
    )
    assert "保留中の回答の変更はありません" in response.get_data(as_text=True)
    assert actions(approved)[-1] == "application_viewed"


# -- what PostgreSQL would refuse -----------------------------------------------------------------
def test_a_long_answer_is_held_and_accepted(approved: Runtime, reviewer: FlaskClient) -> None:
    long_note = "長" * 20_000  # an unmapped question: kept only in the JSON answers
    longest_department = "課" * 300  # the column's length exactly
    take_in(
        approved,
        row(30, **{NOTE: long_note, DEPARTMENT: longest_department}),
        T0 + timedelta(hours=1),
    )
    assert stored(approved).pending_change["changed"][NOTE]["after"] == long_note
    post(reviewer, f"/console/applications/{stored(approved).code}/pending-change/accept")
    after = stored(approved)
    assert after.answers[NOTE] == long_note and after.department == longest_department


def test_a_nul_in_an_edit_is_quarantined_and_leaves_the_application_alone(
    approved: Runtime,
) -> None:
    before = stored(approved)
    counts = take_in(approved, row(30, **{ORG: "富山\x00市"}), T0 + timedelta(hours=1))
    assert (counts.quarantined, counts.held, counts.updated) == (1, 0, 0)
    after = stored(approved)
    assert after.pending_change == {} and after.answers == before.answers
    with approved.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(QuarantinedRow)) == 1
