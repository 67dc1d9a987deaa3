"""Facebook join requests (参加リクエスト): paste, match, and resolve the unmatched ones."""

from __future__ import annotations

from flask import flash, g, get_template_attribute, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from bot.console.actions import get_or_404, newest_page
from bot.console.blueprint import bp
from bot.console.params import form_ids, is_row_id
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, JoinRequest
from bot.onboarding.applications import NotFound, get_by_code
from bot.onboarding.join_request_limits import (
    MAX_PASTE_BYTES,
    MAX_REQUESTS,
    TooManyJoinRequests,
    check_request_count,
    check_text_size,
)
from bot.onboarding.join_request_parsing import JoinRequestFormatError, parse_pasted
from bot.onboarding.join_requests import (
    DISMISSED,
    UNMATCHED,
    ImportResult,
    import_join_requests,
    resolve_join_request,
    set_aside,
)
from bot.onboarding.lifecycle import DomainError
from bot.web import current_runtime

RECENT = 50
PAGE = 100  # unmatched requests per page, and the most set aside at once
MESSAGES = "console/_join_request_messages.html"


def _render(
    result: ImportResult | None = None,
    text: str = "",
    status: int = 200,
    refused: TooManyJoinRequests | None = None,
) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        unmatched, more = newest_page(
            db,
            select(JoinRequest).where(JoinRequest.status == UNMATCHED),
            JoinRequest.id,
            before=request.args.get("before", "") if request.method == "GET" else "",
            size=PAGE,
        )
        unmatched_total = db.scalar(
            select(func.count()).select_from(JoinRequest).where(JoinRequest.status == UNMATCHED)
        )
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
            unmatched_total=unmatched_total or 0,
            next_before=unmatched[-1].id if more else None,
            paged=bool(request.args.get("before")),
            dismissed=dismissed,
            recent=recent,
            result=result,
            text=text,
            refused=refused,
            max_kb=MAX_PASTE_BYTES // 1024,
            max_requests=MAX_REQUESTS,
            page_size=PAGE,
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
    """Store and match what the reviewer pasted; a paste over the limits is refused whole."""
    rt = current_runtime()
    text = request.form.get("text", "")
    if not text.strip():
        flash("参加リクエストを貼り付けてください。", "error")
        return _render(text=text, status=400)
    try:
        check_text_size(text)
        requests = parse_pasted(text)
        check_request_count(requests)
        with rt.db.transaction() as db:
            result = import_join_requests(db, requests, actor=g.user, at=rt.now())
    except TooManyJoinRequests as exc:
        return _render(refused=exc, status=400)  # not echoed back: it is the clipboard's
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
            jr = db.get(JoinRequest, request_id) if is_row_id(request_id) else None
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


@bp.post("/join-requests/dismiss")
@login_required(ADMIN, REVIEWER)
def dismiss_selected() -> ResponseReturnValue:
    """Set aside every selected unmatched request at once; each one is audited."""
    rt = current_runtime()
    ids = form_ids("ids", limit=PAGE)
    done = 0
    if ids:
        with rt.db.transaction() as db:
            rows = db.scalars(
                select(JoinRequest).where(JoinRequest.id.in_(ids)).order_by(JoinRequest.id)
            ).all()
            now = rt.now()
            for jr in rows:
                if jr.status == UNMATCHED:
                    set_aside(db, jr, dismiss=True, actor=g.user, at=now)
                    done += 1
    report = get_template_attribute(MESSAGES, "dismissed_selected")
    flash(report(selected=len(ids), done=done), "info" if done else "error")
    return redirect(url_for("console.join_requests"))


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
