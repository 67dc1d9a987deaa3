"""Shared helpers of the console tests (no tests here)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bot import create_app
from bot.accounts.users import add_user
from bot.models import Application
from bot.runtime import Runtime

PASSWORD = "correct horse battery"
_serial = itertools.count(1)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def next_code() -> str:
    """A fresh, valid registration code."""
    n = next(_serial)
    body = ""
    for _ in range(6):
        n, digit = divmod(n, 32)
        body = ALPHABET[digit] + body
    return "OC-" + body


def console_app(runtime: Runtime) -> Flask:
    """The app under test, in testing mode."""
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app


def make_user(runtime: Runtime, name: str, role: str, password: str = PASSWORD) -> None:
    """Create a secretariat account."""
    with runtime.db.transaction() as db:
        add_user(db, name, role, password, actor="test", at=runtime.now())


def make_application(runtime: Runtime, **fields: Any) -> Application:
    """Store an application (open and awaiting a join request unless told otherwise)."""
    code = fields.pop("code", None) or next_code()
    days = fields.pop("days_ago", 1)
    values: dict[str, Any] = {
        "code": code,
        "link_token": f"tok-{code}",
        "email": f"{code.lower()}@city.example.lg.jp",
        "full_name": "山田 太郎",
        "kana": "ヤマダ タロウ",
        "status": "awaiting_join_request",
        "submitted_at": runtime.now() - timedelta(days=days),
        "verdict": "verified",
        "prefecture": "富山県",
        "service_type": "地方公務員",
        "organization_name": "富山市",
        "organization_text": "富山市役所",
    }
    values.update(fields)
    with runtime.db.transaction() as db:
        app = Application(**values)
        db.add(app)
    return app


def csrf_of(client: FlaskClient) -> str:
    """The CSRF token of the client's session (creating one by visiting the login page)."""
    with client.session_transaction() as sess:
        token = sess.get("csrf")
    if not token:
        client.get("/console/login")
        with client.session_transaction() as sess:
            token = sess.get("csrf")
    return str(token)


def login(client: FlaskClient, name: str, password: str = PASSWORD, **env: Any) -> Any:
    """Post the login form with a valid CSRF token."""
    token = csrf_of(client)
    return client.post(
        "/console/login", data={"name": name, "password": password, "csrf_token": token}, **env
    )


def logged_in(runtime: Runtime, name: str = "rev", role: str = "reviewer") -> FlaskClient:
    """A new console client of a new `role` account, already logged in."""
    make_user(runtime, name, role)
    client = console_app(runtime).test_client()
    login(client, name)
    return client


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)}, **kw)


def text_of(html: str) -> str:
    """Visible text, roughly (tags removed)."""
    return re.sub(r"<[^>]+>", " ", html)


def at(runtime: Runtime) -> datetime:
    """The runtime's current time."""
    return runtime.now()
