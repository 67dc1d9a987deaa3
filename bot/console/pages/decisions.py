"""Decisions from the queue and the application page: approve (with an undo window), reject,
close without email, claims, and "next" after a decision on the application page."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.blueprint import bp
from bot.console.formatting import DECISION_REFUSALS, STATUS_LABELS
from bot.console.pages.auth import local_redirect
from bot.console.params import parse_int
from bot.console.queue_query import TABS, QueueFilter, encode_cursor, queue_page
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import Application, RejectionTemplate
from bot.onboarding import applications, claims
from bot.onboarding.applications import canonical_code
from bot.onboarding.lifecycle import (
    TRANSITIONS,
    DomainError,
    UnansweredJoinRequest,
    UndoRefused,
    UnprovenIdentity,
    can,
)
from bot.web import current_runtime

MAX_BULK = 200
UNDO_KEY = "console_undo"  # the session's last approval: {"codes": [...]}

log = logging.getLogger(__name__)


def _tabs_of(db: Session, codes: list[str]) -> dict[str, str]:
    """The tab each selected application is in before the decision (for "next" after it)."""
    query = select(Application).where(Application.code.in_(codes))
    return {a.code: tab_of(a) for a in db.scalars(query)}


class Refused(Exception):
    """One application not decided, for a reason of DECISION_REFUSALS."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _selected_codes() -> list[str]:
    only = request.form.get("only", "").strip()
    if only:  # the button on one card decides that card only
        return [canonical_code(only)]
    codes = [c.strip() for c in request.form.getlist("codes") if c.strip()]
    return list(dict.fromkeys(codes))[:MAX_BULK]


def join_request_answer() -> bool | None:
    """The reviewer's answer to 「参加リクエストを確認しましたか？」 (None: not answered)."""
    answer = request.form.get("join_request", "")
    return {"yes": True, "no": False}.get(answer)


def check_others(app: Application, now: datetime) -> None:
    """Refuse when someone else handles the application, unless the decider confirmed."""
    if request.form.get("confirm_others") == "1":
        return
    minutes = current_runtime().settings.console.claim_minutes
    reasons = claims.reasons_to_confirm(app, actor=g.user, now=now, minutes=minutes)
    if reasons:
        raise Refused(reasons[0])


def decide_each(
    db: Session, codes: list[str], action: str, decide: Callable[[Application], None]
) -> tuple[list[Application], list[str]]:
    """Apply one decision to each application; report the ones that cannot take it.

    A refusal before the transition (unknown code, wrong status, a domain rule, someone else
    handling it) is reported and the others go ahead; a failure after the transition rolls the
    whole request back.
    """
    target = TRANSITIONS[action][1]
    now = current_runtime().now()
    done: list[Application] = []
    refused: list[str] = []
    found = {a.code: a for a in db.scalars(select(Application).where(Application.code.in_(codes)))}
    for code in codes:
        app = found.get(code)
        try:
            if app is None:
                raise Refused("not_found")
            if not can(app, action):
                refused.append(f"{code}（状態: {STATUS_LABELS.get(app.status, app.status)}）")
                continue
            check_others(app, now)
            try:
                decide(app)
            except UnprovenIdentity:
                raise Refused("unproven") from None
            except UnansweredJoinRequest:
                raise Refused("join_request_unanswered") from None
        except Refused as exc:
            refused.append(f"{code}（{DECISION_REFUSALS[exc.key]}）")
        except DomainError as exc:
            if app is not None and app.status == target:
                raise  # failed after the transition: roll the whole request back
            log.info("decision on %s refused: %s", code, exc)  # the English detail, for the log
            refused.append(f"{code}（{DECISION_REFUSALS['other_rule']}）")
        else:
            assert app is not None
            done.append(app)
    return done, refused


def _report(done: list[Application], refused: list[str], verb: str) -> None:
    if done:
        codes = ", ".join(a.code for a in done[:20])
        flash(f"{len(done)} 件を{verb}しました: {codes}", "info")
    if refused:
        flash(f"{len(refused)} 件は{verb}できませんでした: " + " / ".join(refused[:20]), "error")


