"""Secretariat accounts: creation, password checks behind the login throttle, password changes.

Every failed login looks the same from outside (one answer, one scrypt hash): an unknown name,
a deactivated account, a wrong password and a throttled attempt. The audit log names the
account only when it is a real one: a name that is not one is often a password typed into the
wrong field, and is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.accounts import login_throttle, totp
from bot.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordProblem,
    password_problem,
)
from bot.accounts.sessions import end_sessions_of
from bot.config import ConsoleSettings
from bot.models import SecretariatUser
from bot.onboarding.lifecycle import DomainError, audit

ROLES = ("admin", "reviewer")
UNKNOWN_ACTOR = "-"  # the audit actor of a login attempt on a name that is no account
# Checked against when the password is not checked for real, so every path costs one scrypt hash.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")

# what the CLI and logs say about a refused password (the console says it in Japanese)
_EXPLAINED = {
    PasswordProblem.TOO_SHORT: f"it must be at least {MIN_PASSWORD_LENGTH} characters",
    PasswordProblem.TOO_LONG: f"it must be at most {MAX_PASSWORD_LENGTH} characters",
    PasswordProblem.COMMON: "it is a common password (or one with digits around it)",
    PasswordProblem.REPETITIVE: "it repeats too few characters",
    PasswordProblem.SAME_AS_NAME: "it is the user name",
    PasswordProblem.UNCHANGED: "it is the current password",
}


class WeakPassword(DomainError):
    """A password the policy refuses; `problem` says why."""

    def __init__(self, problem: PasswordProblem) -> None:
        super().__init__(f"password refused: {_EXPLAINED[problem]}")
        self.problem = problem


def hash_password(password: str) -> str:
    """Hash with scrypt (a memory-hard KDF)."""
    return generate_password_hash(password, method="scrypt")


def _check_new_password(password: str, name: str) -> None:
    problem = password_problem(password, name=name)
    if problem is not None:
        raise WeakPassword(problem)


def find_user(session: Session, name: str) -> SecretariatUser | None:
    """The account named `name` (surrounding spaces ignored), if any."""
    return session.scalars(
        select(SecretariatUser).where(SecretariatUser.name == name.strip()[:100])
    ).first()


def add_user(
    session: Session, name: str, role: str, password: str, *, actor: str, at: datetime
) -> SecretariatUser:
    """Create a secretariat account (refuses a taken name, unknown role, weak password)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError("user name must be 1 to 100 characters")
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    _check_new_password(password, name)
    if find_user(session, name) is not None:
        raise DomainError(f"user {name!r} already exists")
    user = SecretariatUser(
        name=name,
        role=role,
        password_hash=hash_password(password),
        created_at=at,
        password_changed_at=at,
    )
    session.add(user)
    session.add(
        audit(None, actor=actor, at=at, action="user_added", detail={"user": name, "role": role})
    )
    return user


class LastAdmin(DomainError):
    """The change would leave no active admin."""


def change_role(
    session: Session, user: SecretariatUser, role: str, *, actor: str, at: datetime
) -> bool:
    """Make an account an admin or a reviewer; False when it already has that role.

    Refuses to demote the last active admin (nobody could then manage the accounts). Takes
    effect at the account's next request: sessions re-read the role each time.
    """
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if user.role == role:
        return False
    if user.role == "admin" and user.active:
        others = session.scalar(
            select(func.count()).where(
                SecretariatUser.role == "admin",
                SecretariatUser.active.is_(True),
                SecretariatUser.id != user.id,
            )
        )
        if not others:
            raise LastAdmin(f"{user.name!r} is the last active admin")
    before, user.role = user.role, role
    session.add(
        audit(
            None,
            actor=actor,
            at=at,
            action="role_changed",
            detail={"user": user.name, "before": before, "after": role},
        )
    )
    return True


@dataclass(frozen=True)
class LoginKeys:
    """The throttle keys of one login attempt: the typed account name and the client network."""

    account: str
    network: str

    @classmethod
    def of(cls, secret: str, name: str, network: str) -> LoginKeys:
        """The keys of `name` typed from `network` (an IPv4 address or IPv6 /64)."""
        return cls(login_throttle.account_key(secret, name), login_throttle.network_key(network))


def admit_login(
    session: Session, keys: LoginKeys, console: ConsoleSettings, *, at: datetime
) -> bool:
    """Count a login attempt against its network, then its account; whether it may be checked.

    Run in its own transaction, committed before the password is checked, so that another
    process sees the attempt counted.
    """
    account_policy, network_policy = login_throttle.policies(console)
    if not login_throttle.admit(session, keys.network, network_policy, at=at).admitted:
        return False
    return login_throttle.admit(session, keys.account, account_policy, at=at).admitted


def settle_login(session: Session, keys: LoginKeys) -> None:
    """After a right password: the account's count starts again, the network's attempt is
    given back."""
    login_throttle.clear(session, keys.account)
    login_throttle.give_back(session, keys.network)


def second_factor_name(name: str) -> str:
    """The throttle name of an account's TOTP codes: counted apart from its passwords."""
    return f"totp:{name}"


