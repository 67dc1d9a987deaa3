"""Named leases in the database: one clock leads, and each scheduled run is claimed once.

Acquiring is two atomic statements in one transaction, safe on PostgreSQL and SQLite alike:

1. ``INSERT … ON CONFLICT (name) DO NOTHING`` takes a lease nobody holds yet. Two inserts racing
   on PostgreSQL: the second waits for the first to commit, then does nothing.
2. ``UPDATE … WHERE name = :name AND (holder = :me OR expires_at < :now)`` renews our own lease or
   takes over an expired one. Two updates racing on PostgreSQL: the second waits, re-reads the
   row the first committed, finds it held and unexpired, and updates nothing. On SQLite the
   first write takes the database's single write lock, so the statements never interleave.

Each statement says with RETURNING whether it wrote the row: that is whether we hold the lease.
(RETURNING rather than the row count, which ORM-enabled statements do not always report.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import Lease

RUN_PREFIX = "run:"


def _insert_if_absent(session: Session, name: str, holder: str, expires_at: datetime) -> bool:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Lease)
        .values(name=name, holder=holder, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    )
    return session.execute(stmt).first() is not None


def acquire(session: Session, name: str, holder: str, *, now: datetime, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; whether `holder` now holds it."""
    expires_at = now + timedelta(seconds=seconds)
    if _insert_if_absent(session, name, holder, expires_at):
        return True
    updated = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires_at)
        .returning(Lease.name)
        .execution_options(synchronize_session=False)
    )
    return updated.first() is not None


def expires_at(session: Session, name: str) -> datetime | None:
    """When the lease `name` runs out (whoever holds it); None if nobody does."""
    return session.scalar(select(Lease.expires_at).where(Lease.name == name))


def release(session: Session, name: str, holder: str) -> bool:
    """Give the lease up (if we hold it) so another process can take it at once."""
    deleted = session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .returning(Lease.name)
        .execution_options(synchronize_session=False)
    )
    return deleted.first() is not None


def claim_run(
    session: Session,
    job: str,
    scheduled_for: datetime,
    holder: str,
    *,
    keep: timedelta = timedelta(days=2),
) -> bool:
    """Claim one scheduled run of `job`; False if another clock already claimed it."""
    name = f"{RUN_PREFIX}{job}:{scheduled_for.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"
    return _insert_if_absent(session, name, holder, scheduled_for + keep)


def forget_old_claims(session: Session, now: datetime) -> int:
    """Delete run claims past their keeping time."""
    deleted = session.execute(
        delete(Lease)
        .where(Lease.name.like(f"{RUN_PREFIX}%"), Lease.expires_at < now)
        .returning(Lease.name)
        .execution_options(synchronize_session=False)
    )
    return len(deleted.all())
