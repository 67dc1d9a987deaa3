"""Groups members are invited to: made once from `[[groups]]`, then edited in the console.

A configured group is created the first time any process starts with it in its config
(`cityhall db upgrade`, the web app, the worker, the clock) and is from then on the console's:
renaming, deactivating or resizing it there is never undone by a restart. Every change that can
give a held invitation a seat (a group created, re-activated, given room) is followed by placing
the held invitations (`invitations.place_held`, called by whoever made the change).

This module is the one place for what a group is: "open with room", "nearly full", taking a
seat, creating and updating one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Table, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.alerts import raise_alert
from bot.config import GroupSettings, Settings
from bot.models import Group

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


# -- room ------------------------------------------------------------------------------------------
NEARLY_FULL_ALERT = "group_nearly_full"
EDITABLE = ("kind", "key", "name", "invite_url", "capacity", "seats_used", "active")


def open_with_room(kind: str, key: str) -> ColumnElement[bool]:
    """The groups of kind/key an invitation can go to: active, with a link, not full."""
    return and_(
        Group.kind == kind,
        Group.key == key,
        Group.active.is_(True),
        Group.invite_url != "",
        Group.seats_used < Group.capacity,
    )


def nearly_full(group: Group, percent: int) -> bool:
    """An active group with at least `percent` % of its seats used."""
    return bool(group.active and group.capacity > 0) and (
        group.seats_used * 100 >= group.capacity * percent
    )


def alert_if_nearly_full(session: Session, group: Group, settings: Settings, at: datetime) -> bool:
    """Open (or refresh) the group's "nearly full" alert when it is; return whether it is."""
    if not nearly_full(group, settings.jobs.capacity_alert_percent):
        return False
    raise_alert(
        session,
        kind=NEARLY_FULL_ALERT,
        key=str(group.id),
        now=at,
        notify=settings.mail.secretariat_address,
        message=(
            f"グループ「{group.name}」が定員に近づいています（{group.seats_used}/{group.capacity}人）。"
            "次のグループ（招待リンク）を用意して、コンソールで登録してください。"
        ),
    )
    return True


def take_seat(session: Session, kind: str, key: str) -> Group | None:
    """Count a seat in the first open group of kind/key with room (atomic per group)."""
    candidates = session.scalars(
        select(Group).where(open_with_room(kind, key)).order_by(Group.id)
    ).all()
    for group in candidates:
        taken = session.execute(
            update(Group)
            .where(Group.id == group.id, Group.seats_used < Group.capacity)
            .values(seats_used=Group.seats_used + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            session.refresh(group)
            return group
    return None


def give_back_seat(session: Session, group_id: int) -> None:
    """Free a seat counted by `take_seat` (an invitation withdrawn before it was sent)."""
    session.execute(
        update(Group)
        .where(Group.id == group_id, Group.seats_used > 0)
        .values(seats_used=Group.seats_used - 1)
        .execution_options(synchronize_session=False)
    )


# -- the console's changes -------------------------------------------------------------------------
def name_taken(
    session: Session, kind: str, key: str, name: str, *, other_than: int | None = None
) -> bool:
    """Whether another group already has this kind, key and name (they are unique together)."""
    query = select(Group.id).where(Group.kind == kind, Group.key == key, Group.name == name)
    if other_than is not None:
        query = query.where(Group.id != other_than)
    return session.scalars(query.limit(1)).first() is not None


def create_group(session: Session, values: Mapping[str, Any], at: datetime) -> Group:
    """Add a group from the console's form (`EDITABLE` fields)."""
    group = Group(**{k: values[k] for k in EDITABLE}, created_at=at)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, group: Group, values: Mapping[str, Any]) -> dict[str, Any]:
    """Change a group's `EDITABLE` fields; return what they were before."""
    before = {k: getattr(group, k) for k in EDITABLE}
    for k in EDITABLE:
        setattr(group, k, values[k])
    session.flush()
    return before
