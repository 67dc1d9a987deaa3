"""Login and logout (throttled per account and per client address; every attempt audited)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from flask import flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bot import current_runtime
from bot.console.blueprint import bp
from bot.console.security import (
    client_address,
    csrf_token,
    login_required,
    recent_failures_from,
    tag_new_audit_entries,
)
from bot.onboarding.accounts import authenticate
from bot.onboarding.lifecycle import audit


def local_redirect(target: str | None, default: str = "console.home") -> str:
    """Only follow a redirect target that is a path inside the console."""
    if (
        target
        and target.startswith("/console")
        and not target.startswith("//")
        and urlparse(target).netloc == ""
        and "\\" not in target
    ):
        return target
    return url_for(default)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the login form; check the password (throttled after repeated failures)."""
    if request.method == "GET":
        csrf_token()
        return render_template("console/login.html")
    rt = current_runtime()
    console = rt.settings.console
    name = request.form.get("name", "")[:100]
    address = client_address()
    now = rt.now()
    with rt.db.transaction() as db:
        since = now - timedelta(minutes=console.login_ip_window_minutes)
        if recent_failures_from(db, address, since=since) >= console.login_ip_max_failures:
            db.add(
                audit(
                    None,
                    actor=name or "-",
                    at=now,
                    action="login_throttled",
                    detail={"ip": address},
                )
            )
            throttled = True
        else:
            throttled = False
            result = authenticate(db, name, request.form.get("password", ""), at=now)
            tag_new_audit_entries(db, ip=address)
            user = result.user
            role = user.role if user else None
    if throttled:
        flash("ログインの失敗が多いため、しばらく時間をおいてからお試しください。", "error")
        return render_template("console/login.html", name=name), 429
    if user is None:
        if result.locked_until is not None:
            local = result.locked_until.astimezone(rt.settings.tz).strftime("%H:%M")
            flash(f"ログインの失敗が続いたため、{local}まで一時的にロックしています。", "error")
        else:
            flash("ユーザー名またはパスワードが違います。", "error")
        return render_template("console/login.html", name=name), 401
    target = local_redirect(request.args.get("next"))
    session.clear()  # a fresh session (and CSRF token) after login: no fixation
    session["user"], session["role"] = user.name, role
    session["seen"] = int(now.timestamp())
    session.permanent = False
    return redirect(target)


@bp.post("/logout")
@login_required()
def logout() -> ResponseReturnValue:
    """End the session."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        db.add(audit(None, actor=session.get("user", "-"), at=rt.now(), action="logout"))
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("console.login"))