def account_throttle_keys(secret: str, name: str) -> tuple[str, str]:
    """The account's two throttle keys: its passwords and its TOTP codes."""
    return (
        login_throttle.account_key(secret, name),
        login_throttle.account_key(secret, second_factor_name(name)),
    )


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt: the account when the password was right."""

    user: SecretariatUser | None


def authenticate(
    session: Session,
    name: str,
    password: str,
    *,
    keys: LoginKeys,
    admitted: bool,
    at: datetime,
) -> LoginResult:
    """Check a password (only when the throttle `admitted` the attempt); audit the outcome."""
    user = find_user(session, name)
    actor = user.name if user is not None else UNKNOWN_ACTOR
    if not admitted:
        check_password_hash(_DUMMY_HASH, password)
        session.add(audit(None, actor=actor, at=at, action="login_throttled"))
        return LoginResult(None)
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        session.add(audit(None, actor=actor, at=at, action="login_failed"))
        return LoginResult(None)
    if not check_password(user, password):
        session.add(audit(None, actor=actor, at=at, action="login_failed"))
        return LoginResult(None)
    settle_login(session, keys)
    if user.totp_secret:  # the session starts once the second factor is given
        session.add(audit(None, actor=user.name, at=at, action="login_password_ok"))
        return LoginResult(user)
    user.last_login_at = at
    session.add(audit(None, actor=user.name, at=at, action="login"))
    return LoginResult(user)


def check_password(user: SecretariatUser, password: str) -> bool:
    """Whether `password` is the account's."""
    return check_password_hash(user.password_hash, password)


def change_password(
    session: Session, user: SecretariatUser, new_password: str, *, at: datetime
) -> None:
    """Set the account's own new password; all its sessions end (the caller starts a new one)."""
    _check_new_password(new_password, user.name)
    if check_password_hash(user.password_hash, new_password):
        raise WeakPassword(PasswordProblem.UNCHANGED)
    ended = _set_password(session, user, new_password, must_change=False, at=at)
    session.add(
        audit(
            None,
            actor=user.name,
            at=at,
            action="password_changed",
            detail={"sessions_ended": ended},
        )
    )


def _set_password(
    session: Session, user: SecretariatUser, password: str, *, must_change: bool, at: datetime
) -> int:
    """Store a new password hash and end every session of the account; return how many ended."""
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    user.password_changed_at = at
    return end_sessions_of(session, user.id, at=at)


def reset_password(
    session: Session, user: SecretariatUser, temporary: str, *, actor: str, at: datetime
) -> None:
    """An admin sets a temporary password: the account must choose its own at the next login,
    and its sessions end now."""
    _check_new_password(temporary, user.name)
    ended = _set_password(session, user, temporary, must_change=True, at=at)
    had_totp = bool(user.totp_secret)
    user.totp_secret, user.totp_last_step = "", 0  # a lost phone is why resets are asked for
    session.add(
        audit(
            None,
            actor=actor,
            at=at,
            action="password_reset",
            detail={"user": user.name, "sessions_ended": ended, "totp_removed": had_totp},
        )
    )


# -- the optional second factor (TOTP) -------------------------------------------------------------
def check_second_factor(user: SecretariatUser, code: str, *, at: datetime) -> bool:
    """Whether `code` is the account's current TOTP code, not used before; records its use."""
    step = totp.matching_step(user.totp_secret, code, at, last_step=user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def second_factor_login(
    session: Session,
    user: SecretariatUser | None,
    code: str,
    *,
    keys: LoginKeys,
    admitted: bool,
    at: datetime,
) -> bool:
    """The second step of a login with TOTP (only when the throttle `admitted` it); audited."""
    actor = user.name if user is not None else UNKNOWN_ACTOR
    if (
        not admitted
        or user is None
        or not user.active
        or not check_second_factor(user, code, at=at)
    ):
        action = "login_code_throttled" if not admitted else "login_code_failed"
        session.add(audit(None, actor=actor, at=at, action=action))
        return False
    settle_login(session, keys)
    user.last_login_at = at
    session.add(audit(None, actor=user.name, at=at, action="login"))
    return True


def enable_second_factor(
    session: Session,
    user: SecretariatUser,
    secret: str,
    code: str,
    password: str,
    *,
    admitted: bool,
    at: datetime,
) -> bool:
    """Turn TOTP on with `secret` once the password and a `code` from the app prove it; audited.

    `admitted` is the throttle's word on this attempt (the account's TOTP key).
    """
    step = totp.matching_step(secret, code, at) if admitted else None
    if step is None or not check_password(user, password):
        session.add(audit(None, actor=user.name, at=at, action="totp_enable_failed"))
        return False
    user.totp_secret, user.totp_last_step = secret, step
    session.add(audit(None, actor=user.name, at=at, action="totp_enabled"))
    return True


def disable_second_factor(
    session: Session,
    user: SecretariatUser,
    code: str,
    password: str,
    *,
    admitted: bool,
    at: datetime,
) -> bool:
    """Turn TOTP off, proven by the password and a current code; audited."""
    if (
        not admitted
        or not check_password(user, password)
        or not check_second_factor(user, code, at=at)
    ):
        session.add(audit(None, actor=user.name, at=at, action="totp_disable_failed"))
        return False
    user.totp_secret, user.totp_last_step = "", 0
    session.add(audit(None, actor=user.name, at=at, action="totp_disabled"))
    return True
