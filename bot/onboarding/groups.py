"""Groups members are invited to: made from `[[groups]]`, then edited in the console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import GroupSettings
from bot.models import Group


def ensure_configured_groups(
    session: Session, groups: tuple[GroupSettings, ...], at: datetime
) -> int:
    """Create the configured groups that do not exist yet; return how many were created."""
    created = 0
    for g in groups:
        exists = session.scalars(
            select(Group.id).where(Group.kind == g.kind, Group.key == g.key, Group.name == g.name)
        ).first()
        if exists is None:
            session.add(
                Group(
                    kind=g.kind,
                    key=g.key,
                    name=g.name,
                    invite_url=g.invite_url,
                    capacity=g.capacity,
                    created_at=at,
                )
            )
            created += 1
    return created
