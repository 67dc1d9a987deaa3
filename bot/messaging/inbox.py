"""The inbox: inbound webhook events stored first (deduplicated), processed by the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import InboundEvent, utcnow


def store_event(
    session: Session,
    *,
    source: str,
    event_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime | None = None,
    status: str = "pending",
    error: str = "",
) -> bool:
    """Store an event once; return False when that key was already stored (a redelivery)."""
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(
        insert(InboundEvent)
        .values(
            source=source,
            event_key=event_key,
            kind=kind,
            payload=payload,
            received_at=now,
            status=status,
            attempts=0,
            next_attempt_at=now,
            leased_by="",
            last_error=error,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_key"])
        .returning(InboundEvent.id)
    )
    return result.first() is not None


EventHandler = Callable[[Session, InboundEvent, Any], None]


@dataclass
class InboxHandlers:
    """Which function processes which (source, kind); unknown kinds are marked ignored."""

    handlers: dict[tuple[str, str], EventHandler] = field(default_factory=dict)

    def register(self, source: str, kind: str, handler: EventHandler) -> None:
        """Route events of `source`/`kind` to `handler`."""
        self.handlers[(source, kind)] = handler

    def lookup(self, source: str, kind: str) -> EventHandler | None:
        """The handler for an event, or None when it is to be ignored."""
        return self.handlers.get((source, kind))
