"""capacity-alerts: place held invitations, warn before a group chat fills up, and when
invitations have no group.

A Messenger group chat holds at most 250 people. First every held invitation that a group now
has room for is placed and queued (the console does this at once when a group changes; this is
the safety net). Alerts: `group_nearly_full` (key: group id) for an active group at
`capacity_alert_percent` or more; `group_missing` (key: ``kind:key``) while any invitation
still waits for that kind and key, saying how many. These are the kinds allocation raises too;
alerts that no longer apply are resolved.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.alerts import resolve_alerts
from bot.models import Alert, Group, Invitation, InvitationStatus
from bot.onboarding.groups import NEARLY_FULL_ALERT, alert_if_nearly_full
from bot.onboarding.invitations import MISSING_ALERT, alert_waiting, place_held
from jobs.context import JobContext

CAPACITY = NEARLY_FULL_ALERT
MISSING = MISSING_ALERT


def run(ctx: JobContext) -> str:
    """Open and resolve capacity alerts to match the groups as they are now."""
    placed = place_held(ctx.session, settings=ctx.settings, at=ctx.now)
    groups = ctx.session.scalars(select(Group).order_by(Group.id)).all()
    full = set()
    for g in groups:
        if alert_if_nearly_full(ctx.session, g, ctx.settings, ctx.now):
            full.add(str(g.id))
    waiting = (
        ctx.session.execute(
            select(Invitation.kind, Invitation.key)
            .where(Invitation.status == InvitationStatus.HELD)
            .distinct()
        )
        .tuples()
        .all()
    )
    missing = set()
    for kind, key in sorted(waiting):
        if alert_waiting(ctx.session, ctx.settings, kind, key, ctx.now):
            missing.add(f"{kind}:{key}")
    resolved = 0
    for kind, current in ((CAPACITY, full), (MISSING, missing)):
        open_keys = ctx.session.scalars(
            select(Alert.key).where(Alert.kind == kind, Alert.resolved_at.is_(None))
        ).all()
        for key in set(open_keys) - current:
            resolved += resolve_alerts(ctx.session, kind=kind, key=key, now=ctx.now)
    return f"placed {placed}, near full {len(full)}, missing {len(missing)}, resolved {resolved}"
