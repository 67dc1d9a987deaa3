"""Login, logout and the change of one's own password.

Logins are throttled per account and per client network in the database (see
`bot/accounts/login_throttle.py`), every attempt is audited, and every failure gets the same
answer. A login opens a server-side session; logout ends it.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bot.accounts import login_throttle
from bot.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from bot.accounts.sessions import end_session, prune_sessions, start_session
from bot.accounts.users import (
    LoginKeys,
    WeakPassword,
    admit_login,
    authenticate,
    change_password,
    check_password,
    settle_login,
)
from bot.console.blueprint import bp
from bot.console.security import (
    SESSION_TOKEN,
    client_address,
    csrf_token,
    login_required,
    tag_new_audit_entries,
)
from bot.models import SecretariatUser
from bot.onboarding.lifecycle import audit
from bot.proxies import client_network
from bot.web import current_runtime


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
    """Show the login form; check the password when the throttle admits the attempt.

    An unknown name, a deactivated account, a wrong password and a throttled attempt all get
    the same page, status and (one scrypt hash) time.
    """
    if request.method == "GET":
        csrf_token()
        return render_template("console/login.html")
    rt = current_runtime()
    name = request.form.get("name", "")[:100]
    password = request.form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    address = client_address()
    keys = LoginKeys.of(str(current_app.secret_key), name, client_network(address))
    now = rt.now()
    with rt.db.transaction() as db:  # committed first: other processes see the attempt counted
        admitted = admit_login(db, keys, rt.settings.console, at=now)
    token = ""
    with rt.db.transaction() as db:
        user = authenticate(db, name, password, keys=keys, admitted=admitted, at=now).user
        tag_new_audit_entries(db, ip=address)
        if user is not None:
            lifetime = timedelta(hours=rt.settings.console.session_max_hours)
            prune_sessions(db, user.id, before=now - lifetime)
            forget = timedelta(minutes=rt.settings.console.login_ip_window_minutes)
            login_throttle.forget_stale(db, before=now - forget)
            token = start_session(db, user, at=now)
            must_change = user.must_change_password
    if not token:
        return render_template("console/login.html", failed=True), 401
    target = local_redirect(request.args.get("next"))
    session.clear()  # a fresh session (and CSRF token) after login: no fixation
    session[SESSION_TOKEN] = token
    session.permanent = False
    return redirect(url_for("console.change_password") if must_change else target)


@bp.post("/logout")
@login_required()
def logout() -> ResponseReturnValue:
    """End the session (its cookie no longer opens anything)."""
    rt = current_runtime()
    now = rt.now()
    with rt.db.transaction() as db:
        end_session(db, str(session.get(SESSION_TOKEN, "")), at=now)
        db.add(audit(None, actor=g.user, at=now, action="logout"))
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"], endpoint="change_password")
@login_required()
def change_password_page() -> ResponseReturnValue:
    """Change one's own password (forced after an admin's reset); all sessions end and this
    browser gets a new one."""
    rt = current_runtime()
    if request.method == "GET":
        return render_template(
            "console/password.html", forced=g.must_change_password, min_length=MIN_PASSWORD_LENGTH
        )
    current = request.form.get("current_password", "")[: MAX_PASSWORD_LENGTH + 1]
    new = request.form.get("new_password", "")[: MAX_PASSWORD_LENGTH + 1]
    confirm = request.form.get("new_password_confirm", "")[: MAX_PASSWORD_LENGTH + 1]
    address = client_address()
    keys = LoginKeys.of(str(current_app.secret_key), g.user, client_network(address))
    now = rt.now()
    with rt.db.transaction() as db:
        admitted = admit_login(db, keys, rt.settings.console, at=now)
    problem = ""
    token = ""
    with rt.db.transaction() as db:
        user = db.get(SecretariatUser, g.user_id)
        assert user is not None  # login_required has just read it
        forced = user.must_change_password
        if not admitted or not check_password(user, current):
            problem = "current_wrong"
            db.add(audit(None, actor=user.name, at=now, action="password_change_failed"))
        elif new != confirm:
            problem = "mismatch"
        else:
            settle_login(db, keys)
            try:
                change_password(db, user, new, at=now)
            except WeakPassword as exc:
                problem = exc.problem.value
            else:
                token = start_session(db, user, at=now)
        tag_new_audit_entries(db, ip=address)
    if problem:
        html = render_template(
            "console/password.html",
            forced=forced,
            problem=problem,
            min_length=MIN_PASSWORD_LENGTH,
        )
        return html, 400
    session.clear()
    session[SESSION_TOKEN] = token
    flash("パスワードを変更しました。", "info")
    return redirect(url_for("console.home"))