def tab_of(app: Application) -> str:
    """The queue tab holding the application now (すべて when no other does)."""
    return next((t.key for t in TABS[:-1] if t.holds(app.status, app.verdict)), "all")


def next_location(db: Session, tab: str, decided: Application) -> str:
    """The next application of the tab after the decided one, or the tab's list when none."""
    rt = current_runtime()
    after = encode_cursor(decided.submitted_at, decided.id)
    for f in (QueueFilter(tab=tab, after=after), QueueFilter(tab=tab)):
        rows = queue_page(db, f, now=rt.now(), page_size=1).rows
        if rows and rows[0].id != decided.id:
            return url_for("console.application", code=rows[0].code)
    return url_for("console.home", tab=tab)


def _after_decision(db: Session, done: list[Application], tabs: dict[str, str]) -> str:
    """Where to go: the next application when one was decided from its page, else `back`."""
    next_from = request.form.get("next_from", "")
    if next_from and len(done) == 1 and done[0].code == next_from:
        return next_location(db, tabs[next_from], done[0])
    return local_redirect(request.form.get("back"))


def remember_for_undo(done: list[Application]) -> None:
    """Offer the undo (and the Facebook reminder) of these approvals on the next page."""
    if done:
        session[UNDO_KEY] = {"codes": [a.code for a in done]}


def pending_undo(db: Session, now: datetime) -> dict[str, Any] | None:
    """The toast after an approval: what can still be undone, and whom to approve on Facebook.

    Shown while the window lasts; once every application of it is past its window (or undone),
    the reminder is shown one last time and forgotten.
    """
    last = session.get(UNDO_KEY)
    if not last:
        return None
    apps = db.scalars(select(Application).where(Application.code.in_(last.get("codes", [])))).all()
    approved = [a for a in apps if a.status in ("approved", "invited")]
    live = [a for a in approved if a.undo_until is not None and now < a.undo_until]
    if not live:
        session.pop(UNDO_KEY, None)
    if not approved:
        return None
    seconds = min(
        (math.ceil((a.undo_until - now).total_seconds()) for a in live if a.undo_until), default=0
    )
    return {"live": live, "approved": approved, "seconds": max(seconds, 0)}


@bp.post("/decisions/approve")
@login_required(ADMIN, REVIEWER)
def approve() -> ResponseReturnValue:
    """Approve the selected applications in one transaction; refusals are reported."""
    rt = current_runtime()
    codes = _selected_codes()
    if not codes:
        flash("承認する申込を選んでください。", "error")
        return redirect(local_redirect(request.form.get("back")))
    now = rt.now()
    reason = request.form.get("approve_reason", "")[:500]
    answer = join_request_answer()
    identity_checked = request.form.get("identity_checked") == "1" and len(codes) == 1
    with rt.db.transaction() as db:
        tabs = _tabs_of(db, codes)
        done, refused = decide_each(
            db,
            codes,
            "approve",
            lambda app: applications.approve(
                db,
                app,
                settings=rt.settings,
                actor=g.user,
                at=now,
                reason=reason,
                identity_checked=identity_checked,
                join_request_confirmed=answer,
                undo_seconds=rt.settings.console.undo_seconds,
            ),
        )
        remember_for_undo(done)
        target = _after_decision(db, done, tabs)
    _report(done, refused, "承認")
    return redirect(target)


@bp.post("/decisions/undo")
@login_required(ADMIN, REVIEWER)
def undo() -> ResponseReturnValue:
    """Undo the last approval within its window: nothing is sent, seats are given back."""
    rt = current_runtime()
    codes = [canonical_code(c) for c in request.form.getlist("codes") if c.strip()][:MAX_BULK]
    done: list[str] = []
    refused: list[str] = []
    with rt.db.transaction() as db:
        for code in codes:
            app = db.scalars(select(Application).where(Application.code == code)).first()
            if app is None:
                refused.append(f"{code}（{DECISION_REFUSALS['not_found']}）")
                continue
            try:
                applications.undo_approval(db, app, actor=g.user, at=rt.now())
            except UndoRefused as exc:
                refused.append(f"{code}（{DECISION_REFUSALS['undo_' + exc.why]}）")
            else:
                done.append(code)
    session.pop(UNDO_KEY, None)
    if done:
        flash(
            f"{len(done)} 件の承認を取り消しました。メールと招待は送られません: {', '.join(done)}",
            "info",
        )
    if refused:
        flash(" / ".join(refused), "error")
    back = local_redirect(request.form.get("back"))
    if len(done) == 1 and request.form.get("to_application") == "1":
        back = url_for("console.application", code=done[0])
    return redirect(back)


