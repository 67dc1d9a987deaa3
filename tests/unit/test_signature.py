"""Webhook signatures: `sha256=<hex>` HMAC of the raw body."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.webhooks.signature import sign, verify_signature

SECRET = "app-secret"
BODY = b'{"object":"page","entry":[]}'


def test_sign_returns_sha256_prefixed_hex_hmac_of_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_matching_signature_is_accepted() -> None:
    assert verify_signature(BODY, sign(BODY, SECRET), SECRET)


def test_uppercase_hex_and_surrounding_whitespace_are_accepted() -> None:
    header = sign(BODY, SECRET)
    assert verify_signature(BODY, "  sha256=" + header[7:].upper() + " ", SECRET)


def test_body_changed_by_one_byte_is_rejected() -> None:
    assert not verify_signature(BODY + b" ", sign(BODY, SECRET), SECRET)


def test_signature_of_reserialised_json_is_not_the_raw_body_signature() -> None:
    reserialised = b'{"object": "page", "entry": []}'
    assert not verify_signature(BODY, sign(reserialised, SECRET), SECRET)


def test_wrong_secret_is_rejected() -> None:
    assert not verify_signature(BODY, sign(BODY, "other"), SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "sha256=" + "g" * 64,
        "sha256=" + "é" * 64,
        "md5=" + "0" * 64,
        "sha256 " + "0" * 64,
    ],
)
def test_malformed_header_is_rejected(header: str | None) -> None:
    assert not verify_signature(BODY, header, SECRET)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(BODY, sign(BODY, ""), "")


def test_non_bytes_body_is_rejected_without_raising() -> None:
    assert not verify_signature("text", sign(b"text", SECRET), SECRET)  # type: ignore[arg-type]


@given(st.binary(), st.text())
def test_verify_never_raises_and_accepts_only_its_own_signature(body: bytes, header: str) -> None:
    assert verify_signature(body, sign(body, SECRET), SECRET)
    result = verify_signature(body, header, SECRET)
    assert result is (header.strip().lower() == sign(body, SECRET))
