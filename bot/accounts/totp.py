"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).

The optional second factor of a console account: any authenticator app (Google Authenticator,
Microsoft Authenticator, 1Password …) reads the `otpauth://` URI or the base32 secret. A code is
accepted one step early or late (clock drift) and only once (`last_step`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "cityhall"


def new_secret() -> str:
    """A fresh 160-bit secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def step_of(at: datetime) -> int:
    """The 30-second step that `at` falls in."""
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int, digits: int = DIGITS) -> str:
    """The code of `step` (RFC 4226 HOTP with the step as counter)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def matching_step(secret: str, code: str, at: datetime, *, last_step: int = 0) -> int | None:
    """The step whose code `code` is (within the drift), if later than `last_step`; else None."""
    typed = "".join(code.split()).translate(_FULL_WIDTH_DIGITS)
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit() or not secret:
        return None
    now = step_of(at)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if step > last_step and hmac.compare_digest(code_at(secret, step), typed):
            return step
    return None


def provisioning_uri(secret: str, account: str) -> str:
    """The `otpauth://totp/…` URI an authenticator app adds the account from."""
    label = quote(f"{ISSUER}:{account}", safe="")
    return f"otpauth://totp/{label}?secret={secret}&issuer={ISSUER}&digits={DIGITS}&period=30"


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
