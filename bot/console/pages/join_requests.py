"""Facebook join requests (参加リクエスト): paste, match, and resolve the unmatched ones."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot import current_runtime
from bot.console.actions import get_or_404
from bot.console.blueprint import bp
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, JoinRequest
from bot.onboarding.applications import NotFound, get_by_code
from bot.onboarding.join_requests import (
    DISMISSED,
    UNMATCHED,
    ImportResult,
    JoinRequestFormatError,
    import_join_requests,
    resolve_join_request,
    set_aside,
)
from bot.onboarding.lifecycle import DomainError

MAX_PASTE = 200_000
RECENT = 50


def _render(
    result: ImportResult | None = None, text: str = "", status: int = 200
) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        unmatched = db.scalars(
            select(JoinRequest)
            .where(JoinRequest.status == UNMATCHED)
            .order_by(JoinRequest.entered_at, JoinRequest.id)
        ).all()
        dismissed = db.scalars(
            select(JoinRequest)
            .where(JoinRequest.status == DISMISSED)
            .order_by(JoinRequest.id.desc())
            .limit(RECENT)
        ).all()
        recent = db.execute(
            select(JoinRequest, Application.code, Application.full_name)
            .join(Application, Application.id == JoinRequest.application_id)
            .where(JoinRequest.status == "matched")
            .order_by(JoinRequest.id.desc())
            .limit(RECENT)
        ).all()
        html = render_template(
            "console/join_requests.html",
            unmatched=unmatched,
            dismissed=dismissed,
            recent=recent,
            result=result,
            text=text,
        )
    return html, status


@bp.get("/join-requests")
@login_required(ADMIN, REVIEWER)
def join_requests() -> ResponseReturnValue:
    """The paste box, the unmatched requests and the latest matches."""
    return _render()


@bp.post("/join-requests")
@login_required(ADMIN, REVIEWER)
def import_pasted() -> ResponseReturnValue:
    """Store and match what the reviewer pasted."""
    rt = current_runtime()
    text = request.form.get("text", "")[:MAX_PASTE]
    if not text.strip():
        flash("参加リクエストを貼り付けてください。", "error")
        return _render(text=text, status=400)
    try:
        with rt.db.transaction() as db:
            result = import_join_requests(db, text, actor=g.user, at=rt.now())
    except JoinRequestFormatError as exc:
        flash(f"読み取れない行があります（{exc}）。", "error")
        return _render(text=text, status=400)
    flash(
        f"{len(result.items)} 件を読み取りました: 一致 {result.matched} 件 / "
        f"未一致 {result.unmatched} 件 / 登録済み {result.duplicates} 件",
        "info",
    )
    return _render(result=result)


@bp.post("/join-requests/<int:request_id>/resolve")
@login_required(ADMIN, REVIEWER)
def resolve(request_id: int) -> ResponseReturnValue:
    """Attribute an unmatched request to the application the reviewer chose."""
    rt = current_runtime()
    code = request.form.get("code", "")
    try:
        with rt.db.transaction() as db:
            jr = db.get(JoinRequest, request_id)
            if jr is None:
                raise DomainError("not found")
            app = get_by_code(db, code)
            resolve_join_request(db, jr, app, actor=g.user, at=rt.now())
            matched_code = app.code
    except NotFound:
        flash("その申込番号の申込は見つかりません。", "error")
    except DomainError:
        flash(
            "この参加リクエストは割り当てできません（見つからないか、割り当て済みです）。", "error"
        )
    else:
        flash(f"参加リクエストを {matched_code} に割り当てました。", "info")
    return redirect(url_for("console.join_requests"))


@bp.post("/join-requests/<int:request_id>/dismiss")
@login_required(ADMIN, REVIEWER)
def dismiss_join_request(request_id: int) -> ResponseReturnValue:
    """Set an unmatched request aside (not a public servant's, or not for this group)."""
    return _set_aside(request_id, dismiss=True)


@bp.post("/join-requests/<int:request_id>/restore")
@login_required(ADMIN, REVIEWER)
def restore_join_request(request_id: int) -> ResponseReturnValue:
    """Bring a dismissed request back to the unmatched list."""
    return _set_aside(request_id, dismiss=False)


def _set_aside(request_id: int, *, dismiss: bool) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        jr = get_or_404(db, JoinRequest, request_id)
        try:
            set_aside(db, jr, dismiss=dismiss, actor=g.user, at=rt.now())
        except DomainError:
            flash("この参加リクエストはすでに処理されています。", "error")
        else:
            done = "対象外にしました" if dismiss else "未一致に戻しました"
            flash(f"「{jr.name}」を{done}。", "info")
    return redirect(url_for("console.join_requests"))
