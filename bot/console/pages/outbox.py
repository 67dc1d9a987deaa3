"""Outbox (admin): messages and emails with their state, retry, cancel, the sending pause;
and the quarantine of form rows that could not be taken in."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot.console.actions import count_by_status, get_or_404, newest_page, record
from bot.console.blueprint import bp
from bot.console.formatting import CHANNEL_LABELS
from bot.console.security import ADMIN, login_required
from bot.messaging import outbox
from bot.models import OutboundMessage, QuarantinedRow
from bot.web import current_runtime

STATES = ("awaiting_window", "pending", "leased", "sent", "dead", "cancelled")
CHANNELS = ("messenger", "email", "profile")  # profile: User Profile API calls
PAGE = 100


@bp.get("/outbox")
@login_required(ADMIN)
def outbox_page() -> ResponseReturnValue:
    """Outbound messages, newest first, filtered by state and channel."""
    rt = current_runtime()
    state = request.args.get("state", "")
    channel = request.args.get("channel", "")
    before = request.args.get("before", "")
    with rt.db.transaction() as db:
        query = select(OutboundMessage)
        if state in STATES:
            query = query.where(OutboundMessage.status == state)
        if channel in CHANNELS:
            query = query.where(OutboundMessage.channel == channel)
        rows, more = newest_page(db, query, OutboundMessage.id, before=before, size=PAGE)
        html = render_template(
            "console/outbox.html",
            rows=rows,
            more=more,
            counts=count_by_status(db, OutboundMessage.status),
            state=state,
            channel=channel,
            states=STATES,
            channels=CHANNELS,
            paused=outbox.paused_channels(db),
        )
    return html


def _back() -> str:
    state, channel = request.args.get("state", ""), request.args.get("channel", "")
    return url_for(
        "console.outbox_page",
        state=state if state in STATES else None,
        channel=channel if channel in CHANNELS else None,
    )


@bp.post("/outbox/<int:message_id>/retry")
@login_required(ADMIN)
def retry_message(message_id: int) -> ResponseReturnValue:
    """Put a failed or waiting message back in the queue."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        row = get_or_404(db, OutboundMessage, message_id)
        if row.status in {"sent", "leased"}:
            flash("送信済み・送信中のメッセージは再送できません。", "error")
        else:
            outbox.retry_now(db, row, rt.now())
            record(
                db,
                action="outbox_retry",
                detail={"message_id": row.id},
            )
            flash(f"メッセージ #{row.id} を再送待ちにしました。", "info")
    return redirect(_back())


@bp.post("/outbox/<int:message_id>/cancel")
@login_required(ADMIN)
def cancel_message(message_id: int) -> ResponseReturnValue:
    """Cancel a message that has not been sent."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        row = get_or_404(db, OutboundMessage, message_id)
        if outbox.cancel(db, row):
            record(
                db,
                action="outbox_cancel",
                detail={"message_id": row.id},
            )
            flash(f"メッセージ #{row.id} を取り消しました。", "info")
        else:
            flash("送信済み・取り消し済みのメッセージです。", "error")
    return redirect(_back())


@bp.post("/outbox/pause")
@login_required(ADMIN)
def pause_sending() -> ResponseReturnValue:
    """Pause or resume all sending on one channel."""
    rt = current_runtime()
    channel = request.form.get("channel", "")
    paused = request.form.get("action") == "pause"
    if channel not in CHANNELS:
        abort(400)
    reason = request.form.get("reason", "").strip()[:500]
    reason = reason or ("コンソールから停止" if paused else "")
    with rt.db.transaction() as db:
        outbox.set_paused(db, channel, paused, reason=reason, now=rt.now())
        record(
            db,
            action="sending_paused" if paused else "sending_resumed",
            reason=reason,
            detail={"channel": channel},
        )
    label = CHANNEL_LABELS.get(channel, channel)
    flash(f"{label}の送信を{'停止' if paused else '再開'}しました。", "info")
    return redirect(url_for("console.outbox_page"))


@bp.get("/quarantine")
@login_required(ADMIN)
def quarantine() -> ResponseReturnValue:
    """Form rows that could not become applications, with their reason and raw values."""
    rt = current_runtime()
    show_resolved = request.args.get("resolved") == "1"
    with rt.db.transaction() as db:
        query = select(QuarantinedRow).order_by(QuarantinedRow.last_seen_at.desc()).limit(500)
        if not show_resolved:
            query = query.where(QuarantinedRow.resolved_at.is_(None))
        html = render_template(
            "console/quarantine.html", rows=db.scalars(query).all(), show_resolved=show_resolved
        )
    return html


@bp.post("/quarantine/<int:row_id>/resolve")
@login_required(ADMIN)
def resolve_quarantined(row_id: int) -> ResponseReturnValue:
    """Mark a quarantined row as dealt with (it stays stored)."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        row = get_or_404(db, QuarantinedRow, row_id)
        if row.resolved_at is None:
            row.resolved_at = rt.now()
            record(
                db,
                action="quarantine_resolved",
                detail={"row_id": row.id, "reason_code": row.reason_code},
            )
    return redirect(url_for("console.quarantine"))
