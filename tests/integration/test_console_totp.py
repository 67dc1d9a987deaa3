"""The optional second factor: an authenticator app's code after the password (both engines)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.accounts import totp
from bot.accounts.users import reset_password
from bot.models import AuditEntry, ConsoleSession, SecretariatUser
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    PASSWORD,
    console_app,
    logged_in,
    login,
    make_user,
    post,
)


def code_now(runtime: Runtime, secret: str, shift: int = 0) -> str:
    return totp.code_at(secret, totp.step_of(runtime.now()) + shift)


def wrong_code(runtime: Runtime, secret: str) -> str:
    """A six-digit code that none of the accepted steps has (never right by chance)."""
    valid = {code_now(runtime, secret, shift) for shift in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(10)) if c not in valid)


def enable(runtime: Runtime, client: FlaskClient) -> str:
    """Turn TOTP on through the page, as a person with an authenticator app would."""
    page = client.get("/console/totp")
    assert page.status_code == 200
    with client.session_transaction() as sess:
        secret = str(sess["pending_totp_secret"])
    assert secret in page.get_data(as_text=True)  # the set-up key is shown to type in
    response = post(
        client, "/console/totp", {"code": code_now(runtime, secret), "password": PASSWORD}
    )
    assert response.status_code == 302
    return secret


def user(runtime: Runtime, name: str) -> Any:
    with runtime.db.transaction() as db:
        return db.scalars(select(SecretariatUser).where(SecretariatUser.name == name)).one()


def sessions_of(runtime: Runtime, name: str) -> int:
    with runtime.db.transaction() as db:
        uid = db.scalars(select(SecretariatUser.id).where(SecretariatUser.name == name)).one()
        return len(db.scalars(select(ConsoleSession).where(ConsoleSession.user_id == uid)).all())


def test_with_totp_on_the_password_alone_opens_no_session(runtime: Runtime) -> None:
    secret = enable(runtime, logged_in(runtime, "adm", "admin"))
    assert user(runtime, "adm").totp_secret == secret
    client = console_app(runtime).test_client()
    before = sessions_of(runtime, "adm")
    response = login(client, "adm")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert client.get("/console/").status_code == 302  # not logged in yet
    assert sessions_of(runtime, "adm") == before
    # the code that turned TOTP on is spent: the app's next code (one step of drift allowed)
    response = post(client, "/console/login/code", {"code": code_now(runtime, secret, shift=1)})
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200
    assert sessions_of(runtime, "adm") == before + 1


def test_a_wrong_or_reused_code_is_refused(runtime: Runtime) -> None:
    secret = enable(runtime, logged_in(runtime, "adm", "admin"))
    client = console_app(runtime).test_client()
    login(client, "adm")
    wrong = wrong_code(runtime, secret)
    assert post(client, "/console/login/code", {"code": wrong}).status_code == 401
    # the code that turned TOTP on was used: it cannot open a login
    assert (
        post(client, "/console/login/code", {"code": code_now(runtime, secret)}).status_code == 401
    )
    assert client.get("/console/").status_code == 302
    with runtime.db.transaction() as db:
        actions = list(db.scalars(select(AuditEntry.action)))
    assert actions.count("login_code_failed") == 2 and "login_password_ok" in actions


def test_code_guesses_are_throttled_like_passwords(runtime: Runtime) -> None:
    secret = enable(runtime, logged_in(runtime, "adm", "admin"))
    client = console_app(runtime).test_client()
    login(client, "adm")
    wrong = wrong_code(runtime, secret)
    for _ in range(runtime.settings.console.login_account_free_attempts):
        assert post(client, "/console/login/code", {"code": wrong}).status_code == 401
    # the right code, but the key waits: refused without a check
    assert (
        post(
            client, "/console/login/code", {"code": code_now(runtime, secret, shift=1)}
        ).status_code
        == 401
    )
    with runtime.db.transaction() as db:
        assert "login_code_throttled" in list(db.scalars(select(AuditEntry.action)))


def test_the_code_step_expires(runtime: Runtime) -> None:
    secret = enable(runtime, logged_in(runtime, "adm", "admin"))
    client = console_app(runtime).test_client()
    login(client, "adm")
    base = runtime.now
    runtime.now = lambda: base() + timedelta(minutes=6)
    response = post(client, "/console/login/code", {"code": code_now(runtime, secret)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/login")
    assert client.get("/console/").status_code == 302


def test_the_code_page_without_a_password_step_sends_to_login(runtime: Runtime) -> None:
    make_user(runtime, "adm", "admin")
    client = console_app(runtime).test_client()
    response = post(client, "/console/login/code", {"code": "123456"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/login")


def test_turning_on_needs_a_code_from_the_shown_key(runtime: Runtime) -> None:
    client = logged_in(runtime, "adm", "admin")
    client.get("/console/totp")
    with client.session_transaction() as sess:
        shown = str(sess["pending_totp_secret"])
    assert (
        post(
            client, "/console/totp", {"code": wrong_code(runtime, shown), "password": PASSWORD}
        ).status_code
        == 400
    )
    # the right code without the account's password does not do it either
    assert (
        post(
            client, "/console/totp", {"code": code_now(runtime, shown), "password": "not it at all"}
        ).status_code
        == 400
    )
    assert user(runtime, "adm").totp_secret == ""


def test_turning_off_needs_a_current_code(runtime: Runtime) -> None:
    client = logged_in(runtime, "adm", "admin")
    secret = enable(runtime, client)
    wrong = {"code": wrong_code(runtime, secret), "password": PASSWORD}
    assert post(client, "/console/totp", wrong).status_code == 400
    assert user(runtime, "adm").totp_secret == secret
    right = {"code": code_now(runtime, secret, shift=1), "password": PASSWORD}
    assert post(client, "/console/totp", right).status_code == 302
    assert user(runtime, "adm").totp_secret == ""


def test_code_guesses_to_turn_it_off_are_throttled(runtime: Runtime) -> None:
    """A stolen session cannot guess its way past the second factor."""
    client = logged_in(runtime, "adm", "admin")
    secret = enable(runtime, client)
    wrong = {"code": wrong_code(runtime, secret), "password": PASSWORD}
    for _ in range(runtime.settings.console.login_account_free_attempts):
        assert post(client, "/console/totp", wrong).status_code == 400
    right = {"code": code_now(runtime, secret, shift=1), "password": PASSWORD}
    assert post(client, "/console/totp", right).status_code == 400  # waiting: not checked
    assert user(runtime, "adm").totp_secret == secret
    with runtime.db.transaction() as db:
        actions = list(db.scalars(select(AuditEntry.action)))
    assert actions.count("totp_disable_failed") == 6


def test_an_admin_reset_removes_the_second_factor(runtime: Runtime) -> None:
    enable(runtime, logged_in(runtime, "adm", "admin"))
    with runtime.db.transaction() as db:
        account = db.scalars(select(SecretariatUser).where(SecretariatUser.name == "adm")).one()
        reset_password(db, account, "temporary passphrase 7", actor="boss", at=runtime.now())
    assert user(runtime, "adm").totp_secret == ""
    client = console_app(runtime).test_client()
    response = login(client, "adm", "temporary passphrase 7")
    assert response.headers["Location"].endswith("/console/password")  # straight in, then change


def test_an_admin_unlock_also_ends_the_wait_on_codes(runtime: Runtime) -> None:
    secret = enable(runtime, logged_in(runtime, "adm", "admin"))
    boss = logged_in(runtime, "boss", "admin")
    client = console_app(runtime).test_client()
    login(client, "adm")
    wrong = wrong_code(runtime, secret)
    for _ in range(runtime.settings.console.login_account_free_attempts):
        post(client, "/console/login/code", {"code": wrong})
    assert "ログイン制限を解除" in boss.get("/console/users").get_data(as_text=True)
    uid = user(runtime, "adm").id
    assert post(boss, f"/console/users/{uid}/unlock").status_code == 302
    right = {"code": code_now(runtime, secret, shift=1)}
    assert post(client, "/console/login/code", right).status_code == 302
