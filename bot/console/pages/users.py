"""Users and rejection templates (admin)."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.accounts import login_throttle
from bot.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from bot.accounts.sessions import end_sessions_of, open_sessions
from bot.accounts.users import (
    ROLES,
    LastAdmin,
    WeakPassword,
    account_throttle_keys,
    add_user,
    change_role,
    reset_password,
)
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.formatting import ROLE_LABELS
from bot.console.pages.queue import rejection_templates
from bot.console.security import ADMIN, login_required
from bot.models import RejectionTemplate, SecretariatUser
from bot.onboarding.lifecycle import DomainError
from bot.web import current_runtime


def _users_page(db: Session, *, problem: str = "", status: int = 200) -> ResponseReturnValue:
    """The accounts, whether each is waiting out a login delay, and its open sessions."""
    rt = current_runtime()
    now = rt.now()
    secret = str(current_app.secret_key)
    rows = db.scalars(select(SecretariatUser).order_by(SecretariatUser.name)).all()
    waiting = {
        u.id: max(
            (
                w
                for key in account_throttle_keys(secret, u.name)
                if (w := login_throttle.waiting_until(db, key, at=now)) is not None
            ),
            default=None,
        )
        for u in rows
    }
    sessions = {u.id: len(open_sessions(db, u.id)) for u in rows}
    html = render_template(
        "console/users.html",
        users=rows,
        roles=ROLES,
        min_length=MIN_PASSWORD_LENGTH,
        waiting=waiting,
        sessions=sessions,
        problem=problem,
    )
    return html, status


@bp.get("/users")
@login_required(ADMIN)
def users() -> ResponseReturnValue:
    """Secretariat accounts and the form to add one."""
    with current_runtime().db.transaction() as db:
        return _users_page(db)


@bp.post("/users")
@login_required(ADMIN)
def create_user() -> ResponseReturnValue:
    """Add a secretariat account."""
    rt = current_runtime()
    try:
        with rt.db.transaction() as db:
            add_user(
                db,
                request.form.get("name", ""),
                request.form.get("role", ""),
                request.form.get("password", "")[: MAX_PASSWORD_LENGTH + 1],
                actor=g.user,
                at=rt.now(),
            )
    except WeakPassword as exc:
        with rt.db.transaction() as db:
            return _users_page(db, problem=exc.problem.value, status=400)
    except DomainError:
        flash(
            "ユーザーを追加できませんでした。名前が重複していないか、役割が正しいか確認してください。",
            "error",
        )
    else:
        flash("ユーザーを追加しました。", "info")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/active")
@login_required(ADMIN)
def set_user_active(user_id: int) -> ResponseReturnValue:
    """Deactivate (or reactivate) an account; a deactivated account's sessions end at once."""
    rt = current_runtime()
    active = request.form.get("active") == "1"
    now = rt.now()
    with rt.db.transaction() as db:
        user = get_or_404(db, SecretariatUser, user_id)
        if user.name == g.user and not active:
            flash("自分自身は無効化できません。", "error")
            return redirect(url_for("console.users"))
        user.active = active
        ended = 0 if active else end_sessions_of(db, user.id, at=now)
        record(
            db,
            action="user_activated" if active else "user_deactivated",
            detail={"user": user.name, "sessions_ended": ended},
        )
        flash(f"{user.name} を{'有効' if active else '無効'}にしました。", "info")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/password")
@login_required(ADMIN)
def reset_user_password(user_id: int) -> ResponseReturnValue:
    """Set a temporary password: the account's sessions end, and it must choose its own
    password at the next login."""
    rt = current_runtime()
    temporary = request.form.get("password", "")[: MAX_PASSWORD_LENGTH + 1]
    try:
        with rt.db.transaction() as db:
            user = get_or_404(db, SecretariatUser, user_id)
            reset_password(db, user, temporary, actor=g.user, at=rt.now())
            name = user.name
    except WeakPassword as exc:
        with rt.db.transaction() as db:
            return _users_page(db, problem=exc.problem.value, status=400)
    flash(
        f"{name} のパスワードをリセットしました。次のログインで新しいパスワードの設定が必要です。",
        "info",
    )
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/unlock")
@login_required(ADMIN)
def unlock_user(user_id: int) -> ResponseReturnValue:
    """End an account's login delay (after repeated failures) now."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        user = get_or_404(db, SecretariatUser, user_id)
        for key in account_throttle_keys(str(current_app.secret_key), user.name):
            login_throttle.clear(db, key)  # its passwords and its TOTP codes
        record(db, action="login_unlocked", detail={"user": user.name})
        flash(f"{user.name} のログイン制限を解除しました。", "info")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/role")
@login_required(ADMIN)
def set_user_role(user_id: int) -> ResponseReturnValue:
    """Make an account an admin or a reviewer (never demoting the last active admin)."""
    rt = current_runtime()
    role = request.form.get("role", "")
    if role not in ROLES:
        abort(400)
    try:
        with rt.db.transaction() as db:
            user = get_or_404(db, SecretariatUser, user_id)
            name = user.name
            changed = change_role(db, user, role, actor=g.user, at=rt.now())
    except LastAdmin:
        flash(
            f"{name} は最後の有効な管理者のため、確認担当にできません。"
            "先にほかのユーザーを管理者にしてください。",
            "error",
        )
        return redirect(url_for("console.users"))
    if changed:
        flash(f"{name} の役割を{ROLE_LABELS[role]}にしました。", "info")
    return redirect(url_for("console.users"))


@bp.get("/templates")
@login_required(ADMIN)
def templates() -> ResponseReturnValue:
    """The rejection reason templates."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        rows = rejection_templates(db, rt.settings, include_inactive=True)
        html = render_template("console/templates.html", templates=rows)
    return html


def _template_values() -> tuple[str, str]:
    label = request.form.get("label", "").strip()[:100]
    text = request.form.get("text", "").strip()[:2000]
    return label or text[:100], text


@bp.post("/templates")
@login_required(ADMIN)
def create_template() -> ResponseReturnValue:
    """Add a rejection template."""
    rt = current_runtime()
    label, text = _template_values()
    if not text:
        flash("理由の本文を入力してください。", "error")
        return redirect(url_for("console.templates"))
    with rt.db.transaction() as db:
        rejection_templates(db, rt.settings)  # seed first, so the defaults are not lost
        row = RejectionTemplate(label=label, text=text, active=True)
        db.add(row)
        db.flush()
        record(
            db,
            action="template_created",
            detail={"template_id": row.id, "label": label, "text": text},
        )
    flash("却下理由を追加しました。", "info")
    return redirect(url_for("console.templates"))


@bp.post("/templates/<int:template_id>")
@login_required(ADMIN)
def update_template(template_id: int) -> ResponseReturnValue:
    """Edit or (de)activate a rejection template."""
    rt = current_runtime()
    label, text = _template_values()
    with rt.db.transaction() as db:
        row = get_or_404(db, RejectionTemplate, template_id)
        before = {"label": row.label, "text": row.text, "active": row.active}
        if text:
            row.label, row.text = label, text
        row.active = request.form.get("active") == "1"
        record(
            db,
            action="template_updated",
            detail={
                "template_id": row.id,
                "before": before,
                "after": {"label": row.label, "text": row.text, "active": row.active},
            },
        )
    flash("却下理由を保存しました。", "info")
    return redirect(url_for("console.templates"))
