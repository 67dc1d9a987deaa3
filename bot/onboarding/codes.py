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
# What may surround a code typed alone in a chat message ("申込番号：7K3M9Q です。").
_CHAT_LABELS = re.compile(r"^(?:申込番号|申し込み番号|申込み番号)(?:は|:)?|(?:です)?[。!！]*$")


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


def typed_registration_code(text: str) -> str | None:
    """Read a code typed in a chat message and return it as "OC-XXXXXX", or None.

    Either the message holds a prefixed code anywhere ("OC-7K3M9Q の件です"), or the whole
    message is the code without its prefix ("7k3 m9q", "申込番号：７Ｋ３Ｍ９Ｑ"). Full width, case,
    spaces, dashes and Crockford's look-alikes (O/0, I/L/1) are tolerated as in
    `normalize_registration_code`. Without the prefix, six letters that are not all capitals
    and no digit ("thanks", "Thanks") are a word, not a code.
    """
    found = normalize_registration_code(text)
    if found is not None:
        return found
    typed = _CHAT_LABELS.sub("", _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)))
    body = typed.upper().translate(_CONFUSABLES)
    if not _VALID_BODY.fullmatch(body):
        return None
    if not typed.isupper() and not any(ch.isdigit() for ch in typed):
        return None
    return PREFIX + body


def new_link_token() -> str:
    """Return an unguessable URL-safe token (192 random bits) for m.me referral links."""
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)
