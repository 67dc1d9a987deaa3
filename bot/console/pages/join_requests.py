"""Facebook join requests (参加リクエスト): paste, preview, save, and resolve the unmatched ones.

A paste (or the one-request form) is first read and shown as a preview: who, what they
answered, the profile lines kept as evidence, and the application each would match. Nothing
is stored until the volunteer presses 保存. The preview form posts the same text back with the
volunteer's corrections (merge a request into the previous one, drop one), so the server reads
it again and applies them: what is saved is exactly what the last preview showed, and no state
is kept between the two requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, g, get_template_attribute, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from bot.console.actions import get_or_404, newest_page
from bot.console.blueprint import bp
from bot.console.params import form_ids, is_row_id, parse_int
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
from bot.onboarding.join_request_parsing import (
    JoinRequestFormatError,
    PastedRequest,
    apply_corrections,
    one_request,
    read_paste,
)
from bot.onboarding.join_requests import (
    DISMISSED,
    UNMATCHED,
    ImportResult,
    PreviewedRequest,
    import_join_requests,
    preview_join_requests,
    resolve_join_request,
    set_aside,
)
from bot.onboarding.lifecycle import DomainError
from bot.web import current_runtime

RECENT = 50
PAGE = 100  # unmatched requests per page, and the most set aside at once
MESSAGES = "console/_join_request_messages.html"


@dataclass(frozen=True)
class PreviewRow:
    """One request as read, and what the volunteer's corrections made of it."""

    index: int
    read: PastedRequest
    role: str  # head (a request to save) | merged (into the previous one) | dropped
    item: PreviewedRequest | None = None  # the corrected request's expected outcome (heads)


@dataclass(frozen=True)
class Preview:
    """Everything the preview shows, and the form fields that reproduce it."""

    rows: list[PreviewRow]
    unplaced: list[str]
    source: dict[str, str]  # hidden fields: the text, or the one-request form's fields

    def count(self, status: str) -> int:
        """How many corrected requests would end in `status`."""
        return sum(1 for r in self.rows if r.item and r.item.status == status)

    @property
    def kept(self) -> int:
        """How many requests would be saved (or reported as already saved)."""
        return sum(1 for r in self.rows if r.item)

    @property
    def suggested(self) -> int:
        """Unmatched requests that have candidates to choose from."""
        return sum(
            1 for r in self.rows if r.item and r.item.status == UNMATCHED and r.item.candidates
        )


def _render(
    result: ImportResult | None = None,
    text: str = "",
    status: int = 200,
    refused: TooManyJoinRequests | None = None,
    preview: Preview | None = None,
    one: dict[str, str] | None = None,
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
            preview=preview,
            one=one or {},
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


def _indexes(name: str) -> set[int]:
    """The request positions posted as `name` (the preview's checkboxes)."""
    values = (parse_int(name, raw, maximum=MAX_REQUESTS) for raw in request.form.getlist(name))
    return {v for v in values if v is not None}


def _read_form() -> tuple[list[PastedRequest], list[str], dict[str, str]]:
    """The requests the form holds, the lines read as nobody's, and the fields to post again."""
    if request.form.get("mode") == "one":
        fields = {k: request.form.get(k, "") for k in ("name", "answer", "profile")}
        check_text_size("".join(fields.values()))
        return one_request(**fields), [], {"mode": "one", **fields}
    text = request.form.get("text", "")
    check_text_size(text)
    reading = read_paste(text)
    return reading.requests, reading.unplaced, {"text": text}


def _message(macro: str, **values: Any) -> str:
    return str(get_template_attribute(MESSAGES, macro)(**values))


@bp.post("/join-requests")
@login_required(ADMIN, REVIEWER)
def import_pasted() -> ResponseReturnValue:
    """Read what the reviewer pasted (or typed in the one-request form) and preview it.

    With `action=save`, store and match it instead; a paste over the limits is refused whole.
    """
    rt = current_runtime()
    one = request.form.get("mode") == "one"
    entered = request.form.get("name" if one else "text", "")
    kept = {} if not one else {k: request.form.get(k, "") for k in ("name", "answer", "profile")}
    if not entered.strip():
        flash(_message("nothing_entered", one=one), "error")
        return _render(text=entered if not one else "", one=kept, status=400)
    try:
        merge, drop = _indexes("merge"), _indexes("drop")
        read, unplaced, source = _read_form()
        check_request_count(read)
        corrected = apply_corrections(read, merge=merge, drop=drop)
        requests = [c.request for c in corrected]
        if request.form.get("action") == "save":
            if not requests:
                flash(_message("nothing_to_save"), "error")
                return _render(text=source.get("text", ""), one=kept, status=400)
            with rt.db.transaction() as db:
                result = import_join_requests(db, requests, actor=g.user, at=rt.now())
        else:
            with rt.db.transaction() as db:
                items = preview_join_requests(db, requests)
    except TooManyJoinRequests as exc:
        return _render(refused=exc, status=400)  # not echoed back: it is the clipboard's
    except JoinRequestFormatError as exc:
        flash(_message("unreadable", detail=str(exc)), "error")
        return _render(text=entered if not one else "", one=kept, status=400)
    if request.form.get("action") == "save":
        flash(_message("imported", result=result), "info")
        return _render(result=result)
    by_head = {c.sources[0]: item for c, item in zip(corrected, items, strict=True)}
    merged = {i for c in corrected for i in c.sources[1:]}
    rows = [
        PreviewRow(
            index,
            pasted,
            "head" if index in by_head else "merged" if index in merged else "dropped",
            by_head.get(index),
        )
        for index, pasted in enumerate(read)
    ]
    preview = Preview(rows, unplaced, source)
    return _render(text=source.get("text", ""), one=kept, preview=preview)


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
