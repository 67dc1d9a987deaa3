"""The queue (承認待ち, its tabs, and the search over every application) and its decisions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from flask import flash, g, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.console.blueprint import bp
from bot.console.formatting import STATUS_LABELS
from bot.console.pages.auth import local_redirect
from bot.console.params import parse_int
from bot.console.prefectures import PREFECTURES
from bot.console.queue_query import TABS, VERDICTS, QueueFilter, queue_page
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, RejectionTemplate, SystemFlag
from bot.onboarding import applications
from bot.onboarding.lifecycle import TRANSITIONS, DomainError, UnprovenIdentity, can
from bot.web import current_runtime

SEEDED_FLAG = "console:rejection_templates_seeded"
MAX_BULK = 200


def rejection_templates(
    db: Session, settings: Settings, *, include_inactive: bool = False
) -> Sequence[RejectionTemplate]:
    """The rejection reason templates, seeded once from the settings."""
    if db.get(SystemFlag, SEEDED_FLAG) is None:
        for text in settings.console.rejection_templates:
            db.add(RejectionTemplate(label=text[:100], text=text, active=True))
        db.add(SystemFlag(name=SEEDED_FLAG, value={"seeded": True}))
        db.flush()
    query = select(RejectionTemplate).order_by(RejectionTemplate.id)
    if not include_inactive:
        query = query.where(RejectionTemplate.active.is_(True))
    return db.scalars(query).all()


@bp.get("/queue")
@bp.get("/")
@login_required(ADMIN, REVIEWER)
def home() -> ResponseReturnValue:
    """One tab of applications (確認待ち by default) or a search, filtered and paginated."""
    started = time.perf_counter()
    rt = current_runtime()
    now = rt.now()
    f = QueueFilter.from_args(request.args)
    with rt.db.transaction() as db:
        page = queue_page(db, f, now=now, page_size=rt.settings.console.page_size)
        templates = rejection_templates(db, rt.settings)
        html = render_template(
            "console/queue.html",
            page=page,
            f=f,
            now=now,
            templates=templates,
            prefectures=PREFECTURES,
            tabs=TABS,
            verdicts=f.current_tab.verdicts or VERDICTS,
            statuses=f.current_tab.statuses,
            back=request.full_path,
        )
    response = rt_response(html, started)
    return response


def rt_response(html: str, started: float) -> ResponseReturnValue:
    """The page with its server time (Server-Timing, for the benchmark and the browser)."""
    elapsed = (time.perf_counter() - started) * 1000
    return html, 200, {"Server-Timing": f"app;dur={elapsed:.1f}"}


def _selected_codes() -> list[str]:
    codes = [c.strip() for c in request.form.getlist("codes") if c.strip()]
    return list(dict.fromkeys(codes))[:MAX_BULK]


def _load(db: Session, codes: list[str]) -> dict[str, Application]:
    rows = db.scalars(select(Application).where(Application.code.in_(codes))).all()
    return {a.code: a for a in rows}


def _decide(
    db: Session, codes: list[str], action: str, decide: Callable[[Application], None]
) -> tuple[list[str], list[str]]:
    """Apply one decision to each selected application; report the ones that cannot take it.

    A refusal before the transition (unknown code, wrong status, a domain rule) is reported and
    the others go ahead; a failure after the transition rolls the whole request back.
    """
    target = TRANSITIONS[action][1]
    done: list[str] = []
    refused: list[str] = []
    found = _load(db, codes)
    for code in codes:
        app = found.get(code)
        if app is None:
            refused.append(f"{code}（見つかりません）")
        elif not can(app, action):
            refused.append(f"{code}（状態: {STATUS_LABELS.get(app.status, app.status)}）")
        else:
            try:
                decide(app)
            except UnprovenIdentity:
                refused.append(
                    f"{code}（メール未確認：申込ページで本人確認のうえ承認してください）"
                )
            except DomainError as exc:
                if app.status == target:
                    raise  # failed after the transition: roll the whole request back
                refused.append(f"{code}（{exc}）")
            else:
                done.append(code)
    return done, refused


def _report(done: list[str], refused: list[str], verb: str) -> None:
    if done:
        flash(f"{len(done)} 件を{verb}しました: {', '.join(done[:20])}", "info")
    if refused:
        flash(f"{len(refused)} 件は{verb}できませんでした: " + " / ".join(refused[:20]), "error")


@bp.post("/decisions/approve")
@login_required(ADMIN, REVIEWER)
def approve() -> ResponseReturnValue:
    """Approve the selected applications in one transaction; refusals are reported."""
    rt = current_runtime()
    codes = _selected_codes()
    back = local_redirect(request.form.get("back"))
    if not codes:
        flash("承認する申込を選んでください。", "error")
        return redirect(back)
    now = rt.now()
    reason = request.form.get("approve_reason", "")[:500]
    with rt.db.transaction() as db:
        done, refused = _decide(
            db,
            codes,
            "approve",
            lambda app: applications.approve(
                db, app, settings=rt.settings, actor=g.user, at=now, reason=reason
            ),
        )
    _report(done, refused, "承認")
    return redirect(back)


@bp.post("/decisions/reject")
@login_required(ADMIN, REVIEWER)
def reject() -> ResponseReturnValue:
    """Reject the selected applications with a template or free-text reason."""
    rt = current_runtime()
    codes = _selected_codes()
    back = local_redirect(request.form.get("back"))
    notify = request.form.get("notify") == "1"
    reason = request.form.get("reason", "").strip()[:2000]
    now = rt.now()
    with rt.db.transaction() as db:
        template_id = parse_int("template_id", request.form.get("template_id", ""))
        if not reason and template_id is not None:
            template = db.get(RejectionTemplate, template_id)
            reason = template.text if template is not None and template.active else ""
        if not codes or not reason:
            flash("却下する申込と理由（テンプレートまたは自由記述）を指定してください。", "error")
            return redirect(back)
        done, refused = _decide(
            db,
            codes,
            "reject",
            lambda app: applications.reject(
                db,
                app,
                settings=rt.settings,
                actor=g.user,
                at=now,
                reason=reason,
                notify=notify,
            ),
        )
    _report(done, refused, "却下")
    return redirect(back)
