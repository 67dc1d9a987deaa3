"""The alerts banner on every console page: what needs a person, counted, with where to fix it.

One summary per request, in two statements (the counts in one SELECT of scalar subqueries, the
sending pauses from `system_flags`), read in its own short transaction the first time a page's
template asks and kept on `flask.g` for the rest of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, g
from sqlalchemy import ColumnElement, ScalarSelect, distinct, func, select
from sqlalchemy.orm import Session

from bot.messaging.outbox import paused_channels
from bot.models import Alert, InboundEvent, Invitation, InvitationStatus, OutboundMessage
from bot.models import QueueStatus as Q
from bot.onboarding.groups import NEARLY_FULL_ALERT
from bot.onboarding.invitations import MISSING_ALERT
from bot.web import current_runtime

# kinds of alert that say a group is missing (the cohort kind is raised by jobs/cohort_rollover)
MISSING_KINDS = (MISSING_ALERT, "cohort_missing")
_SKIP = "alerts_banner_skip"  # set on g by pages that must not query (e.g. the 500 page)


@dataclass(frozen=True)
class AlertSummary:
    """How many of each kind of open problem there are."""

    full_groups: int = 0  # open "nearly full" alerts
    missing_groups: int = 0  # open "no group with room" / "no cohort group" alerts
    other_alerts: int = 0  # every other open alert (failed jobs, link conflicts, …)
    waiting_people: int = 0  # approved members with an invitation held for want of a group
    paused_channels: tuple[str, ...] = field(default=())
    dead_messages: int = 0  # outbox rows that failed for good
    dead_events: int = 0  # inbox rows that failed or could not be read

    @property
    def any(self) -> bool:
        """Whether there is anything to show."""
        return bool(
            self.full_groups
            or self.missing_groups
            or self.other_alerts
            or self.waiting_people
            or self.paused_channels
            or self.dead_messages
            or self.dead_events
        )


def summarize(db: Session) -> AlertSummary:
    """Count the open problems (two statements)."""
    open_alert = Alert.resolved_at.is_(None)

    def count(*where: ColumnElement[bool]) -> ScalarSelect[int]:
        return select(func.count()).where(*where).scalar_subquery()

    row = db.execute(
        select(
            count(open_alert, Alert.kind == NEARLY_FULL_ALERT),
            count(open_alert, Alert.kind.in_(MISSING_KINDS)),
            count(open_alert, Alert.kind.not_in([NEARLY_FULL_ALERT, *MISSING_KINDS])),
            select(func.count(distinct(Invitation.application_id)))
            .where(Invitation.status == InvitationStatus.HELD)
            .scalar_subquery(),
            count(OutboundMessage.status == Q.DEAD),
            count(InboundEvent.status.in_([Q.DEAD, Q.INVALID])),
        )
    ).one()
    full, missing, other, waiting, dead_out, dead_in = (int(n or 0) for n in row)
    return AlertSummary(
        full_groups=full,
        missing_groups=missing,
        other_alerts=other,
        waiting_people=waiting,
        paused_channels=tuple(sorted(paused_channels(db))),
        dead_messages=dead_out,
        dead_events=dead_in,
    )


def console_alerts() -> AlertSummary | None:
    """This request's summary (None before login and on pages that skip it)."""
    if not g.get("user") or g.get(_SKIP):
        return None
    if "alerts_summary" not in g:
        with current_runtime().db.transaction() as db:
            g.alerts_summary = summarize(db)
    summary: AlertSummary = g.alerts_summary
    return summary


def skip_banner() -> None:
    """Leave the banner out of this request's page (its query could fail again)."""
    setattr(g, _SKIP, True)


def init_app(app: Flask) -> None:
    """Offer `console_alerts()` to the templates."""
    app.jinja_env.globals["console_alerts"] = console_alerts
