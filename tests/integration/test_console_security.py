"""Console access control: sessions, roles on every route, CSRF, throttling, headers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bot.models import (
    Alert,
    AuditEntry,
    Consultation,
    Event,
    FaqEntry,
    Group,
    InboundEvent,
    JoinRequest,
    MemberQuestion,
    OutboundMessage,
    QuarantinedRow,
    RejectionTemplate,
    SecretariatUser,
    Section,
)
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    PASSWORD,
    console_app,
    csrf_of,
    logged_in,
    login,
    make_application,
    make_user,
    post,
)

PUBLIC = {"console.login", "console.login_code", "console.static"}
REVIEWER_ENDPOINTS = {
    "console.home",
    "console.approve",
    "console.reject",
    "console.application",
    "console.add_note",
    "console.approve_application",
    "console.undo",
    "console.close",
    "console.claim",
    "console.release_claim",
    "console.accept_pending_change",
    "console.discard_pending_change",
    "console.join_requests",
    "console.dashboard",
    "console.import_pasted",
    "console.resolve",
    "console.dismiss_join_request",
    "console.restore_join_request",
    "console.dismiss_selected",
    "console.logout",
    "console.change_password",
    "console.totp_settings",
    # after the invitations (issue 17): every secretariat member runs these
    "console.events",
    "console.create_event",
    "console.events_from_schedule",
    "console.event_page",
    "console.cancel_event",
    "console.sections",
    "console.create_section",
    "console.edit_section",
    "console.set_section_active",
    "console.questions_page",
    "console.question_reply",
    "console.question_close",
    "console.question_faq",
    "console.faq_page",
    "console.faq_create",
    "console.faq_edit",
    "console.faq_toggle",
    "console.consultations_page",
    "console.consultation_reply",
    "console.consultation_posted",
    "console.consultation_close",
}


def _seed_objects(runtime: Runtime) -> str:
    """One object of each kind a route can address, so admin walks meet real rows."""
    app = make_application(runtime)
    with runtime.db.transaction() as db:
        db.add_all(
            [
                Group(kind="prefecture", key="富山県", name="富山県の部屋", capacity=250),
                OutboundMessage(
                    idempotency_key="k1",
                    channel="email",
                    recipient="a@example.jp",
                    status="dead",
                    last_error="boom",
                ),
                QuarantinedRow(
                    source="csv",
                    fingerprint="f",
                    raw={"氏名": "x"},
                    reason_code="bad",
                    reason="bad row",
                ),
                JoinRequest(name="誰か", answer="", status="unmatched"),
                Alert(kind="group_full", key="富山県", message="満員"),
                InboundEvent(source="messenger", event_key="e1", status="dead", payload={}),
                RejectionTemplate(label="l", text="t"),
                Event(
                    kind="study",
                    title="勉強会",
                    starts_at=datetime(2030, 1, 11, 12, tzinfo=UTC),
                    ends_at=datetime(2030, 1, 11, 13, tzinfo=UTC),
                ),
                Section(name="法規課", kind="work"),
                FaqEntry(question="参加費は？", answer="無料です。"),
                MemberQuestion(psid="1", text="質問", asked_at=datetime(2026, 12, 1, tzinfo=UTC)),
                Consultation(text="相談", submitted_at=datetime(2026, 12, 1, tzinfo=UTC)),
            ]
        )
    return app.code


def console_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every console route, with ids of the seeded rows."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("console."):
                continue
            args: dict[str, Any] = {}
            for arg in rule.arguments:
                args[arg] = "x.css" if arg == "filename" else 1
            url = rule.build(args, append_unknown=False)[1]  # type: ignore[index]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, url))
    return routes


def _with_code(url: str, code: str) -> str:
    return url.replace("/applications/1", f"/applications/{code}")


def test_every_console_route_is_known_to_this_test(runtime: Runtime) -> None:
    endpoints = {e for e, _, _ in console_routes(console_app(runtime))}
    assert REVIEWER_ENDPOINTS | PUBLIC <= endpoints
    assert len(endpoints) >= 25  # pages were not silently dropped


def test_anonymous_client_is_sent_to_login_on_every_route(runtime: Runtime) -> None:
    code = _seed_objects(runtime)
    app = console_app(runtime)
    client = app.test_client()
    checked = 0
    for endpoint, method, url in console_routes(app):
        if endpoint in PUBLIC:
            continue
        url = _with_code(url, code)
        response = client.get(url) if method == "GET" else post(client, url)
        assert response.status_code == 302, (endpoint, method, response.status_code)
        assert response.headers["Location"].startswith("/console/login"), endpoint
        checked += 1
    assert checked >= 25
    with runtime.db.transaction() as db:
        assert (
            db.scalars(select(AuditEntry).where(AuditEntry.action.not_in(["user_added"]))).all()
            == []
        )


def test_reviewer_gets_403_on_every_admin_route(runtime: Runtime) -> None:
    code = _seed_objects(runtime)
    make_user(runtime, "rev", "reviewer")
    app = console_app(runtime)
    client = app.test_client()
    assert login(client, "rev").status_code == 302
    forbidden = 0
    for endpoint, method, url in console_routes(app):
        if endpoint in PUBLIC or endpoint == "console.logout":
            continue
        url = _with_code(url, code)
        response = client.get(url) if method == "GET" else post(client, url)
        if endpoint in REVIEWER_ENDPOINTS:
            assert response.status_code in (200, 302, 400), (endpoint, response.status_code)
        else:
            assert response.status_code == 403, (endpoint, method, response.status_code)
            forbidden += 1
    assert forbidden >= 15
    with runtime.db.transaction() as db:  # nothing an admin owns was changed
        assert db.scalars(select(OutboundMessage)).one().status == "dead"
        assert db.scalars(select(Group)).one().name == "富山県の部屋"
        assert db.scalars(select(Alert)).one().resolved_at is None


def test_admin_can_open_every_page(runtime: Runtime) -> None:
    code = _seed_objects(runtime)
    make_user(runtime, "boss", "admin")
    app = console_app(runtime)
    client = app.test_client()
    login(client, "boss")
    for endpoint, method, url in console_routes(app):
        if method != "GET" or endpoint in PUBLIC:
            continue
        response = client.get(_with_code(url, code))
        assert response.status_code == 200, (endpoint, response.status_code)
        assert "<!doctype html>" in response.get_data(as_text=True)


def test_static_files_are_served_without_a_session(runtime: Runtime) -> None:
    client = console_app(runtime).test_client()
    js = client.get("/console/static/console.js")
    assert js.status_code == 200
    assert "keydown" in js.get_data(as_text=True)
    assert client.get("/console/static/console.css").status_code == 200


@pytest.mark.parametrize("token", [None, "wrong"])
def test_posts_without_the_session_csrf_token_are_refused(
    runtime: Runtime, token: str | None
) -> None:
    app = make_application(runtime)
    client = logged_in(runtime)
    data = {"codes": app.code}
    if token:
        data["csrf_token"] = token
    response = client.post("/console/decisions/approve", data=data)
    assert response.status_code == 400
    assert "フォームの有効期限" in response.get_data(as_text=True)
    with runtime.db.transaction() as db:
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "approve")).all() == []


def test_login_form_itself_needs_the_csrf_token(runtime: Runtime) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    response = client.post("/console/login", data={"name": "rev", "password": PASSWORD})
    assert response.status_code == 400
    with client.session_transaction() as sess:
        assert "user" not in sess


def test_login_sets_a_fresh_session_and_is_audited_with_the_address(runtime: Runtime) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    before = csrf_of(client)
    response = login(client, "rev", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert csrf_of(client) != before  # no session fixation
    with runtime.db.transaction() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "login")).one()
        assert entry.actor == "rev"
        assert entry.detail["ip"] == "198.51.100.7"


def test_session_cookie_is_httponly_samesite_and_secure_behind_https(runtime: Runtime) -> None:
    make_user(runtime, "rev", "reviewer")
    settings = runtime.settings
    runtime.settings = settings.replace(
        app=dataclasses.replace(settings.app, base_url="https://cityhall.example.jp")
    )
    client = console_app(runtime).test_client()
    response = login(client, "rev")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/webhooks/messenger", "/\\evil.example"],
)
def test_login_never_redirects_off_the_console(runtime: Runtime, target: str) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    token = csrf_of(client)
    response = client.post(
        "/console/login",
        query_string={"next": target},
        data={"name": "rev", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/console/"


FAILED_LOGIN = "ユーザー名またはパスワードが違うか、失敗が続いたため一時的にログインできません"


def test_wrong_passwords_make_the_account_wait_and_the_right_one_waits_too(
    runtime: Runtime,
) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    for _ in range(5):
        response = login(client, "rev", "wrong password!")
        assert response.status_code == 401
        assert FAILED_LOGIN in response.get_data(as_text=True)
    response = login(client, "rev")  # even the right password, while the account waits
    assert response.status_code == 401
    assert FAILED_LOGIN in response.get_data(as_text=True)
    real_now = runtime.now
    runtime.now = lambda: real_now() + timedelta(seconds=31)  # the first wait is 30 s
    assert login(client, "rev").status_code == 302
    with runtime.db.transaction() as db:
        actions = [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[1:] == ["login_failed"] * 5 + ["login_throttled", "login"]


def test_one_network_waits_after_many_attempts_on_any_account(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.replace(
        console=dataclasses.replace(runtime.settings.console, login_ip_max_failures=3)
    )
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    attacker = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    for name in ("a", "b", "c"):
        assert login(client, name, "guess-guess", **attacker).status_code == 401
    response = login(client, "rev", **attacker)
    assert response.status_code == 401
    assert FAILED_LOGIN in response.get_data(as_text=True)
    other = console_app(runtime).test_client()  # another address is not affected
    assert login(other, "rev", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 302
    with runtime.db.transaction() as db:
        throttled = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "login_throttled")
        ).one()
        assert throttled.detail["ip"] == "203.0.113.9"
        assert throttled.actor == "rev"


def test_console_responses_carry_the_security_headers(runtime: Runtime) -> None:
    make_user(runtime, "rev", "reviewer")
    client = console_app(runtime).test_client()
    for response in (client.get("/console/login"), client.get("/console/")):
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    login(client, "rev")
    page = client.get("/console/")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # CSP-friendly: nothing inline


def test_logout_ends_the_session(runtime: Runtime) -> None:
    client = logged_in(runtime)
    assert client.get("/console/logout").status_code == 405  # POST only
    assert post(client, "/console/logout").status_code == 302
    assert client.get("/console/").status_code == 302


def test_deactivated_user_loses_the_session_at_the_next_request(runtime: Runtime) -> None:
    client = logged_in(runtime)
    assert client.get("/console/").status_code == 200
    with runtime.db.transaction() as db:
        db.scalars(select(SecretariatUser)).one().active = False
    assert client.get("/console/").status_code == 302


def test_role_is_read_from_the_account_not_the_cookie(runtime: Runtime) -> None:
    client = logged_in(runtime)
    with client.session_transaction() as sess:
        sess["role"] = "admin"  # (cookies are signed, but never trust them for roles)
    assert client.get("/console/users").status_code == 403


def test_idle_session_expires(runtime: Runtime) -> None:
    client = logged_in(runtime)
    real_now = runtime.now
    runtime.now = lambda: real_now() + timedelta(minutes=121)
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")
