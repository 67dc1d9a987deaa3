"""cohort-rollover: make sure each month's cohort group (入庁同期) exists before it is needed.

From `cohort_lead_days` before a month starts, next month's cohort group must exist, be active and
have an invite URL; this month's must too. A missing one opens a `cohort_missing` alert for the
secretariat; the alert is resolved once the group is there.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.alerts import raise_alert, resolve_alerts
from bot.models import Alert, Group
from jobs.context import JobContext

ALERT = "cohort_missing"


def month_key(day: date) -> str:
    """The cohort key of the month holding `day`, e.g. ``2026-11``."""
    return f"{day.year:04d}-{day.month:02d}"


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def run(ctx: JobContext) -> str:
    """Alert for the cohort groups that are missing; resolve the alerts of those now present."""
    today = ctx.local_now.date()
    upcoming = next_month(today)
    needed = [month_key(today)]
    if (upcoming - today).days <= ctx.settings.jobs.cohort_lead_days:
        needed.append(month_key(upcoming))
    missing = []
    for key in needed:
        ready = ctx.session.scalars(
            select(Group.id).where(
                Group.kind == "cohort",
                Group.key == key,
                Group.active.is_(True),
                Group.invite_url != "",
            )
        ).first()
        if ready is None:
            missing.append(key)
            year, month = key.split("-")
            raise_alert(
                ctx.session,
                kind=ALERT,
                key=key,
                now=ctx.now,
                notify=ctx.settings.mail.secretariat_address,
                message=(
                    f"{int(year)}年{int(month)}月の入庁同期グループがまだありません"
                    "（有効で招待リンクのあるグループをコンソールで登録してください）"
                ),
            )
    open_keys = ctx.session.scalars(
        select(Alert.key).where(Alert.kind == ALERT, Alert.resolved_at.is_(None))
    ).all()
    for key in set(open_keys) - set(missing):  # the group is there now, or the month is past
        resolve_alerts(ctx.session, kind=ALERT, key=key, now=ctx.now)
    return f"checked {', '.join(needed)}; missing {', '.join(missing) or 'none'}"
