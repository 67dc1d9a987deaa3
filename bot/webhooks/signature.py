"""HMAC-SHA256 request signatures (`sha256=<hex>`) for the Messenger and forms webhooks."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def sign(raw_body: bytes, secret: str) -> str:
    """Return the signature header value for `raw_body` under `secret`."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify_signature(raw_body: bytes, header_value: str | None, secret: str) -> bool:
    """Return True only if `header_value` is a well-formed, matching `sha256=<hex>` signature."""
    if not isinstance(header_value, str) or not isinstance(raw_body, bytes | bytearray):
        return False
    if not isinstance(secret, str) or not secret:
        return False
    scheme, sep, received = header_value.strip().partition("=")
    if not sep or scheme.lower() != "sha256":
        return False
    if len(received) != hashlib.sha256().digest_size * 2 or not set(received) <= _HEX_DIGITS:
        return False
    expected = sign(bytes(raw_body), secret)[len(PREFIX) :]
    return hmac.compare_digest(expected, received.lower())
