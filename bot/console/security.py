"""Console sessions, roles, CSRF and security headers.

Every page but the login (and the blueprint's static files) needs a session. The session
cookie only carries a random token naming a server-side session (`console_sessions`): the
session and its account are re-read on each request, so logout, a password change, a
deactivated user or a changed role take effect at once, and a session idle for too long, or
older than its absolute lifetime, ends.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, Response, abort, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.accounts.sessions import SessionLimits, resume_session
from bot.config import ConsoleSettings
from bot.models import AuditEntry
from bot.web import current_runtime

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
CSRF_FIELD = "csrf_token"
SESSION_TOKEN = "sid"  # the cookie's key holding the server-side session's token
ADMIN, REVIEWER = "admin", "reviewer"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _check_csrf() -> None:
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    if not (request.blueprint or "").startswith("console"):
        return  # webhooks authenticate by signature, not by session
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(
            400,
            description="フォームの有効期限が切れました。"
            "ページを再読み込みしてもう一度お試しください。",
        )


def session_limits(console: ConsoleSettings) -> SessionLimits:
    """The idle timeout and absolute lifetime of console sessions."""
    return SessionLimits(
        idle=timedelta(minutes=console.session_idle_minutes),
        lifetime=timedelta(hours=console.session_max_hours),
    )


# Pages an account that must change its password may still open.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"console.change_password", "console.logout"})


def login_required(*roles: str) -> Callable[[F], F]:
    """Require a valid server-side session of an active user (and one of `roles` when given)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            token = str(session.get(SESSION_TOKEN) or "")
            if not token:
                return redirect(url_for("console.login", next=request.full_path))
            rt = current_runtime()
            with rt.db.transaction() as db:
                resumed = resume_session(
                    db, token, session_limits(rt.settings.console), at=rt.now()
                )
                if resumed is not None:
                    user = resumed.user
                    g.user, g.role, g.user_id = user.name, user.role, user.id
                    must_change = g.must_change_password = user.must_change_password
            if resumed is None:
                session.clear()
                flash("ログインの有効期限が切れました。もう一度ログインしてください。", "info")
                return redirect(url_for("console.login", next=request.full_path))
            if must_change and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
                return redirect(url_for("console.change_password"))
            if roles and g.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def client_address() -> str:
    """The client's address (`bot/proxies.py` sets it from a trusted proxy's headers)."""
    return (request.remote_addr or "-")[:64]


def tag_new_audit_entries(db: Session, **detail: Any) -> None:
    """Add fields (e.g. the client address) to the audit entries added in this unit of work."""
    for obj in db.new:
        if isinstance(obj, AuditEntry):
            obj.detail = {**(obj.detail or {}), **detail}


def _security_headers(response: Response) -> Response:
    if request.path.startswith("/console"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "console.static":
            response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Install the CSRF guard, the security headers and the template helpers."""
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
