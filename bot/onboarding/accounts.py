"""Secretariat accounts: creation and password checks with lock-out after repeated failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.models import SecretariatUser
from bot.onboarding.lifecycle import DomainError, audit

ROLES = ("admin", "reviewer")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
# Checked against when the name is unknown, so both paths cost one scrypt hash.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


def hash_password(password: str) -> str:
    """Hash with scrypt (a memory-hard KDF)."""
    return generate_password_hash(password, method="scrypt")


def add_user(
    session: Session, name: str, role: str, password: str, *, actor: str, at: datetime
) -> SecretariatUser:
    """Create a secretariat account (refuses a taken name, unknown role, short password)."""
    name = name.strip()
    if not name:
        raise DomainError("user name must not be empty")
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalars(select(SecretariatUser).where(SecretariatUser.name == name)).first():
        raise DomainError(f"user {name!r} already exists")
    user = SecretariatUser(
        name=name, role=role, password_hash=hash_password(password), created_at=at
    )
    session.add(user)
    session.add(
        audit(None, actor=actor, at=at, action="user_added", detail={"user": name, "role": role})
    )
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt."""

    user: SecretariatUser | None
    locked_until: datetime | None = None


def authenticate(session: Session, name: str, password: str, *, at: datetime) -> LoginResult:
    """Check a password; after MAX_FAILURES failures the account is locked for LOCKOUT."""
    user = session.scalars(
        select(SecretariatUser).where(SecretariatUser.name == name.strip())
    ).first()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        session.add(audit(None, actor=name[:100] or "-", at=at, action="login_failed"))
        return LoginResult(None)
    if user.locked_until is not None and user.locked_until > at:
        session.add(audit(None, actor=user.name, at=at, action="login_locked"))
        return LoginResult(None, user.locked_until)
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = at + LOCKOUT
            user.failed_logins = 0
        session.add(audit(None, actor=user.name, at=at, action="login_failed"))
        return LoginResult(
            None, user.locked_until if user.locked_until and user.locked_until > at else None
        )
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, at
    session.add(audit(None, actor=user.name, at=at, action="login"))
    return LoginResult(user)
