"""What a console password must be: long enough, not a common one, not the account's name.

The common passwords (`data/common_passwords.txt`, one a line, lower case) are the ones every
guessing list starts with; a password is refused when it is one of them, or one of them with
digits and symbols around it ("Password2026!"), or digits and symbols only (a date, a phone
number).
"""

from __future__ import annotations

import enum
import functools
from importlib import resources

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # a hash of megabytes of text is work an attacker could ask for
MIN_DISTINCT_CHARACTERS = 5
_DECORATION = "0123456789!@#$%^&*()-_=+.,;:?/~`'\"[]{}<>|\\ "


class PasswordProblem(enum.StrEnum):
    """Why a password is refused (the console's templates say it in Japanese)."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    REPETITIVE = "repetitive"
    SAME_AS_NAME = "same_as_name"
    UNCHANGED = "unchanged"  # the new password is the current one


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    text = resources.files("bot.accounts").joinpath("data/common_passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problem(password: str, *, name: str = "") -> PasswordProblem | None:
    """Why `password` may not be used by the account `name`, or None when it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_PASSWORD_LENGTH:
        return PasswordProblem.TOO_LONG
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return PasswordProblem.REPETITIVE
    lowered = password.lower()
    core = lowered.strip(_DECORATION)
    common = common_passwords()
    if not core or core in common or lowered in common or lowered.replace(" ", "") in common:
        return PasswordProblem.COMMON
    if name and name.strip().lower() in (lowered, core):
        return PasswordProblem.SAME_AS_NAME
    return None
