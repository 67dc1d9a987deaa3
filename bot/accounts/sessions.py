"""Server-side console sessions: the cookie holds a random token, the database its hash.

A session is valid while its row is not ended, its account is active, it was used within the
idle timeout and began within the absolute lifetime. Logout ends one session; a password change,
an admin's reset and deactivation end all of an account's sessions, so a copied cookie stops
working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.models import ConsoleSession, SecretariatUser

# last_seen_at is written at most this often (a page view is not worth a write per request)
TOUCH_INTERVAL = timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionLimits:
    """How long a session may sit idle, and how long it may last at all."""

    idle: timedelta
    lifetime: timedelta


def start_session(session: Session, user: SecretariatUser, *, at: datetime) -> str:
    """Open a session for `user`; return the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(id=_digest(token), user_id=user.id, created_at=at, last_seen_at=at))
    return token


@dataclass(frozen=True)
class Resumed:
    """A session that may go on, with its account."""

    user: SecretariatUser
    row: ConsoleSession


def resume_session(
    session: Session, token: str, limits: SessionLimits, *, at: datetime
) -> Resumed | None:
    """The session of `token` and its account, if still valid (its last use is recorded);
    an expired session is ended on the way."""
    if not token:
        return None
    row = session.get(ConsoleSession, _digest(token))
    if row is None or row.ended_at is not None:
        return None
    user = session.get(SecretariatUser, row.user_id)
    if user is None or not user.active:
        row.ended_at = at
        return None
    if at - row.last_seen_at > limits.idle or at - row.created_at > limits.lifetime:
        row.ended_at = at
        return None
    if at - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = at
    return Resumed(user, row)


def end_session(session: Session, token: str, *, at: datetime) -> None:
    """End the session of `token` (logout)."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == _digest(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=at)
    )


def end_sessions_of(session: Session, user_id: int, *, at: datetime) -> int:
    """End every open session of an account; how many there were."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def prune_sessions(session: Session, user_id: int, *, before: datetime) -> None:
    """Delete an account's sessions that ended, or began, before `before`."""
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id,
            or_(ConsoleSession.ended_at < before, ConsoleSession.created_at < before),
        )
    )


def open_sessions(session: Session, user_id: int) -> list[ConsoleSession]:
    """An account's sessions that have not been ended."""
    return list(
        session.scalars(
            select(ConsoleSession).where(
                ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None)
            )
        )
    )
