"""The inbox: inbound webhook events stored first (deduplicated), processed by the worker."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import InboundEvent, QueueStatus, utcnow


def inbound_row(
    *,
    source: str,
    event_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    error: str = "",
) -> dict[str, Any]:
    """One inbox row: a pending event, or (with an error) an invalid one kept with its reason."""
    return {
        "source": source,
        "event_key": event_key,
        "kind": kind,
        "payload": payload,
        "received_at": now,
        "status": QueueStatus.INVALID if error else QueueStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "leased_by": "",
        "last_error": error,
    }


@functools.cache
def _insert_new_events(dialect: str) -> Any:
    # Built once per dialect: compiling an INSERT per event was most of a webhook's time.
    table = cast(Table, InboundEvent.__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["source", "event_key"])
        .returning(table.c.id)
    )


def store_events(session: Session, rows: list[dict[str, Any]]) -> int:
    """Store a batch in one statement; keys already stored (redeliveries) are skipped.

    Returns how many rows were new.
    """
    unique = list({(r["source"], r["event_key"]): r for r in reversed(rows)}.values())[::-1]
    if not unique:
        return 0
    statement = _insert_new_events(session.get_bind().dialect.name)
    return len(session.execute(statement, unique).all())


def store_event(
    session: Session,
    *,
    source: str,
    event_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime | None = None,
    error: str = "",
) -> bool:
    """Store one event once; return False when that key was already stored (a redelivery)."""
    row = inbound_row(
        source=source,
        event_key=event_key,
        kind=kind,
        payload=payload,
        now=now or utcnow(),
        error=error,
    )
    return store_events(session, [row]) == 1
