"""TOTP against RFC 6238's published test vectors, and the acceptance rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from bot.accounts import totp

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode().rstrip("=")


@pytest.mark.parametrize(
    ("unix_time", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_codes_match_rfc_6238_test_vectors(unix_time: int, eight_digits: str) -> None:
    step = totp.step_of(datetime.fromtimestamp(unix_time, UTC))
    assert totp.code_at(RFC_SECRET, step, digits=8) == eight_digits
    assert totp.code_at(RFC_SECRET, step) == eight_digits[-6:]


AT = datetime(2026, 12, 2, 22, 0, 10, tzinfo=UTC)


def test_the_current_and_neighbouring_steps_are_accepted_once() -> None:
    secret = totp.new_secret()
    now = totp.step_of(AT)
    for step in (now - 1, now, now + 1):
        assert totp.matching_step(secret, totp.code_at(secret, step), AT) == step
    assert totp.matching_step(secret, totp.code_at(secret, now - 2), AT) is None
    assert totp.matching_step(secret, totp.code_at(secret, now), AT, last_step=now) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "１２３４５６７", "²²²²²²"])
def test_malformed_codes_are_refused(typed: str) -> None:
    assert totp.matching_step(totp.new_secret(), typed, AT) is None


def test_spaces_and_full_width_digits_are_read() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_of(AT))
    spaced = code[:3] + " " + code[3:]
    wide = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert totp.matching_step(secret, spaced, AT) is not None
    assert totp.matching_step(secret, wide, AT) is not None


def test_the_uri_names_the_issuer_and_account() -> None:
    uri = totp.provisioning_uri("ABCDEF", "事務局 alice")
    assert uri.startswith("otpauth://totp/cityhall%3A%E4%BA%8B")
    assert "secret=ABCDEF" in uri and "issuer=cityhall" in uri
