"""Console sessions, roles, CSRF, login throttling and security headers.

Every page but the login (and the blueprint's static files) needs a session. The session
cookie only names the user: the account is re-read on each request, so a deactivated user or a
changed role takes effect at once, and a session idle for too long ends.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, Response, abort, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AuditEntry, SecretariatUser

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
CSRF_FIELD = "csrf_token"
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


def _now() -> datetime:
    from bot import current_runtime

    return current_runtime().now()


def login_required(*roles: str) -> Callable[[F], F]:
    """Require a logged-in, active user (and one of `roles` when given)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            from bot import current_runtime

            name = session.get("user")
            if not name:
                return redirect(url_for("console.login", next=request.full_path))
            rt = current_runtime()
            now = rt.now()
            idle = timedelta(minutes=rt.settings.console.session_idle_minutes)
            last_seen = session.get("seen", 0)
            if now.timestamp() - float(last_seen) > idle.total_seconds():
                session.clear()
                flash("一定時間操作がなかったため、ログアウトしました。", "info")
                return redirect(url_for("console.login", next=request.full_path))
            with rt.db.sessions() as db:
                user = db.scalars(
                    select(SecretariatUser).where(SecretariatUser.name == name)
                ).first()
                role = user.role if user is not None and user.active else None
            if role is None:
                session.clear()
                return redirect(url_for("console.login"))
            if roles and role not in roles:
                abort(403)
            session["seen"] = int(now.timestamp())
            g.user, g.role = name, role
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def client_address() -> str:
    """The client's address (the app's ProxyFix, when deployed behind one, sets it)."""
    return (request.remote_addr or "-")[:64]


def recent_failures_from(db: Session, address: str, *, since: datetime) -> int:
    """Failed logins from one address since a given time (from the audit log)."""
    return (
        db.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "login_failed",
                AuditEntry.at >= since,
                AuditEntry.detail["ip"].as_string() == address,
            )
        )
        or 0
    )


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
