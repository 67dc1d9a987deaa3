"""The console's password policy: long enough, not common, not the account's name."""

from __future__ import annotations

import pytest

from bot.accounts.passwords import (
    MIN_PASSWORD_LENGTH,
    PasswordProblem,
    common_passwords,
    password_problem,
)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short pass", PasswordProblem.TOO_SHORT),
        ("x" * 257 + "abcde", PasswordProblem.TOO_LONG),
        ("aaaaaaaaaaaa", PasswordProblem.REPETITIVE),
        ("abababababab", PasswordProblem.REPETITIVE),
        ("password1234", PasswordProblem.COMMON),
        ("Password2026!", PasswordProblem.COMMON),
        ("qwertyuiop12", PasswordProblem.COMMON),
        ("123456789012", PasswordProblem.COMMON),
        ("2026-12-02 09:00", PasswordProblem.COMMON),  # digits and symbols only
        ("!!sakura123456", PasswordProblem.COMMON),
        ("iloveyou1234", PasswordProblem.COMMON),
        ("yamada.taro1", PasswordProblem.SAME_AS_NAME),
    ],
)
def test_weak_passwords_are_refused_with_their_reason(
    password: str, problem: PasswordProblem
) -> None:
    assert password_problem(password, name="yamada.taro1") == problem


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "富山の海はとても深くて青い", "kX9#mQ2$vL7!", "demo-password"],
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, name="rev") is None


def test_the_shipped_list_holds_thousands_of_lower_case_passwords() -> None:
    common = common_passwords()
    assert len(common) > 3000
    assert {"password", "123456", "qwerty", "iloveyou", "sakura"} <= common
    assert all(p == p.lower() and p.strip() == p for p in common)


def test_minimum_length_is_twelve() -> None:
    assert MIN_PASSWORD_LENGTH == 12
    assert password_problem("kX9#mQ2$vL7", name="") == PasswordProblem.TOO_SHORT
