"""One application: answers, verification, history, notes, duplicates, invitations, messages."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.console.blueprint import bp
from bot.console.formatting import DECISION_REFUSALS, STATUS_LABELS
from bot.console.pages import decisions
from bot.console.pages.queue import rejection_templates
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, JoinRequest, JoinRequestStatus, OutboundMessage, ReviewerNote
from bot.onboarding import applications, claims, intake
from bot.onboarding.applications import canonical_code
from bot.onboarding.lifecycle import (
    DomainError,
    UnansweredJoinRequest,
    UnprovenIdentity,
    audit,
    can,
)
from bot.onboarding.names import person_key
from bot.web import current_runtime

HIDDEN_FROM_HISTORY = {"application_viewed"}


def _get(db: Session, code: str) -> Application:
    app = db.scalars(select(Application).where(Application.code == canonical_code(code))).first()
    if app is None:
        abort(404)
    return app


def related_applications(db: Session, app: Application) -> list[Application]:
    """Other applications with the same email, or the same name at the same organization.

    "The same name" is `names.person_key` (spaces, width and case do not count), the rule the
    verdict's duplicate check uses: 山田 太郎 and 山田太郎 are listed together.
    """
    same_email = func.lower(Application.email) == app.email.lower()
    newest_first = Application.submitted_at.desc()
    query = select(Application.id, Application.email, Application.full_name).where(
        Application.id != app.id
    )
    if app.full_name:
        same_org = (
            Application.organization_code == app.organization_code
            if app.organization_code
            else Application.organization_text == app.organization_text
        )
        query = query.where(or_(same_email, same_org))
    else:
        query = query.where(same_email)
    name = person_key(app.full_name) if app.full_name else None
    email = app.email.lower()
    ids = [
        row.id
        for row in db.execute(query.order_by(newest_first))
        if row.email.lower() == email or (name and person_key(row.full_name) == name)
    ][:20]
    return list(
        db.scalars(select(Application).where(Application.id.in_(ids)).order_by(newest_first))
    )


@bp.get("/applications/<code>")
@login_required(ADMIN, REVIEWER)
def application(code: str) -> ResponseReturnValue:
    """Everything about one application; the access is audited (personal data)."""
    rt = current_runtime()
    now = rt.now()
    claim_minutes = rt.settings.console.claim_minutes
    with rt.db.transaction() as db:
        app = _get(db, code)
        audit(app, actor=g.user, at=now, action="application_viewed")
        db.flush()
        history = [h for h in app.history if h.action not in HIDDEN_FROM_HISTORY]
        messages = db.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.application_id == app.id)
            .order_by(OutboundMessage.id)
        ).all()
        join_requests = db.scalars(
            select(JoinRequest).where(JoinRequest.application_id == app.id).order_by(JoinRequest.id)
        ).all()
        matched = [jr for jr in join_requests if jr.status == JoinRequestStatus.MATCHED]
        return render_template(
            "console/application.html",
            app=app,
            history=history,
            messages=messages,
            join_requests=join_requests,
            matched_join_request=matched[-1] if matched else None,
            related=related_applications(db, app),
            templates=rejection_templates(db, rt.settings),
            now=now,
            can_approve=can(app, "approve"),
            can_reject=can(app, "reject"),
            can_close=can(app, "close_without_email"),
            back=url_for("console.application", code=app.code),
            undo=decisions.pending_undo(db, now),
            claimed_by=claims.live_claim(app, now=now, minutes=claim_minutes),
            confirm_reasons=[
                DECISION_REFUSALS[r]
                for r in claims.reasons_to_confirm(
                    app, actor=g.user, now=now, minutes=claim_minutes
                )
            ],
        )


@bp.post("/applications/<code>/notes")
@login_required(ADMIN, REVIEWER)
def add_note(code: str) -> ResponseReturnValue:
    """Add a reviewer note to an application."""
    rt = current_runtime()
    text = request.form.get("text", "").strip()[:4000]
    with rt.db.transaction() as db:
        app = _get(db, code)
        if text:
            now = rt.now()
            db.add(ReviewerNote(application_id=app.id, author=g.user, text=text, at=now))
            audit(app, actor=g.user, at=now, action="note_added")
    if text:
        flash("メモを追加しました。", "info")
    else:
        flash("メモが空です。", "error")
    return redirect(url_for("console.application", code=code))


@bp.post("/applications/<code>/approve")
@login_required(ADMIN, REVIEWER)
def approve_application(code: str) -> ResponseReturnValue:
    """Approve one application, then open the next one of its tab.

    An unproven email address needs the reviewer's check (`identity_checked`), an unmatched
    join request their answer (`join_request`: yes | no), someone else's claim or a 確認中
    note their confirmation (`confirm_others`); else nothing is approved and the page says why.
    """
    rt = current_runtime()
    identity_checked = request.form.get("identity_checked") == "1"
    answer = decisions.join_request_answer()
    now = rt.now()
    with rt.db.transaction() as db:
        app = _get(db, code)
        tab, status = decisions.tab_of(app), app.status
        try:
            decisions.check_others(app, now)
            applications.approve(
                db,
                app,
                settings=rt.settings,
                actor=g.user,
                at=now,
                identity_checked=identity_checked,
                join_request_confirmed=answer,
                undo_seconds=rt.settings.console.undo_seconds,
            )
        except decisions.Refused as exc:
            flash(f"{app.code} は承認していません。{DECISION_REFUSALS[exc.key]}", "error")
            return redirect(url_for("console.application", code=app.code))
        except UnprovenIdentity:
            flash(
                f"{app.code} は承認していません。メールアドレスが本人のものと確かめられていない"
                "ため、本人であることを確認したうえで、確認欄にチェックを入れて承認してください。",
                "error",
            )
            return redirect(url_for("console.application", code=app.code))
        except UnansweredJoinRequest:
            flash(
                f"{app.code} は承認していません。{DECISION_REFUSALS['join_request_unanswered']}",
                "error",
            )
            return redirect(url_for("console.application", code=app.code))
        except DomainError:
            if app.status != status:
                raise  # failed after the transition: roll the whole request back
            label = STATUS_LABELS.get(app.status, app.status)
            flash(f"{app.code} は承認できませんでした（状態: {label}）。", "error")
            return redirect(url_for("console.application", code=app.code))
        decisions.remember_for_undo([app])
        target = decisions.next_location(db, tab, app)
    flash(f"1 件を承認しました: {app.code}", "info")
    return redirect(target)


@bp.post("/applications/<code>/pending-change/accept")
@login_required(ADMIN, REVIEWER)
def accept_pending_change(code: str) -> ResponseReturnValue:
    """Apply the edit held for a decided application (verified again, no email sent)."""
    return _settle_pending_change(code, accept=True)


@bp.post("/applications/<code>/pending-change/discard")
@login_required(ADMIN, REVIEWER)
def discard_pending_change(code: str) -> ResponseReturnValue:
    """Drop the edit held for a decided application; its answers stay as they are."""
    return _settle_pending_change(code, accept=False)


def _settle_pending_change(code: str, *, accept: bool) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        app = _get(db, code)
        if not app.pending_change:
            flash("保留中の回答の変更はありません。", "error")
            return redirect(url_for("console.application", code=app.code))
        if accept:
            intake.accept_pending_change(db, app, settings=rt.settings, actor=g.user, at=rt.now())
        else:
            intake.discard_pending_change(app, actor=g.user, at=rt.now())
    if accept:
        flash("回答の変更を反映しました。判定をやり直しました。", "info")
    else:
        flash("回答の変更を破棄しました。", "info")
    return redirect(url_for("console.application", code=code))