def _reject_reason(db: Session) -> str:
    reason = request.form.get("reason", "").strip()[:2000]
    template_id = parse_int("template_id", request.form.get("template_id", ""))
    if not reason and template_id is not None:
        template = db.get(RejectionTemplate, template_id)
        reason = template.text if template is not None and template.active else ""
    return reason


@bp.post("/decisions/reject")
@login_required(ADMIN, REVIEWER)
def reject() -> ResponseReturnValue:
    """Reject the selected applications with a template or free-text reason."""
    rt = current_runtime()
    codes = _selected_codes()
    notify = request.form.get("notify") == "1"
    now = rt.now()
    with rt.db.transaction() as db:
        reason = _reject_reason(db)
        if not codes or not reason:
            flash("却下する申込と理由（テンプレートまたは自由記述）を指定してください。", "error")
            return redirect(local_redirect(request.form.get("back")))
        tabs = _tabs_of(db, codes)
        done, refused = decide_each(
            db,
            codes,
            "reject",
            lambda app: applications.reject(
                db, app, settings=rt.settings, actor=g.user, at=now, reason=reason, notify=notify
            ),
        )
        target = _after_decision(db, done, tabs)
    _report(done, refused, "却下")
    return redirect(target)


@bp.post("/decisions/close")
@login_required(ADMIN, REVIEWER)
def close() -> ResponseReturnValue:
    """Close the selected applications without any email (ineligible ones were told already)."""
    rt = current_runtime()
    codes = _selected_codes()
    reason = request.form.get("close_reason", "").strip()[:2000]
    now = rt.now()
    if not codes or not reason:
        flash("閉じる申込と理由を指定してください。", "error")
        return redirect(local_redirect(request.form.get("back")))
    with rt.db.transaction() as db:
        tabs = _tabs_of(db, codes)
        done, refused = decide_each(
            db,
            codes,
            "close_without_email",
            lambda app: applications.close_without_email(
                db, app, actor=g.user, at=now, reason=reason
            ),
        )
        target = _after_decision(db, done, tabs)
    _report(done, refused, "メールを送らずに終了")
    return redirect(target)


@bp.post("/applications/<code>/claim")
@login_required(ADMIN, REVIEWER)
def claim(code: str) -> ResponseReturnValue:
    """「対応中」: say that I handle this application (shown to everyone until it lapses)."""
    return _claim_or_release(code, take=True)


@bp.post("/applications/<code>/release")
@login_required(ADMIN, REVIEWER)
def release_claim(code: str) -> ResponseReturnValue:
    """End the 「対応中」 claim on this application."""
    return _claim_or_release(code, take=False)


def _claim_or_release(code: str, *, take: bool) -> ResponseReturnValue:
    rt = current_runtime()
    now = rt.now()
    back = local_redirect(request.form.get("back"), "console.home")
    with rt.db.transaction() as db:
        app = db.scalars(
            select(Application).where(Application.code == canonical_code(code))
        ).first()
        if app is None:
            flash(f"{code}（{DECISION_REFUSALS['not_found']}）", "error")
            return redirect(back)
        holder = claims.live_claim(app, now=now, minutes=rt.settings.console.claim_minutes)
        if take and holder and holder != g.user and request.form.get("confirm_others") != "1":
            flash(f"{app.code} は {holder} さんが対応中です。", "error")
        elif take:
            claims.claim(app, actor=g.user, at=now)
            flash(f"{app.code} を対応中にしました。", "info")
        else:
            claims.release(app, actor=g.user, at=now)
            flash(f"{app.code} の対応中を解除しました。", "info")
    return redirect(back)
