"""Login, logout and the change of one's own password.

Logins are throttled per account and per client network in the database (see
`bot/accounts/login_throttle.py`), every attempt is audited, and every failure gets the same
answer. A login opens a server-side session; logout ends it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlparse

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.accounts import login_throttle, totp
from bot.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from bot.accounts.sessions import end_session, prune_sessions, start_session
from bot.accounts.users import (
    LoginKeys,
    WeakPassword,
    admit_login,
    authenticate,
    change_password,
    check_password,
    disable_second_factor,
    enable_second_factor,
    second_factor_login,
    second_factor_name,
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

PENDING_LOGIN = "pending_login"  # password right, waiting for the TOTP code
PENDING_LOGIN_SECONDS = 300
PENDING_TOTP_SECRET = "pending_totp_secret"  # shown while turning TOTP on, until a code proves it


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
    pending: dict[str, object] = {}
    target = local_redirect(request.args.get("next"))
    with rt.db.transaction() as db:
        user = authenticate(db, name, password, keys=keys, admitted=admitted, at=now).user
        tag_new_audit_entries(db, ip=address)
        if user is not None and user.totp_secret:
            pending = {"uid": user.id, "name": user.name, "at": now.timestamp(), "next": target}
        elif user is not None:
            token, must_change = _open_session(db, user, now)
    if pending:
        session.clear()
        session[PENDING_LOGIN] = pending
        return redirect(url_for("console.login_code"))
    if not token:
        return render_template("console/login.html", failed=True), 401
    return _logged_in(token, target, must_change)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """The second step for an account with TOTP: the 6-digit code of its authenticator app.

    Codes are throttled like passwords (their own account key), each is accepted once, and the
    step expires after PENDING_LOGIN_SECONDS.
    """
    rt = current_runtime()
    now = rt.now()
    pending = session.get(PENDING_LOGIN)
    if not pending or now.timestamp() - float(pending.get("at", 0)) > PENDING_LOGIN_SECONDS:
        session.pop(PENDING_LOGIN, None)
        return redirect(url_for("console.login"))
    if request.method == "GET":
        csrf_token()
        return render_template("console/login_code.html")
    code = request.form.get("code", "")[:20]
    address = client_address()
    name = str(pending["name"])
    keys = LoginKeys.of(
        str(current_app.secret_key), second_factor_name(name), client_network(address)
    )
    with rt.db.transaction() as db:
        admitted = admit_login(db, keys, rt.settings.console, at=now)
    token, must_change = "", False
    with rt.db.transaction() as db:
        # locked: two requests with one code cannot both pass the "used once" check
        user = db.get(SecretariatUser, int(pending["uid"]), with_for_update=rt.db.is_postgres)
        if second_factor_login(db, user, code, keys=keys, admitted=admitted, at=now):
            assert user is not None
            token, must_change = _open_session(db, user, now)
        tag_new_audit_entries(db, ip=address)
    if not token:
        return render_template("console/login_code.html", failed=True), 401
    return _logged_in(token, str(pending.get("next") or url_for("console.home")), must_change)


def _open_session(db: Session, user: SecretariatUser, now: datetime) -> tuple[str, bool]:
    """Start a server-side session for `user`; prune what has expired on the way."""
    rt = current_runtime()
    lifetime = timedelta(hours=rt.settings.console.session_max_hours)
    prune_sessions(db, user.id, before=now - lifetime)
    forget = timedelta(minutes=rt.settings.console.login_ip_window_minutes)
    login_throttle.forget_stale(db, before=now - forget)
    return start_session(db, user, at=now), user.must_change_password


def _logged_in(token: str, target: str, must_change: bool) -> ResponseReturnValue:
    """A fresh cookie session (and CSRF token) after login: no fixation."""
    session.clear()
    session[SESSION_TOKEN] = token
    session.permanent = False
    return redirect(url_for("console.change_password") if must_change else local_redirect(target))


@bp.route("/totp", methods=["GET", "POST"])
@login_required()
def totp_settings() -> ResponseReturnValue:
    """Turn the second factor (an authenticator app's code at login) on or off for oneself."""
    rt = current_runtime()
    now = rt.now()
    failed = False
    if request.method == "POST":
        code = request.form.get("code", "")[:20]
        password = request.form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
        keys = LoginKeys.of(
            str(current_app.secret_key),
            second_factor_name(g.user),
            client_network(client_address()),
        )
        with rt.db.transaction() as db:  # code guesses count like the login's
            admitted = admit_login(db, keys, rt.settings.console, at=now)
    with rt.db.transaction() as db:
        user = db.get(SecretariatUser, g.user_id, with_for_update=rt.db.is_postgres)
        assert user is not None  # login_required has just read it
        enabled = bool(user.totp_secret)
        if request.method == "POST":
            if enabled:
                failed = not disable_second_factor(
                    db, user, code, password, admitted=admitted, at=now
                )
            else:
                secret = str(session.get(PENDING_TOTP_SECRET, ""))
                failed = not secret or not enable_second_factor(
                    db, user, secret, code, password, admitted=admitted, at=now
                )
            if not failed:
                session.pop(PENDING_TOTP_SECRET, None)
                settle_login(db, keys)
                flash_done = "off" if enabled else "on"
            tag_new_audit_entries(db, ip=client_address())
        enabled_now = bool(user.totp_secret)
        name = user.name
    if request.method == "POST" and not failed:
        return redirect(url_for("console.totp_settings", done=flash_done))
    secret = ""
    if not enabled_now:
        secret = str(session.get(PENDING_TOTP_SECRET) or "") or totp.new_secret()
        session[PENDING_TOTP_SECRET] = secret
    html = render_template(
        "console/totp.html",
        enabled=enabled_now,
        secret=secret,
        uri=totp.provisioning_uri(secret, name) if secret else "",
        failed=failed,
        done=request.args.get("done", ""),
    )
    return html, 400 if failed else 200


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
