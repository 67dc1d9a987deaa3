"""Inbox (admin): webhook events as received, above all those that could not be processed.

A signed webhook item that cannot be read is stored as `invalid` with its reason, and one whose
handler kept failing ends `dead` with its last error: nothing is dropped, and this page is where
the secretariat sees them, retries a dead one or marks either as dealt with. It also lists the
people whose thread a human owns (the bot's automatic replies are paused for them).
"""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot.console.actions import count_by_status, get_or_404, newest_page, record
from bot.console.blueprint import bp
from bot.console.security import ADMIN, login_required
from bot.models import Application, InboundEvent, MessengerIdentity
from bot.web import current_runtime

PROBLEMS = ("invalid", "dead")
STATES = ("invalid", "dead", "pending", "leased", "done", "ignored", "dismissed")
PAGE = 100


@bp.get("/inbox")
@login_required(ADMIN)
def inbox_page() -> ResponseReturnValue:
    """Inbound events, newest first: the unprocessable ones unless another state is chosen."""
    rt = current_runtime()
    state = request.args.get("state", "")
    before = request.args.get("before", "")
    with rt.db.transaction() as db:
        query = select(InboundEvent)
        if state in STATES:
            query = query.where(InboundEvent.status == state)
        else:
            state = ""
            query = query.where(InboundEvent.status.in_(PROBLEMS))
        rows, more = newest_page(db, query, InboundEvent.id, before=before, size=PAGE)
        counts = count_by_status(db, InboundEvent.status)
        human_threads = db.execute(
            select(MessengerIdentity, Application.code)
            .outerjoin(Application, Application.messenger_identity_id == MessengerIdentity.id)
            .where(MessengerIdentity.quiet_until > rt.now())
            .order_by(MessengerIdentity.quiet_until.desc())
            .limit(PAGE)
        ).all()
        html = render_template(
            "console/inbox.html",
            rows=rows,
            payloads={r.id: json.dumps(r.payload, ensure_ascii=False, indent=2) for r in rows},
            more=more,
            counts=counts,
            problems=sum(counts.get(s, 0) for s in PROBLEMS),
            state=state,
            states=STATES,
            human_threads=human_threads,
        )
    return html


def _decide(event_id: int, *, allowed: tuple[str, ...], action: str) -> InboundEvent | None:
    """Apply `action` to one event if its state allows it; audit it; None if it did not."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        event = get_or_404(db, InboundEvent, event_id)
        if event.status not in allowed:
            return None
        before, now = event.status, rt.now()
        if action == "inbound_retry":
            event.status, event.attempts, event.next_attempt_at = "pending", 0, now
        else:
            event.status, event.processed_at = "dismissed", now
        event.lease_until = None
        record(
            db,
            action=action,
            detail={"event_id": event.id, "source": event.source, "was": before},
        )
        return event


def _back() -> ResponseReturnValue:
    state = request.args.get("state", "")
    return redirect(url_for("console.inbox_page", state=state if state in STATES else None))


@bp.post("/inbox/<int:event_id>/retry")
@login_required(ADMIN)
def retry_event(event_id: int) -> ResponseReturnValue:
    """Give a failed event's handler another series of attempts (after a fix, say)."""
    if _decide(event_id, allowed=("dead",), action="inbound_retry") is None:
        flash("失敗した受信イベントだけを再処理できます。", "error")
    else:
        flash(f"受信イベント #{event_id} を再処理待ちにしました。", "info")
    return _back()


@bp.post("/inbox/<int:event_id>/dismiss")
@login_required(ADMIN)
def dismiss_event(event_id: int) -> ResponseReturnValue:
    """Mark an unreadable or failed event as dealt with; it stays stored until retention."""
    if _decide(event_id, allowed=PROBLEMS, action="inbound_dismissed") is None:
        flash("読めない・失敗した受信イベントだけを確認済みにできます。", "error")
    else:
        flash(f"受信イベント #{event_id} を確認済みにしました。", "info")
    return _back()
