"""課 (the community's groups): list by kind, add, edit, deactivate and reactivate.

Every logged-in secretariat user may look; admins and reviewers may change (the two roles the
console has). Every change is audited with no application (`section_created`, `…_updated`,
`…_deactivated`, `…_activated`). The rules of a 課 are in `bot/community/sections.py`.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.community import sections as directory
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.params import BadParameter, parse_int
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Section
from bot.web import current_runtime

EDITORS = (ADMIN, REVIEWER)
STATES = {"all": "すべて", "active": "有効", "inactive": "無効"}
TAKEN = "同じ名前の課がすでにあります。名前を変えてください。"
# What a form may send at most (longer text is refused with a message, never cut silently).
_FORM_LIMITS = {
    "name": directory.MAX_NAME * 2,
    "description": directory.MAX_DESCRIPTION * 2,
    "group_url": directory.MAX_URL * 2,
    "leader_name": directory.MAX_LEADER * 2,
    "keywords": directory.MAX_KEYWORDS * 2,
}


def parse_section_form(form: Any) -> tuple[directory.SectionFields | None, list[str]]:
    """Validate the 課 form; returns the values or the Japanese error messages."""
    text = {key: str(form.get(key, ""))[:limit] for key, limit in _FORM_LIMITS.items()}
    errors: list[str] = []  # (NUL is refused for the whole console: bot/console/errors.py)
    try:
        position = parse_int("position", str(form.get("position", "")), maximum=10**9) or 0
    except BadParameter:
        errors.append(f"表示順は0〜{directory.MAX_POSITION}の整数（半角数字）で入力してください。")
        position = 0
    values, more = directory.check_fields(
        name=text["name"],
        kind=str(form.get("kind", "")),
        description=text["description"],
        group_url=text["group_url"],
        leader_name=text["leader_name"],
        keywords=text["keywords"],
        introduce_at_grand=form.get("introduce_at_grand") == "1",
        active=form.get("active") == "1",
        position=position,
    )
    errors += more
    return (values if not errors else None), errors


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    html = render_template(
        template,
        kinds=directory.KINDS,
        states=STATES,
        editable=_can_edit(),
        **context,
    )
    return html, status


def _can_edit() -> bool:
    return g.get("role") in EDITORS


def _list_page(
    form: dict[str, Any] | None = None, errors: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    state = request.args.get("state", "all")
    if state not in STATES:
        raise BadParameter("state")
    rt = current_runtime()
    with rt.db.transaction() as db:
        rows = directory.all_sections(db)
        if state != "all":
            rows = [s for s in rows if s.active == (state == "active")]
        by_kind = {kind: [s for s in rows if s.kind == kind] for kind in directory.KINDS}
        return _render(
            "console/sections.html",
            status,
            by_kind=by_kind,
            state=state,
            total=len(rows),
            form=form if form is not None else {"active": "1"},
            errors=errors or [],
        )


@bp.get("/sections")
@login_required()
def sections() -> ResponseReturnValue:
    """Every 課 by kind (optionally only active or inactive ones), and the form to add one."""
    return _list_page()


@bp.post("/sections")
@login_required(*EDITORS)
def create_section() -> ResponseReturnValue:
    """Add a 課."""
    values, errors = parse_section_form(request.form)
    if values is None:
        return _list_page(form=dict(request.form), errors=errors, status=400)
    rt = current_runtime()
    with rt.db.transaction() as db:
        taken = directory.name_taken(db, values.name)
        if not taken:
            section = directory.create_section(db, values, rt.now())
            record(
                db,
                action="section_created",
                detail={"section_id": section.id, **directory.snapshot(section)},
            )
    if taken:
        return _list_page(form=dict(request.form), errors=[TAKEN], status=400)
    flash(f"課「{values.name}」を追加しました。", "info")
    return redirect(url_for("console.sections"))


@bp.route("/sections/<int:section_id>", methods=["GET", "POST"])
@login_required()
def edit_section(section_id: int) -> ResponseReturnValue:
    """Show one 課's form; save it (admins and reviewers)."""
    rt = current_runtime()
    errors: list[str] = []
    form: dict[str, Any] | None = None
    if request.method == "POST" and not _can_edit():
        abort(403)
    with rt.db.transaction() as db:
        section = get_or_404(db, Section, section_id)
        if request.method == "POST":
            values, errors = parse_section_form(request.form)
            if values is not None and directory.name_taken(db, values.name, other_than=section.id):
                values, errors = None, [TAKEN]
            if values is not None:
                before = directory.update_section(section, values, rt.now())
                if before:
                    record(
                        db,
                        action="section_updated",
                        detail={
                            "section_id": section.id,
                            "before": before,
                            "after": {k: getattr(section, k) for k in before},
                        },
                    )
                flash(f"課「{section.name}」を保存しました。", "info")
                return redirect(url_for("console.sections"))
            form = dict(request.form)  # what was typed stays on the page
        return _render(
            "console/sections_edit.html",
            400 if errors else 200,
            section=section,
            form=form if form is not None else _form_of(section),
            errors=errors,
        )


def _form_of(section: Section) -> dict[str, Any]:
    values = directory.snapshot(section)
    values["active"] = "1" if section.active else ""
    values["introduce_at_grand"] = "1" if section.introduce_at_grand else ""
    return values


@bp.post("/sections/<int:section_id>/active")
@login_required(*EDITORS)
def set_section_active(section_id: int) -> ResponseReturnValue:
    """Deactivate (hidden from Messenger and suggestions) or reactivate a 課."""
    active = request.form.get("active", "")
    if active not in ("0", "1"):
        raise BadParameter("active")
    rt = current_runtime()
    with rt.db.transaction() as db:
        section = get_or_404(db, Section, section_id)
        name = section.name
        if section.active != (active == "1"):
            section.active = active == "1"
            section.updated_at = rt.now()
            record(
                db,
                action="section_activated" if section.active else "section_deactivated",
                detail={"section_id": section.id, "name": section.name},
            )
    flash(f"課「{name}」を{'有効' if active == '1' else '無効'}にしました。", "info")
    return redirect(url_for("console.sections"))
