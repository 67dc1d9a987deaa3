"""Console logins that hold under guessing, and sessions that really end.

Throttling per account and per client network (atomic in the database, on both engines), one
answer for every failed login, forwarded headers trusted only from proxy networks, server-side
sessions (logout, password change, reset and deactivation end them; idle and absolute limits),
the password policy, and the admin's reset and unlock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.accounts import login_throttle
from bot.accounts import users as accounts
from bot.accounts.login_throttle import ThrottlePolicy, admit
from bot.accounts.passwords import PasswordProblem
from bot.accounts.users import WeakPassword, add_user
from bot.models import AuditEntry, ConsoleSession, LoginThrottle, SecretariatUser
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    PASSWORD,
    console_app,
    csrf_of,
    logged_in,
    login,
    make_user,
    post,
)

FAILED_LOGIN = "ユーザー名またはパスワードが違うか、失敗が続いたため一時的にログインできません"
NEW_PASSWORD = "a whole new passphrase"
TEMPORARY = "temporary passphrase 7"


def _tune(runtime: Runtime, **console: Any) -> None:
    runtime.settings = runtime.settings.replace(
        console=dataclasses.replace(runtime.settings.console, **console)
    )


def _from(address: str, forwarded_for: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"environ_base": {"REMOTE_ADDR": address}}
    if forwarded_for is not None:
        env["headers"] = {"X-Forwarded-For": forwarded_for}
    return env


def _advance(runtime: Runtime, delta: timedelta) -> None:
    before = runtime.now
    runtime.now = lambda: before() + delta


def _actions(runtime: Runtime) -> list[str]:
    with runtime.db.transaction() as db:
        return [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# -- the throttle itself ---------------------------------------------------------------------------
POLICY = ThrottlePolicy(
    free_attempts=3,
    first_delay=timedelta(seconds=10),
    max_delay=timedelta(seconds=60),
    forget_after=timedelta(minutes=15),
)


def test_parallel_attempts_on_one_key_are_admitted_at_most_the_free_number(
    runtime: Runtime, now: datetime
) -> None:
    admitted: list[bool] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait()
        with runtime.db.transaction() as db:
            admitted.append(admit(db, "account:x", POLICY, at=now).admitted)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(admitted) == [False] * 9 + [True] * 3
    with runtime.db.transaction() as db:
        row = db.get(LoginThrottle, "account:x")
        assert row is not None and row.attempts == 3
        assert row.next_allowed_at == now + timedelta(seconds=10)


def test_waits_double_and_refused_attempts_do_not_lengthen_them(
    runtime: Runtime, now: datetime
) -> None:
    def at(seconds: float) -> bool:
        with runtime.db.transaction() as db:
            return admit(db, "k", POLICY, at=now + timedelta(seconds=seconds)).admitted

    assert [at(0), at(0), at(0)] == [True, True, True]  # three free attempts, then 10 s
    assert [at(1), at(5), at(9.9)] == [False, False, False]
    assert at(10)  # the 4th; then 20 s
    assert not at(29.9)
    assert at(30)  # the 5th; then 40 s
    assert at(70)  # the 6th; then 60 s (the most)
    assert not at(129.9)
    assert at(130)


def test_a_key_is_forgotten_after_its_wait_has_long_ended(runtime: Runtime, now: datetime) -> None:
    with runtime.db.transaction() as db:
        for _ in range(4):
            admit(db, "k", POLICY, at=now)
    later = now + timedelta(seconds=10) + POLICY.forget_after + timedelta(seconds=1)
    with runtime.db.transaction() as db:
        admission = admit(db, "k", POLICY, at=later)
    assert admission.admitted and admission.attempts == 1


# -- one answer for every failure ------------------------------------------------------------------
def test_unknown_deactivated_waiting_and_wrong_password_logins_get_identical_answers(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(runtime, "rev", "reviewer")
    make_user(runtime, "gone", "reviewer")
    with runtime.db.transaction() as db:
        accounts.find_user(db, "gone").active = False  # type: ignore[union-attr]
    hashes: list[str] = []
    real_check = accounts.check_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        hashes.append(pwhash)
        return real_check(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting_check)
    client = console_app(runtime).test_client()
    answers = []
    for name, password in [
        ("nobody", "guess-guess-guess"),  # unknown
        ("gone", PASSWORD),  # deactivated (right password)
        ("rev", "wrong wrong wrong"),  # wrong password
        ("rev", "wrong wrong wrong"),
        ("rev", "wrong wrong wrong"),
        ("rev", "wrong wrong wrong"),
        ("rev", "wrong wrong wrong"),
        ("rev", PASSWORD),  # waiting (right password, not checked)
    ]:
        response = login(client, name, password)
        answers.append((response.status_code, response.get_data(as_text=True)))
    assert len(set(answers)) == 1
    status, body = answers[0]
    assert status == 401 and FAILED_LOGIN in body
    assert len(hashes) == 8  # one scrypt hash on every path, so the time tells nothing
    assert _actions(runtime)[-8:] == ["login_failed"] * 7 + ["login_throttled"]


def test_a_failed_login_on_a_name_that_is_no_account_stores_no_trace_of_the_name(
    runtime: Runtime,
) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    typed = "MySecretPassw0rd-typed-as-name"
    assert login(client, typed, "anything at all").status_code == 401
    with runtime.db.transaction() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).one()
        assert entry.actor == "-"
        assert typed not in repr(entry.detail) and typed not in entry.reason
        keys = list(db.scalars(select(LoginThrottle.key)))
    assert keys and all(typed.lower() not in k.lower() for k in keys)


def test_a_failed_login_on_a_real_account_names_it(runtime: Runtime) -> None:
    make_user(runtime, "rev", "reviewer")
    login(console_app(runtime).test_client(), "rev", "wrong password!!")
    with runtime.db.transaction() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).one()
    assert entry.actor == "rev"


# -- client networks and proxies -------------------------------------------------------------------
def test_spoofed_forwarded_for_from_a_peer_outside_the_proxy_networks_keeps_its_key(
    runtime: Runtime,
) -> None:
    _tune(runtime, login_ip_max_failures=3)
    runtime.settings = runtime.settings.replace(
        app=dataclasses.replace(
            runtime.settings.app, trusted_proxies=1, trusted_proxy_networks=("10.0.0.0/8",)
        )
    )
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    for i in range(3):
        login(client, f"user{i}", "guess-guess", **_from("203.0.113.9", f"198.51.100.{i}"))
    response = login(client, "rev", **_from("203.0.113.9", "198.51.100.99"))
    assert response.status_code == 401  # the fresh spoofed address did not help
    with runtime.db.transaction() as db:
        entries = db.scalars(
            select(AuditEntry).where(AuditEntry.action.like("login%")).order_by(AuditEntry.id)
        )
        ips = [(e.action, e.detail.get("ip")) for e in entries]
    assert ips == [("login_failed", "203.0.113.9")] * 3 + [("login_throttled", "203.0.113.9")]
    # through the router, the forwarded address is the client's (and its own key)
    proxied = console_app(runtime).test_client()
    assert login(proxied, "rev", **_from("10.1.2.3", "198.51.100.99")).status_code == 302
    with runtime.db.transaction() as db:
        last = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert last is not None and last.detail["ip"] == "198.51.100.99"


def test_ipv6_addresses_in_one_64_share_a_key_and_other_64s_do_not(runtime: Runtime) -> None:
    _tune(runtime, login_ip_max_failures=3)
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    for i in range(1, 4):
        login(client, f"user{i}", "guess-guess", **_from(f"2001:db8:1:2::{i:x}"))
    assert login(client, "rev", **_from("2001:db8:1:2:ffff::99")).status_code == 401
    assert login(client, "rev", **_from("2001:db8:1:3::1")).status_code == 302
    with runtime.db.transaction() as db:
        assert db.get(LoginThrottle, "network:2001:db8:1:2::/64") is not None


# -- server-side sessions --------------------------------------------------------------------------
def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("cityhall_session")
    assert cookie is not None
    return cookie.value


def _client_with_cookie(runtime: Runtime, value: str) -> FlaskClient:
    other = console_app(runtime).test_client()
    other.set_cookie("cityhall_session", value)
    return other


def test_an_old_cookie_copied_before_logout_is_sent_to_login(runtime: Runtime) -> None:
    client = logged_in(runtime)
    copied = _cookie(client)
    assert _client_with_cookie(runtime, copied).get("/console/").status_code == 200
    assert post(client, "/console/logout").status_code == 302
    response = _client_with_cookie(runtime, copied).get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")
    with runtime.db.transaction() as db:
        assert db.scalars(select(ConsoleSession)).one().ended_at is not None


def test_a_busy_session_still_ends_after_its_absolute_lifetime(runtime: Runtime) -> None:
    client = logged_in(runtime)
    for _ in range(7):  # a request every 100 minutes: never idle for the 120-minute timeout
        _advance(runtime, timedelta(minutes=100))
        assert client.get("/console/").status_code == 200
    _advance(runtime, timedelta(minutes=100))  # 13 h 20 min after the login (limit: 12 h)
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")


def test_an_idle_session_ends_and_stays_ended(runtime: Runtime) -> None:
    client = logged_in(runtime)
    copied = _cookie(client)
    _advance(runtime, timedelta(minutes=121))
    assert client.get("/console/").status_code == 302
    _advance(runtime, timedelta(minutes=-121))  # the row was ended, not just judged stale
    assert _client_with_cookie(runtime, copied).get("/console/").status_code == 302


def test_deactivating_a_user_ends_their_sessions_at_once(runtime: Runtime) -> None:
    rev = logged_in(runtime, "rev", "reviewer")
    boss = logged_in(runtime, "boss", "admin")
    assert rev.get("/console/").status_code == 200
    with runtime.db.transaction() as db:
        rev_id = accounts.find_user(db, "rev").id  # type: ignore[union-attr]
    assert post(boss, f"/console/users/{rev_id}/active", {"active": "0"}).status_code == 302
    with runtime.db.transaction() as db:
        rows = db.scalars(select(ConsoleSession).where(ConsoleSession.user_id == rev_id)).all()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user_deactivated")).one()
    assert rows and all(r.ended_at is not None for r in rows)
    assert entry.detail["sessions_ended"] == 1
    assert rev.get("/console/").status_code == 302
    # reactivated, the old session stays ended
    assert post(boss, f"/console/users/{rev_id}/active", {"active": "1"}).status_code == 302
    assert rev.get("/console/").status_code == 302


# -- passwords -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pw", "パスワードは12文字以上にしてください"),
        ("password1234", "よく使われていて推測されやすいパスワードです"),
        ("aaaaaaaaaaaaaa", "同じ文字の繰り返しが多すぎます"),
    ],
)
def test_admin_cannot_create_a_user_with_a_weak_password(
    runtime: Runtime, password: str, message: str
) -> None:
    boss = logged_in(runtime, "boss", "admin")
    response = post(
        boss, "/console/users", {"name": "new", "role": "reviewer", "password": password}
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with runtime.db.transaction() as db:
        assert accounts.find_user(db, "new") is None


def test_add_user_refuses_a_common_password_whoever_calls_it(runtime: Runtime) -> None:
    with runtime.db.transaction() as db, pytest.raises(WeakPassword) as refused:
        add_user(db, "cli", "admin", "qwerty123456", actor="cli", at=runtime.now())
    assert refused.value.problem is PasswordProblem.COMMON


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    return post(
        client,
        "/console/password",
        {
            "current_password": current,
            "new_password": new,
            "new_password_confirm": new if confirm is None else confirm,
        },
    )


def test_changing_ones_password_ends_other_sessions_and_keeps_this_browser_in(
    runtime: Runtime,
) -> None:
    here = logged_in(runtime)
    elsewhere = console_app(runtime).test_client()
    login(elsewhere, "rev")
    response = _change(here, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert here.get("/console/").status_code == 200
    assert elsewhere.get("/console/").status_code == 302
    fresh = console_app(runtime).test_client()
    assert login(fresh, "rev", PASSWORD).status_code == 401
    assert login(fresh, "rev", NEW_PASSWORD).status_code == 302
    assert "password_changed" in _actions(runtime)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("not my password", NEW_PASSWORD, None, "今のパスワードが違うか"),
        (PASSWORD, NEW_PASSWORD, "a whole new passphrasE", "確認用の入力が一致しません"),
        (PASSWORD, "iloveyou2026", None, "よく使われていて"),
        (PASSWORD, PASSWORD, None, "今のパスワードと同じです"),
    ],
)
def test_a_password_change_is_refused_with_a_japanese_reason(
    runtime: Runtime, current: str, new: str, confirm: str | None, message: str
) -> None:
    client = logged_in(runtime)
    response = _change(client, current, new, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 200  # still logged in
    assert login(console_app(runtime).test_client(), "rev").status_code == 302  # unchanged


def test_admin_reset_ends_sessions_and_forces_a_change_at_the_next_login(
    runtime: Runtime,
) -> None:
    rev = logged_in(runtime, "rev", "reviewer")
    boss = logged_in(runtime, "boss", "admin")
    with runtime.db.transaction() as db:
        rev_id = accounts.find_user(db, "rev").id  # type: ignore[union-attr]
    response = post(boss, f"/console/users/{rev_id}/password", {"password": TEMPORARY})
    assert response.status_code == 302
    assert rev.get("/console/").status_code == 302  # the old session ended
    again = console_app(runtime).test_client()
    response = login(again, "rev", TEMPORARY)
    assert response.headers["Location"] == "/console/password"
    forced = again.get("/console/")
    assert forced.status_code == 302 and forced.headers["Location"] == "/console/password"
    assert "管理者がパスワードをリセットしました" in again.get("/console/password").get_data(
        as_text=True
    )
    assert _change(again, TEMPORARY, NEW_PASSWORD).status_code == 302
    assert again.get("/console/").status_code == 200
    with runtime.db.transaction() as db:
        user = db.get(SecretariatUser, rev_id)
        assert user is not None and not user.must_change_password
        reset = db.scalars(select(AuditEntry).where(AuditEntry.action == "password_reset")).one()
    assert reset.actor == "boss" and reset.detail["user"] == "rev"


def test_admin_reset_refuses_a_weak_temporary_password(runtime: Runtime) -> None:
    boss = logged_in(runtime, "boss", "admin")
    make_user(runtime, "rev", "reviewer")
    with runtime.db.transaction() as db:
        rev_id = accounts.find_user(db, "rev").id  # type: ignore[union-attr]
    response = post(boss, f"/console/users/{rev_id}/password", {"password": "password"})
    assert response.status_code == 400
    assert "12文字以上" in response.get_data(as_text=True)
    assert login(console_app(runtime).test_client(), "rev").status_code == 302


def test_admin_sees_a_waiting_account_and_can_end_the_wait(runtime: Runtime) -> None:
    boss = logged_in(runtime, "boss", "admin")
    make_user(runtime, "rev", "reviewer")
    attacker = console_app(runtime).test_client()
    for _ in range(5):
        login(attacker, "rev", "wrong wrong wrong", **_from("203.0.113.9"))
    rev = console_app(runtime).test_client()
    assert login(rev, "rev").status_code == 401  # waits, from any network
    page = boss.get("/console/users").get_data(as_text=True)
    assert "まで待機" in page and "ログイン制限を解除" in page
    with runtime.db.transaction() as db:
        rev_id = accounts.find_user(db, "rev").id  # type: ignore[union-attr]
    assert post(boss, f"/console/users/{rev_id}/unlock").status_code == 302
    assert login(rev, "rev").status_code == 302
    with runtime.db.transaction() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "login_unlocked")).one()
    assert entry.actor == "boss" and entry.detail == {"user": "rev"}


def test_reviewer_cannot_reset_or_unlock(runtime: Runtime) -> None:
    make_user(runtime, "boss", "admin")
    rev = logged_in(runtime)
    with runtime.db.transaction() as db:
        boss_id = accounts.find_user(db, "boss").id  # type: ignore[union-attr]
    assert (
        post(rev, f"/console/users/{boss_id}/password", {"password": TEMPORARY}).status_code == 403
    )
    assert post(rev, f"/console/users/{boss_id}/unlock").status_code == 403
    assert login(console_app(runtime).test_client(), "boss").status_code == 302


def test_new_password_forms_need_the_csrf_token(runtime: Runtime) -> None:
    client = logged_in(runtime)
    csrf_of(client)
    response = client.post(
        "/console/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert login(console_app(runtime).test_client(), "rev").status_code == 302


def test_account_key_is_a_keyed_hash_of_the_name() -> None:
    key: Callable[[str, str], str] = login_throttle.account_key
    assert key("s", "Rev ") == key("s", "rev")
    assert key("s", "rev") != key("t", "rev")
    assert "rev" not in key("s", "rev").removeprefix("account:")
