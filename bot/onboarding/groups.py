"""Groups members are invited to: made once from `[[groups]]`, then edited in the console.

A configured group is created the first time any process starts with it in its config
(`cityhall db upgrade`, the web app, the worker, the clock) and is from then on the console's:
renaming, deactivating or resizing it there is never undone by a restart. Every change that can
give a held invitation a seat (a group created, re-activated, given room) places the held
invitations at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Executable, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.config import GroupSettings, Settings
from bot.models import Group
from bot.onboarding.invitations import place_held

log = logging.getLogger(__name__)


def config_key(group: GroupSettings) -> str:
    """The identity of a `[[groups]]` entry, kept with the group it created."""
    return f"{group.kind}|{group.key}|{group.name}"


def apply_configured_groups(
    session: Session, groups: tuple[GroupSettings, ...], at: datetime
) -> int:
    """Create the configured groups that were never created; return how many were created.

    One INSERT … ON CONFLICT DO NOTHING per group: two processes starting at once create each
    group once (the loser's insert waits for the winner's commit, then does nothing), and a
    group whose entry was applied before is left alone whatever the console did with it since.
    """
    table: Table = Group.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    created = 0
    for g in groups:
        values = {
            "kind": g.kind,
            "key": g.key,
            "name": g.name,
            "invite_url": g.invite_url,
            "capacity": g.capacity,
            "seats_used": 0,
            "active": True,
            "created_at": at,
            "config_key": config_key(g),
        }
        statement: Executable
        if dialect == "postgresql":
            statement = postgresql.insert(table).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(table).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only the two engines are supported
            statement = insert(table).values(values)
        # RETURNING says whether this insert made the row (rowcount is not reliable here).
        if session.execute(statement.returning(table.c.id)).first() is not None:
            created += 1
            log.info("configured group created: %s %s", g.kind, g.key)
    return created


def start_up(session: Session, settings: Settings, at: datetime) -> tuple[int, int]:
    """Apply `[[groups]]` and place what was held; return (groups created, invitations placed)."""
    created = apply_configured_groups(session, settings.groups, at)
    placed = place_held(session, settings=settings, at=at)
    return created, placed
