"""capacity-alerts: warn before a group chat fills up, and when invitations have no group.

A Messenger group chat holds at most 250 people. Alerts: `group_nearly_full` (key: group id)
for an active group at `capacity_alert_percent` or more; `group_missing` (key: ``kind:key``)
when held invitations need a kind and key that no active group with room and an invite URL
serves. These are the kinds allocation raises too; alerts that no longer apply are resolved.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.alerts import raise_alert, resolve_alerts
from bot.models import Alert, Group, Invitation
from jobs.context import JobContext

CAPACITY = "group_nearly_full"  # the kind invitations.py raises on allocation
MISSING = "group_missing"


def run(ctx: JobContext) -> str:
    """Open and resolve capacity alerts to match the groups as they are now."""
    percent = ctx.settings.jobs.capacity_alert_percent
    notify = ctx.settings.mail.secretariat_address
    groups = ctx.session.scalars(select(Group).order_by(Group.id)).all()
    full = set()
    for g in groups:
        if g.active and g.capacity > 0 and g.seats_used * 100 >= g.capacity * percent:
            full.add(str(g.id))
            raise_alert(
                ctx.session,
                kind=CAPACITY,
                key=str(g.id),
                now=ctx.now,
                notify=notify,
                message=(
                    f"グループ「{g.name}」が定員に近づいています"
                    f"（{g.seats_used}/{g.capacity}人）。"
                    "新しいグループを作成してコンソールで登録してください"
                ),
            )
    needed = set(
        ctx.session.execute(
            select(Invitation.kind, Invitation.key).where(Invitation.status == "held").distinct()
        )
        .tuples()
        .all()
    )
    missing = set()
    for kind, key in sorted(needed):
        open_group = any(
            g.active
            and g.kind == kind
            and g.key == key
            and g.invite_url
            and g.seats_used < g.capacity
            for g in groups
        )
        if not open_group:
            missing.add(f"{kind}:{key}")
            raise_alert(
                ctx.session,
                kind=MISSING,
                key=f"{kind}:{key}",
                now=ctx.now,
                notify=notify,
                message=(
                    f"招待先のグループがありません（{kind}: {key}）。"
                    "招待が保留されています。グループを登録してください"
                ),
            )
    resolved = 0
    for kind, current in ((CAPACITY, full), (MISSING, missing)):
        open_keys = ctx.session.scalars(
            select(Alert.key).where(Alert.kind == kind, Alert.resolved_at.is_(None))
        ).all()
        for key in set(open_keys) - current:
            resolved += resolve_alerts(ctx.session, kind=kind, key=key, now=ctx.now)
    return f"near full {len(full)}, missing {len(missing)}, resolved {resolved}"
