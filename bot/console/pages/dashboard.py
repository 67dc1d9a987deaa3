"""The secretariat's dashboard: the queue by state and age, how long approval and invitation
take, the invitations still waiting, by group, and event attendance."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from flask.typing import ResponseReturnValue

from bot.console.blueprint import bp
from bot.console.security import login_required
from bot.stats import secretariat
from bot.web import current_runtime

RECENT_DAYS = 30


@bp.get("/dashboard")
@login_required()
def dashboard() -> ResponseReturnValue:
    """Counts for the secretariat, recomputed on each visit (aggregates only, no names)."""
    rt = current_runtime()
    now = rt.now()
    since = now - timedelta(days=RECENT_DAYS)
    with rt.db.transaction() as db:
        next_events, past_events = secretariat.event_attendance(db, now=now, past_days=RECENT_DAYS)
        html = render_template(
            "console/dashboard.html",
            states=secretariat.queue_by_state(db, now=now),
            ages=secretariat.AGE_DAYS,
            to_approval=secretariat.time_to_approval(db),
            to_approval_recent=secretariat.time_to_approval(db, since=since),
            to_invitation=secretariat.time_to_invitation(db),
            to_invitation_recent=secretariat.time_to_invitation(db, since=since),
            recent_days=RECENT_DAYS,
            waiting=secretariat.invitations_waiting(db),
            next_events=next_events,
            past_events=past_events,
            now=now,
        )
    return html
