"""Accounts by an admin: role change (never leaving no admin), reset and unlock; audited,
CSRF-checked and admin-only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.accounts.users import LastAdmin, change_role
from bot.models import AuditEntry, SecretariatUser
from bot.runtime import Runtime
from tests.integration.test_console_helpers import make_user, post, text_of


def _user(runtime: Runtime, name: str) -> SecretariatUser:
    with runtime.db.transaction() as db:
        return db.scalars(select(SecretariatUser).where(SecretariatUser.name == name)).one()


def test_admin_makes_a_reviewer_an_admin_and_back_audited(
    runtime: Runtime, admin: FlaskClient
) -> None:
    make_user(runtime, "sato", "reviewer")
    sato = _user(runtime, "sato")
    response = post(admin, f"/console/users/{sato.id}/role", {"role": "admin"})
    assert response.status_code == 302
    assert _user(runtime, "sato").role == "admin"
    page = admin.get("/console/users").get_data(as_text=True)
    assert "sato の役割を管理者にしました" in page
    post(admin, f"/console/users/{sato.id}/role", {"role": "reviewer"})
    assert _user(runtime, "sato").role == "reviewer"
    with runtime.db.transaction() as db:
        entries = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "role_changed").order_by(AuditEntry.id)
        ).all()
        assert [(e.actor, e.detail["before"], e.detail["after"]) for e in entries] == [
            ("boss", "reviewer", "admin"),
            ("boss", "admin", "reviewer"),
        ]
    audit_page = text_of(admin.get("/console/audit").get_data(as_text=True))
    assert "役割の変更" in audit_page and "変更前=確認担当" in audit_page


def test_the_last_active_admin_cannot_demote_themselves(
    runtime: Runtime, admin: FlaskClient
) -> None:
    boss = _user(runtime, "boss")
    post(admin, f"/console/users/{boss.id}/role", {"role": "reviewer"})
    assert _user(runtime, "boss").role == "admin"
    assert "最後の有効な管理者" in admin.get("/console/users").get_data(as_text=True)
    make_user(runtime, "deputy", "admin")
    post(admin, f"/console/users/{boss.id}/role", {"role": "reviewer"})
    assert _user(runtime, "boss").role == "reviewer"
    assert admin.get("/console/users").status_code == 403  # the new role counts at once


def test_an_inactive_admin_does_not_count_as_the_other_admin(runtime: Runtime) -> None:
    make_user(runtime, "only", "admin")
    make_user(runtime, "gone", "admin")
    with runtime.db.transaction() as db:
        gone = db.scalars(select(SecretariatUser).where(SecretariatUser.name == "gone")).one()
        gone.active = False
        only = db.scalars(select(SecretariatUser).where(SecretariatUser.name == "only")).one()
        with pytest.raises(LastAdmin):
            change_role(db, only, "reviewer", actor="t", at=runtime.now())
        assert change_role(db, gone, "reviewer", actor="t", at=runtime.now()) is True


@pytest.mark.parametrize("role", ["owner", ""])
def test_an_unknown_role_is_refused(runtime: Runtime, admin: FlaskClient, role: str) -> None:
    make_user(runtime, "sato", "reviewer")
    sato = _user(runtime, "sato")
    assert post(admin, f"/console/users/{sato.id}/role", {"role": role}).status_code == 400
    assert _user(runtime, "sato").role == "reviewer"


def test_role_change_needs_an_admin_and_the_csrf_token(
    runtime: Runtime, admin: FlaskClient, reviewer: FlaskClient
) -> None:
    rev = _user(runtime, "rev")
    assert post(reviewer, f"/console/users/{rev.id}/role", {"role": "admin"}).status_code == 403
    no_token = admin.post(f"/console/users/{rev.id}/role", data={"role": "admin"})
    assert no_token.status_code == 400
    assert _user(runtime, "rev").role == "reviewer"
    assert post(admin, "/console/users/999999/role", {"role": "admin"}).status_code == 404


def test_users_page_names_roles_in_japanese(runtime: Runtime, admin: FlaskClient) -> None:
    make_user(runtime, "sato", "reviewer")
    text = text_of(admin.get("/console/users").get_data(as_text=True))
    assert "確認担当" in text and "管理者" in text and "reviewer" not in text
