"""Login throttling that holds across processes: one atomic statement per check-and-count.

Each key (an account name, a client network) has a row: the attempts admitted in its current
run and the time the next may be. `admit` is a single INSERT … ON CONFLICT DO UPDATE … RETURNING
(PostgreSQL and SQLite alike): when the key's time has come it counts the attempt and moves the
time on *as if the attempt failed* (a success gives the attempt back afterwards), else it
changes nothing; so two processes guessing at once can never both be admitted past the limit.

The first `free_attempts` of a run go through at once; after that the wait is `first_delay`,
doubling per attempt, at most `max_delay`. Refused attempts do not lengthen the wait, so
hammering a key does not lock its owner out for longer; a key whose wait ended `forget_after`
ago starts a new run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.config import ConsoleSettings
from bot.models import LoginThrottle, UTCDateTime


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many attempts go through at once, and how the waits grow after them."""

    free_attempts: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta

    def delay_after(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th admitted attempt of a run (1-based)."""
        if attempt < self.free_attempts:
            return timedelta(0)
        doublings = attempt - self.free_attempts
        if doublings > 40 or self.first_delay * 2**doublings >= self.max_delay:
            return self.max_delay
        return self.first_delay * 2**doublings


def policies(console: ConsoleSettings) -> tuple[ThrottlePolicy, ThrottlePolicy]:
    """The (account, network) policies of the console settings."""
    first = timedelta(seconds=console.login_delay_seconds)
    longest = max(first, timedelta(minutes=console.login_max_delay_minutes))
    forget = timedelta(minutes=console.login_ip_window_minutes)
    return (
        ThrottlePolicy(console.login_account_free_attempts, first, longest, forget),
        ThrottlePolicy(console.login_ip_max_failures, first, longest, forget),
    )


def account_key(secret: str, name: str) -> str:
    """The key of an account name, typed or real: a keyed hash, so a password typed into the
    name field is never stored readable."""
    digest = hmac.new(secret.encode(), name.strip().casefold().encode(), hashlib.sha256).hexdigest()
    return f"account:{digest[:40]}"


def network_key(network: str) -> str:
    """The key of a client network (an IPv4 address or an IPv6 /64)."""
    return f"network:{network}"[:100]


@dataclass(frozen=True)
class Admission:
    """The outcome of `admit`."""

    admitted: bool
    attempts: int
    next_allowed_at: datetime


def _at(value: datetime) -> Any:
    return bindparam(None, value, type_=UTCDateTime())


def admit(session: Session, key: str, policy: ThrottlePolicy, *, at: datetime) -> Admission:
    """Count one attempt on `key` if its time has come; say whether it may be checked."""
    c = LoginThrottle.__table__.c

    nonce = secrets.token_hex(16)
    is_open = c.next_allowed_at <= _at(at)
    attempt = case((c.next_allowed_at < _at(at - policy.forget_after), 0), else_=c.attempts) + 1
    steps = []
    n = 1
    while policy.delay_after(n) < policy.max_delay and n < 200:
        steps.append((attempt == n, _at(at + policy.delay_after(n))))
        n += 1
    next_at = (
        case(*steps, else_=_at(at + policy.max_delay)) if steps else _at(at + policy.max_delay)
    )
    values = {
        "key": key,
        "attempts": 1,
        "next_allowed_at": at + policy.delay_after(1),
        "admitted_by": nonce,
        "updated_at": at,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(LoginThrottle)
        .values(values)
        .on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "attempts": case((is_open, attempt), else_=c.attempts),
                "next_allowed_at": case((is_open, next_at), else_=c.next_allowed_at),
                "admitted_by": case((is_open, nonce), else_=c.admitted_by),
                "updated_at": _at(at),
            },
        )
        .returning(c.admitted_by, c.attempts, c.next_allowed_at)
    )
    admitted_by, attempts, next_allowed_at = session.execute(statement).one()
    return Admission(admitted_by == nonce, int(attempts), next_allowed_at)


def give_back(session: Session, key: str) -> None:
    """Return the attempt a successful login was counted for (the key's wait is kept)."""
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key, LoginThrottle.attempts > 0)
        .values(attempts=LoginThrottle.attempts - 1)
    )


def clear(session: Session, key: str) -> bool:
    """Forget a key (a successful login, an admin's unlock); whether it had a row."""
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
    return bool(getattr(result, "rowcount", 0))


def waiting_until(session: Session, key: str, *, at: datetime) -> datetime | None:
    """When the key's next attempt may be, if that is still ahead."""
    until = session.scalar(select(LoginThrottle.next_allowed_at).where(LoginThrottle.key == key))
    return until if until is not None and until > at else None


def forget_stale(session: Session, *, before: datetime) -> None:
    """Drop keys whose wait ended before `before` (they would start a new run anyway)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.next_allowed_at < before))
