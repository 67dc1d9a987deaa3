"""Registration codes (申込番号, e.g. OC-7K3M9Q) and unguessable link tokens."""

from __future__ import annotations

import re
import secrets
import unicodedata

PREFIX = "OC-"
CODE_LENGTH = 6
# Crockford base32: no I, L, O, U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LINK_TOKEN_BYTES = 24  # 192 bits

# Crockford's decoding of look-alike letters.
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Everything people put between the characters of a code: spaces and hyphen/dash look-alikes.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ｰー_.・]+")
_CODE_IN_TEXT = re.compile(r"(?<![A-Z0-9])[O0]C([0-9A-Z]{6})(?![0-9A-Z])")
_VALID_BODY = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")


def new_registration_code() -> str:
    """Return a fresh random registration code such as "OC-7K3M9Q"."""
    # 256 is a multiple of 32, so each byte modulo 32 is uniform over the alphabet.
    return PREFIX + "".join(ALPHABET[b % 32] for b in secrets.token_bytes(CODE_LENGTH))


def normalize_registration_code(text: str) -> str | None:
    """Find a registration code in free text and return it as "OC-XXXXXX", or None."""
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = _SEPARATORS.sub("", folded)
    for match in _CODE_IN_TEXT.finditer(compact):
        body = match.group(1).translate(_CONFUSABLES)
        if _VALID_BODY.fullmatch(body):
            return PREFIX + body
    return None


def new_link_token() -> str:
    """Return an unguessable URL-safe token (192 random bits) for m.me referral links."""
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)
