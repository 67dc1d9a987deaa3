"""FAQ: the questions the bot answers by itself — list, add, edit, turn off and on.

The entries come from `bot/community/data/faq.toml` (`cityhall faq import`) and from answered
questions (「FAQに追加」 on the 質問 page); every change is audited with the entry's id.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot.community import questions
from bot.community.faq_match import keywords_of
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.params import BadParameter, parse_int
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import FaqEntry
from bot.web import current_runtime

FIELDS = ("question", "answer", "keywords", "position")
POSITION_MAX = 1_000_000


def _form() -> tuple[dict[str, str], list[str], int]:
    """The posted entry, its Japanese problems, and its position."""
    form = {k: request.form.get(k, "") for k in FIELDS}
    errors = questions.entry_problems(form["question"], form["answer"], form["keywords"])
    position = 0
    try:
        position = parse_int("position", form["position"], maximum=POSITION_MAX) or 0
    except BadParameter:
        errors.append(f"表示順は0〜{POSITION_MAX}の整数（半角数字）で入力してください。")
    return form, errors, position


def _values(form: dict[str, str], position: int) -> dict[str, object]:
    return {
        "question": form["question"].strip(),
        "answer": form["answer"].strip(),
        "keywords": "\n".join(keywords_of(form["keywords"])),
        "position": position,
    }


def _render(form: dict[str, str] | None = None, errors: list[str] | None = None) -> str:
    rt = current_runtime()
    with rt.db.transaction() as db:
        entries = list(db.scalars(select(FaqEntry).order_by(FaqEntry.position, FaqEntry.id)))
        return render_template(
            "console/faq.html", entries=entries, form=form or {}, errors=errors or []
        )


@bp.get("/faq")
@login_required(ADMIN, REVIEWER)
def faq_page() -> ResponseReturnValue:
    """Every FAQ entry, active first in the order Messenger lists them, and the add form."""
    return _render()


@bp.post("/faq")
@login_required(ADMIN, REVIEWER)
def faq_create() -> ResponseReturnValue:
    """Add an entry."""
    form, errors, position = _form()
    if errors:
        return _render(form, errors), 400
    rt = current_runtime()
    with rt.db.transaction() as db:
        now = rt.now()
        entry = FaqEntry(**_values(form, position), active=True, created_at=now, updated_at=now)
        db.add(entry)
        db.flush()
        record(db, action="faq_created", detail={"faq_id": entry.id})
    flash("FAQを追加しました。", "info")
    return redirect(url_for("console.faq_page"))


@bp.route("/faq/<int:entry_id>", methods=["GET", "POST"])
@login_required(ADMIN, REVIEWER)
def faq_edit(entry_id: int) -> ResponseReturnValue:
    """Edit an entry."""
    rt = current_runtime()
    errors: list[str] = []
    with rt.db.transaction() as db:
        entry = get_or_404(db, FaqEntry, entry_id)
        form = {
            "question": entry.question,
            "answer": entry.answer,
            "keywords": entry.keywords,
            "position": str(entry.position),
        }
        if request.method == "POST":
            form, errors, position = _form()
            if not errors:
                values = _values(form, position)
                changed = sorted(k for k, v in values.items() if getattr(entry, k) != v)
                for key, value in values.items():
                    setattr(entry, key, value)
                entry.updated_at = rt.now()
                record(db, action="faq_updated", detail={"faq_id": entry.id, "changed": changed})
                flash("FAQを保存しました。", "info")
                return redirect(url_for("console.faq_page"))
        html = render_template("console/faq_edit.html", entry=entry, form=form, errors=errors)
    return html, 400 if errors else 200


@bp.post("/faq/<int:entry_id>/active")
@login_required(ADMIN, REVIEWER)
def faq_toggle(entry_id: int) -> ResponseReturnValue:
    """Turn an entry off (the bot stops answering with it) or on again."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        entry = get_or_404(db, FaqEntry, entry_id)
        entry.active = not entry.active
        entry.updated_at = rt.now()
        record(
            db,
            action="faq_activated" if entry.active else "faq_deactivated",
            detail={"faq_id": entry.id},
        )
        message = "FAQを有効にしました。" if entry.active else "FAQを無効にしました。"
    flash(message, "info")
    return redirect(url_for("console.faq_page"))
