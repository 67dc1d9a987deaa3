"""Proof of the mailbox: the 申込番号 or the m.me link token, sent only to the applicant's address,
coming back proves the address; a join request matched by name or by hand does not, the console
shows the difference, and approving an unproven application needs the reviewer's word.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.models import Application, AuditEntry, JoinRequest
from bot.onboarding import applications
from bot.onboarding.join_requests import import_join_requests, resolve_join_request
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    body,
    drain,
    get_started_item,
    prepared,
    text_item,
)
from tests.integration.test_console_helpers import make_application, post, text_of
from tests.integration.test_messenger_flow import add_application
from tests.integration.test_messenger_flow import post as post_webhook

UNPROVEN_BY_NAME = "メール未確認：名前だけで照合"
PROVEN_BY_CODE = "メール確認済み（申込番号）"


def stored(runtime: Runtime, code: str) -> Application:
    with runtime.db.transaction() as db:
        return applications.get_by_code(db, code)


def audit_of(runtime: Runtime, code: str, action: str) -> list[AuditEntry]:
    with runtime.db.transaction() as db:
        app = applications.get_by_code(db, code)
        return list(
            db.scalars(
                select(AuditEntry)
                .where(AuditEntry.application_id == app.id, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        )


def paste(runtime: Runtime, text: str, at: datetime | None = None) -> None:
    with runtime.db.transaction() as db:
        import_join_requests(db, text, actor="rev", at=at or runtime.now())


# -- what proves the address ----------------------------------------------------------------------
def test_join_request_matched_by_code_proves_the_address(runtime: Runtime) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    paste(runtime, f"山田 太郎\t{app.code}")
    after = stored(runtime, app.code)
    assert after.status == "ready_for_review"
    assert after.email_proven_by == "join_request_code" and after.email_proven_at is not None
    [entry] = audit_of(runtime, app.code, "email_proven")
    assert entry.actor == "rev" and entry.detail["by"] == "join_request_code"


def test_join_request_matched_by_name_only_proves_nothing(runtime: Runtime) -> None:
    app = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    paste(runtime, "Hanako Suzuki\tよろしくお願いします")
    after = stored(runtime, app.code)
    assert after.status == "ready_for_review"  # matched, and seen…
    assert after.email_proven_by == "" and after.email_proven_at is None  # …but not proven
    assert audit_of(runtime, app.code, "email_proven") == []


def test_join_request_matched_by_a_reviewer_proves_nothing(runtime: Runtime) -> None:
    app = make_application(runtime, full_name="佐藤 一郎")
    paste(runtime, "まったく 別人\tこんにちは")
    with runtime.db.transaction() as db:
        jr = db.scalars(select(JoinRequest)).one()
        target = applications.get_by_code(db, app.code)
        resolve_join_request(db, jr, target, actor="rev", at=runtime.now())
    after = stored(runtime, app.code)
    assert after.status == "ready_for_review" and after.email_proven_at is None


def test_the_first_proof_is_kept_when_another_comes_later(runtime: Runtime) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    first = runtime.now()
    paste(runtime, f"山田 太郎\t{app.code}", at=first)
    paste(runtime, f"Taro Yamada\t{app.code} です", at=first + timedelta(days=1))
    after = stored(runtime, app.code)
    assert after.email_proven_by == "join_request_code" and after.email_proven_at == first
    assert len(audit_of(runtime, app.code, "email_proven")) == 1


@pytest.fixture
def messenger(runtime: Runtime) -> tuple[Runtime, FlaskClient]:
    rt = prepared(runtime)
    add_application(rt, "OC-7K3M9Q", status="awaiting_join_request")
    return rt, create_app(runtime=rt).test_client()


def test_linking_through_the_mailed_m_me_link_proves_the_address(
    messenger: tuple[Runtime, FlaskClient],
) -> None:
    rt, client = messenger
    post_webhook(client, rt, body(get_started_item("p1", 0, "tok-OC-7K3M9Q")))
    drain(rt)
    after = stored(rt, "OC-7K3M9Q")
    assert after.messenger_identity_id is not None
    assert after.email_proven_by == "messenger_ref"
    [entry] = audit_of(rt, "OC-7K3M9Q", "email_proven")
    assert entry.actor == "messenger" and entry.detail == {
        "by": "messenger_ref",
        "source": "SHORTLINK",
    }


def test_linking_by_typed_code_and_email_proves_the_address(
    messenger: tuple[Runtime, FlaskClient],
) -> None:
    rt, client = messenger
    post_webhook(client, rt, body(text_item("p1", 0, "OC-7K3M9Q")))
    drain(rt)
    assert stored(rt, "OC-7K3M9Q").email_proven_at is None  # the code alone is not enough
    post_webhook(client, rt, body(text_item("p1", 1, "oc-7k3m9q@example.jp")))
    drain(rt)
    after = stored(rt, "OC-7K3M9Q")
    assert after.messenger_identity_id is not None and after.email_proven_by == "typed_code"


def test_a_typed_code_with_the_wrong_email_proves_nothing(
    messenger: tuple[Runtime, FlaskClient],
) -> None:
    rt, client = messenger
    post_webhook(client, rt, body(text_item("p1", 0, "OC-7K3M9Q")))
    post_webhook(client, rt, body(text_item("p1", 1, "someone.else@example.jp")))
    drain(rt)
    assert stored(rt, "OC-7K3M9Q").email_proven_at is None


def test_the_json_shape_says_how_the_address_was_proven(runtime: Runtime) -> None:
    proven = make_application(runtime, full_name="山田 太郎")
    unproven = make_application(runtime, full_name="鈴木 花子")
    paste(runtime, f"山田 太郎\t{proven.code}")
    with runtime.db.transaction() as db:
        shown = {
            a.code: applications.to_json(a, runtime.settings.tz)
            for a in applications.list_applications(db)
        }
    assert shown[proven.code]["email_proven_by"] == "join_request_code"
    assert shown[proven.code]["email_proven_at"]
    assert shown[unproven.code]["email_proven_by"] == ""
    assert shown[unproven.code]["email_proven_at"] is None


# -- what the console shows -----------------------------------------------------------------------
def test_queue_card_and_application_page_tell_a_proven_address_from_a_name_only_match(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    by_code = make_application(runtime, full_name="山田 太郎")
    by_name = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    paste(runtime, f"山田 太郎\t{by_code.code}\nHanako Suzuki\tよろしく")
    queue = reviewer.get("/console/").get_data(as_text=True)
    rows = {
        code: text_of(row)
        for code, row in (
            (c, queue.split(f'data-code="{c}"', 1)[1].split("</tr>", 1)[0])
            for c in (by_code.code, by_name.code)
        )
    }
    assert PROVEN_BY_CODE in rows[by_code.code] and "メール未確認" not in rows[by_code.code]
    assert UNPROVEN_BY_NAME in rows[by_name.code] and "メール確認済み" not in rows[by_name.code]
    page = reviewer.get(f"/console/applications/{by_name.code}").get_data(as_text=True)
    assert UNPROVEN_BY_NAME in page and 'name="identity_checked"' in page
    page = reviewer.get(f"/console/applications/{by_code.code}").get_data(as_text=True)
    assert PROVEN_BY_CODE in page and 'name="identity_checked"' not in page


# -- approving an unproven application ------------------------------------------------------------
def approve_on_page(client: FlaskClient, code: str, **form: Any) -> Any:
    return post(client, f"/console/applications/{code}/approve", form, follow_redirects=True)


def test_approving_an_unproven_application_without_the_check_is_refused(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    paste(runtime, "Hanako Suzuki\tよろしく")
    response = approve_on_page(reviewer, app.code)
    assert response.status_code == 200
    assert "本人であることを確認したうえで" in response.get_data(as_text=True)
    assert stored(runtime, app.code).status == "ready_for_review"
    assert audit_of(runtime, app.code, "approve") == []


def test_approving_an_unproven_application_with_the_check_records_the_reviewers_word(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    paste(runtime, "Hanako Suzuki\tよろしく")
    response = approve_on_page(reviewer, app.code, identity_checked="1")
    assert f"1 件を承認しました: {app.code}" in response.get_data(as_text=True)
    assert stored(runtime, app.code).status == "approved"
    [entry] = audit_of(runtime, app.code, "approve")
    assert entry.actor == "rev"
    assert entry.detail["identity_checked_by_reviewer"] is True
    assert entry.detail["email_proven_by"] == ""


def test_approving_a_proven_application_needs_no_check(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    paste(runtime, f"山田 太郎\t{app.code}")
    approve_on_page(reviewer, app.code)
    assert stored(runtime, app.code).status == "approved"
    [entry] = audit_of(runtime, app.code, "approve")
    assert entry.detail["email_proven_by"] == "join_request_code"
    assert entry.detail["identity_checked_by_reviewer"] is False


def test_bulk_approval_skips_unproven_applications_and_says_why(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    proven = make_application(runtime, full_name="山田 太郎")
    unproven = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    paste(runtime, f"山田 太郎\t{proven.code}\nHanako Suzuki\tよろしく")
    response = post(
        reviewer,
        "/console/decisions/approve",
        {"codes": [proven.code, unproven.code], "back": "/console/"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert stored(runtime, proven.code).status == "approved"
    assert stored(runtime, unproven.code).status == "ready_for_review"
    assert "1 件を承認しました" in html
    assert "1 件は承認できませんでした" in html and unproven.code in html
    assert "メール未確認" in html  # the reason, in Japanese, per skipped application


def test_an_approval_post_without_the_csrf_token_is_refused(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    paste(runtime, f"山田 太郎\t{app.code}")
    response = reviewer.post(f"/console/applications/{app.code}/approve", data={})
    assert response.status_code == 400
    assert stored(runtime, app.code).status == "ready_for_review"


def test_the_approve_page_needs_a_login(runtime: Runtime) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    client = create_app(runtime=runtime).test_client()
    response = post(client, f"/console/applications/{app.code}/approve", {"identity_checked": "1"})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert stored(runtime, app.code).status == "awaiting_join_request"
