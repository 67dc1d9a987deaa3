"""Claim rows of a queue table with a lease, safely across processes.

One UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING id: on PostgreSQL
concurrent workers skip each other's locked rows; on SQLite the statement takes the single write
lock, so two workers can never claim the same row. A row whose lease expired (its worker died) is
claimable again.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from bot.models import InboundEvent, OutboundMessage, QueueStatus

QueueModel = type[InboundEvent] | type[OutboundMessage]


def claimable(model: Any, now: datetime) -> ColumnElement[bool]:
    """Rows due now, or leased by a worker whose lease ran out."""
    return or_(
        and_(model.status == QueueStatus.PENDING, model.next_attempt_at <= now),
        and_(model.status == QueueStatus.LEASED, model.lease_until < now),
    )


def claim(
    session: Session,
    model: Any,
    *,
    now: datetime,
    worker_id: str,
    limit: int,
    lease_seconds: int,
    where: ColumnElement[bool] | None = None,
) -> list[int]:
    """Lease up to `limit` due rows to `worker_id`; return their ids, oldest first."""
    condition = claimable(model, now)
    if where is not None:
        condition = and_(condition, where)
    candidates = (
        select(model.id)
        .where(condition)
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        update(model)
        .where(model.id.in_(candidates))
        .values(
            status=QueueStatus.LEASED,
            leased_by=worker_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=model.attempts + 1,
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d], d = min(cap, base·2^(n-1))."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
