"""質問: members' questions the bot could not answer, with a reply box.

Open questions first (oldest waiting at the top), then the latest answered and closed ones.
A reply goes by the first channel that reaches the person (`bot/community/questions.py`:
RESPONSE in the 24-hour window, HUMAN_AGENT within 7 days when enabled, else email); when none
does, the page says so and the reply is kept as the draft. A question and its reply can become
a new FAQ entry (「FAQに追加」, editable first). Every reply, close and FAQ entry is audited.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.community import questions
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, MemberQuestion, MessengerIdentity
from bot.web import current_runtime

OPEN_SHOWN = 100
RECENT_SHOWN = 50
CHANNEL_LABELS = {
    questions.RESPONSE: "メッセンジャー（24時間以内の返信）",
    questions.HUMAN_AGENT: "メッセンジャー（担当者の返信・7日以内）",
    questions.EMAIL: "メール（申込のメールアドレス）",
}


def channel_label(channel: str | None) -> str:
    """The Japanese name of a reply channel (None: no way to reach the person)."""
    if channel is None:
        return "今は届けられません（次にメッセージが届いたら送れます）"
    return CHANNEL_LABELS.get(channel, channel)


def _people(db: Session, rows: list[MemberQuestion]) -> dict[int, dict[str, Any]]:
    """Who asked each question: the linked application's name and code, or the profile name."""
    app_ids = {q.application_id for q in rows if q.application_id}
    apps = (
        {a.id: a for a in db.scalars(select(Application).where(Application.id.in_(app_ids)))}
        if app_ids
        else {}
    )
    psids = {q.psid for q in rows}
    names = dict(
        db.execute(
            select(MessengerIdentity.psid, MessengerIdentity.name).where(
                MessengerIdentity.psid.in_(psids)
            )
        )
        .tuples()
        .all()
    )
    people = {}
    for q in rows:
        app = apps.get(q.application_id) if q.application_id else None
        if app is not None and app.erased_at is not None:
            app = None
        people[q.id] = {
            "code": app.code if app is not None else "",
            "name": (app.full_name if app is not None else "") or names.get(q.psid, ""),
        }
    return people


def _render(
    *, drafts: dict[int, str] | None = None, errors: dict[int, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        open_rows = list(
            db.scalars(
                select(MemberQuestion)
                .where(MemberQuestion.status == questions.OPEN)
                .order_by(MemberQuestion.asked_at, MemberQuestion.id)
                .limit(OPEN_SHOWN)
            )
        )
        done_rows = list(
            db.scalars(
                select(MemberQuestion)
                .where(MemberQuestion.status != questions.OPEN)
                .order_by(MemberQuestion.id.desc())
                .limit(RECENT_SHOWN)
            )
        )
        open_count = db.scalar(
            select(func.count())
            .select_from(MemberQuestion)
            .where(MemberQuestion.status == questions.OPEN)
        )
        channels = {
            q.id: channel_label(
                questions.reply_channel(
                    db,
                    psid=q.psid,
                    application_id=q.application_id,
                    settings=rt.settings,
                    now=rt.now(),
                )
            )
            for q in open_rows
        }
        html = render_template(
            "console/questions.html",
            open_rows=open_rows,
            done_rows=done_rows,
            open_count=open_count or 0,
            people=_people(db, open_rows + done_rows),
            channels=channels,
            channel_labels=CHANNEL_LABELS,
            drafts=drafts or {},
            errors=errors or {},
            top_errors=[e for i, e in (errors or {}).items() if i not in {r.id for r in open_rows}],
            reply_max=questions.REPLY_MAX,
        )
    return html, status


@bp.get("/questions")
@login_required(ADMIN, REVIEWER)
def questions_page() -> ResponseReturnValue:
    """The inbox of members' questions."""
    return _render()


@bp.post("/questions/<int:question_id>/reply")
@login_required(ADMIN, REVIEWER)
def question_reply(question_id: int) -> ResponseReturnValue:
    """Send a reply (or keep it as the draft when nobody can be reached)."""
    rt = current_runtime()
    text = request.form.get("reply", "")
    error = questions.reply_problem(text)
    if error:
        return _render(drafts={question_id: text}, errors={question_id: error}, status=400)
    refused = ""
    with rt.db.transaction() as db:
        question = get_or_404(db, MemberQuestion, question_id)
        try:
            channel = questions.answer_question(
                db, question, text, actor=g.user, settings=rt.settings, now=rt.now()
            )
        except questions.ReplyRefused as exc:
            refused = str(exc)
            if question.status != questions.OPEN:  # no reply box on the page: keep the text here
                refused += f" 書いた返信:「{text.strip()}」"
            record(db, action="question_reply_refused", detail={"question_id": question_id})
        else:
            record(
                db,
                action="question_replied",
                detail={"question_id": question_id, "channel": channel},
            )
    if refused:
        return _render(drafts={question_id: text}, errors={question_id: refused}, status=409)
    flash(f"質問 #{question_id} に返信しました（{channel_label(channel)}）。", "info")
    return redirect(url_for("console.questions_page"))


@bp.post("/questions/<int:question_id>/close")
@login_required(ADMIN, REVIEWER)
def question_close(question_id: int) -> ResponseReturnValue:
    """Close a question without a reply (spam, answered elsewhere); reopen a closed one."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        question = questions.lock_row(db, get_or_404(db, MemberQuestion, question_id))
        if question.status == questions.ANSWERED:
            flash("回答済みの質問はそのままです。", "error")
            return redirect(url_for("console.questions_page"))
        reopen = question.status == questions.CLOSED
        question.status = questions.OPEN if reopen else questions.CLOSED
        record(
            db,
            action="question_reopened" if reopen else "question_closed",
            detail={"question_id": question_id},
        )
    flash(
        f"質問 #{question_id} を{'未対応に戻しました' if reopen else 'クローズしました'}。", "info"
    )
    return redirect(url_for("console.questions_page"))


@bp.route("/questions/<int:question_id>/faq", methods=["GET", "POST"])
@login_required(ADMIN, REVIEWER)
def question_faq(question_id: int) -> ResponseReturnValue:
    """「FAQに追加」: a new FAQ entry from the question and its reply, edited first."""
    rt = current_runtime()
    errors: list[str] = []
    with rt.db.transaction() as db:
        question = get_or_404(db, MemberQuestion, question_id)
        form = {
            "question": question.text[: questions.QUESTION_MAX],
            "answer": question.reply,
            "keywords": "",
        }
        if request.method == "POST":
            form = {k: request.form.get(k, "") for k in ("question", "answer", "keywords")}
            errors = questions.entry_problems(**form)
            if not errors:
                entry = questions.faq_from_question(
                    db,
                    question,
                    text=form["question"],
                    answer=form["answer"],
                    keywords=form["keywords"],
                    now=rt.now(),
                )
                record(
                    db,
                    action="faq_created",
                    detail={"faq_id": entry.id, "from_question_id": question.id},
                )
                flash(f"FAQ「{entry.question[:40]}」を追加しました。", "info")
                return redirect(url_for("console.faq_page"))
        html = render_template(
            "console/questions_faq.html", question=question, form=form, errors=errors
        )
    return html, 400 if errors else 200
