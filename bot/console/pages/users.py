"""Users and rejection templates (admin)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot import current_runtime
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.pages.queue import rejection_templates
from bot.console.security import ADMIN, login_required
from bot.models import RejectionTemplate, SecretariatUser
from bot.onboarding.accounts import MIN_PASSWORD_LENGTH, ROLES, add_user
from bot.onboarding.lifecycle import DomainError


@bp.get("/users")
@login_required(ADMIN)
def users() -> ResponseReturnValue:
    """Secretariat accounts and the form to add one."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        rows = db.scalars(select(SecretariatUser).order_by(SecretariatUser.name)).all()
        html = render_template(
            "console/users.html", users=rows, roles=ROLES, min_length=MIN_PASSWORD_LENGTH
        )
    return html


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
                request.form.get("password", ""),
                actor=g.user,
                at=rt.now(),
            )
    except DomainError:
        flash(
            "ユーザーを追加できませんでした。名前が重複していないか、役割が正しいか、"
            f"パスワードが{MIN_PASSWORD_LENGTH}文字以上あるか確認してください。",
            "error",
        )
    else:
        flash("ユーザーを追加しました。", "info")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/active")
@login_required(ADMIN)
def set_user_active(user_id: int) -> ResponseReturnValue:
    """Deactivate (or reactivate) an account; its sessions end at their next request."""
    rt = current_runtime()
    active = request.form.get("active") == "1"
    with rt.db.transaction() as db:
        user = get_or_404(db, SecretariatUser, user_id)
        if user.name == g.user and not active:
            flash("自分自身は無効化できません。", "error")
            return redirect(url_for("console.users"))
        user.active = active
        if active:
            user.failed_logins, user.locked_until = 0, None
        record(
            db,
            action="user_activated" if active else "user_deactivated",
            detail={"user": user.name},
        )
        flash(f"{user.name} を{'有効' if active else '無効'}にしました。", "info")
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
