"""匿名相談: anonymous consultations, seen without any identity.

Reviewers and admins see the text, the time and the status, reply through the bot (the same
channels as questions; the page never says to whom) and mark one 「グループに匿名で投稿済み」.
Nothing on the page, in its URLs or in its audit entries names the sender. Only an admin can
open 「送信者を確認」, and only by giving a reason: every look is written to the audit log (who,
when, which consultation, why) and the sender is shown in that one response, never stored in
a URL or a flash message.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from bot.community import consultations, questions
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Consultation
from bot.web import current_runtime

OPEN_SHOWN = 100
RECENT_SHOWN = 50
CHANNEL_LABELS = {
    questions.RESPONSE: "メッセンジャー",
    questions.HUMAN_AGENT: "メッセンジャー（担当者の返信）",
    questions.EMAIL: "メール",
}
NO_CHANNEL = "今は届けられません（相談者から次にメッセージが届いたら送れます）"


def _render(
    *, drafts: dict[int, str] | None = None, errors: dict[int, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        open_rows = list(
            db.scalars(
                select(Consultation)
                .where(Consultation.status == consultations.OPEN)
                .order_by(Consultation.submitted_at, Consultation.id)
                .limit(OPEN_SHOWN)
            )
        )
        done_rows = list(
            db.scalars(
                select(Consultation)
                .where(Consultation.status != consultations.OPEN)
                .order_by(Consultation.id.desc())
                .limit(RECENT_SHOWN)
            )
        )
        open_count = db.scalar(
            select(func.count())
            .select_from(Consultation)
            .where(Consultation.status == consultations.OPEN)
        )
        channels = {}
        for c in open_rows:
            channel = consultations.reply_channel(db, c, settings=rt.settings, now=rt.now())
            channels[c.id] = CHANNEL_LABELS.get(channel, NO_CHANNEL) if channel else NO_CHANNEL
        html = render_template(
            "console/consultations.html",
            open_rows=open_rows,
            done_rows=done_rows,
            open_count=open_count or 0,
            channels=channels,
            channel_labels=CHANNEL_LABELS,
            drafts=drafts or {},
            errors=errors or {},
            top_errors=[e for i, e in (errors or {}).items() if i not in {r.id for r in open_rows}],
            reply_max=questions.REPLY_MAX,
        )
    return html, status


@bp.get("/consultations")
@login_required(ADMIN, REVIEWER)
def consultations_page() -> ResponseReturnValue:
    """Open consultations first, then the latest answered and closed."""
    return _render()


@bp.post("/consultations/<int:consultation_id>/reply")
@login_required(ADMIN, REVIEWER)
def consultation_reply(consultation_id: int) -> ResponseReturnValue:
    """Reply through the bot (kept as the draft when the sender cannot be reached now)."""
    rt = current_runtime()
    text = request.form.get("reply", "")
    error = questions.reply_problem(text)
    if error:
        return _render(drafts={consultation_id: text}, errors={consultation_id: error}, status=400)
    refused = ""
    with rt.db.transaction() as db:
        consultation = get_or_404(db, Consultation, consultation_id)
        try:
            consultations.answer(
                db, consultation, text, actor=g.user, settings=rt.settings, now=rt.now()
            )
        except questions.ReplyRefused as exc:
            refused = str(exc)
            record(
                db,
                action="consultation_reply_refused",
                detail={"consultation_id": consultation_id},
            )
        else:
            record(db, action="consultation_replied", detail={"consultation_id": consultation_id})
    if refused:
        return _render(
            drafts={consultation_id: text}, errors={consultation_id: refused}, status=409
        )
    flash(f"相談 #{consultation_id} に返信しました。", "info")
    return redirect(url_for("console.consultations_page"))


@bp.post("/consultations/<int:consultation_id>/posted")
@login_required(ADMIN, REVIEWER)
def consultation_posted(consultation_id: int) -> ResponseReturnValue:
    """Mark it 「グループに匿名で投稿済み」."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        consultation = get_or_404(db, Consultation, consultation_id)
        if consultations.mark_posted(consultation, actor=g.user, now=rt.now()):
            record(db, action="consultation_posted", detail={"consultation_id": consultation_id})
            flash(f"相談 #{consultation_id} をグループに匿名で投稿済みにしました。", "info")
        else:
            flash("すでに投稿済みです。", "info")
    return redirect(url_for("console.consultations_page"))


@bp.post("/consultations/<int:consultation_id>/close")
@login_required(ADMIN, REVIEWER)
def consultation_close(consultation_id: int) -> ResponseReturnValue:
    """Close without a reply, or reopen a closed one."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        consultation = get_or_404(db, Consultation, consultation_id)
        if consultation.status == consultations.ANSWERED:
            flash("回答済みの相談はそのままです。", "error")
            return redirect(url_for("console.consultations_page"))
        reopen = consultation.status == consultations.CLOSED
        consultation.status = consultations.OPEN if reopen else consultations.CLOSED
        record(
            db,
            action="consultation_reopened" if reopen else "consultation_closed",
            detail={"consultation_id": consultation_id},
        )
    flash(
        f"相談 #{consultation_id} を{'未対応に戻しました' if reopen else 'クローズしました'}。",
        "info",
    )
    return redirect(url_for("console.consultations_page"))


@bp.route("/consultations/<int:consultation_id>/sender", methods=["GET", "POST"])
@login_required(ADMIN)
def consultation_sender(consultation_id: int) -> ResponseReturnValue:
    """「送信者を確認」 (admins): asks for a reason, audits the look, shows the sender once."""
    rt = current_runtime()
    error = ""
    with rt.db.transaction() as db:
        consultation = get_or_404(db, Consultation, consultation_id)
        sender = None
        shown = False
        reason = request.form.get("reason", "").strip() if request.method == "POST" else ""
        if request.method == "POST":
            if not reason:
                error = "確認する理由を入力してください（監査ログに残ります）。"
            elif len(reason) > consultations.REASON_MAX:
                error = f"理由は{consultations.REASON_MAX}文字以内にしてください。"
            else:
                sender = consultations.reveal(
                    db, consultation, actor=g.user, reason=reason, now=rt.now()
                )
                shown = True
        history = consultations.reveal_history(db, consultation.id)
        html = render_template(
            "console/consultation_sender.html",
            consultation=consultation,
            sender=sender,
            shown=shown,
            error=error,
            reason=reason,
            history=history,
            reason_max=consultations.REASON_MAX,
        )
    return html, 400 if error else 200
