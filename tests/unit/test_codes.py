"""Registration codes (申込番号) and link tokens."""

from __future__ import annotations

import re

import pytest

from bot.onboarding.codes import (
    ALPHABET,
    new_link_token,
    new_registration_code,
    normalize_registration_code,
    typed_registration_code,
)


def test_registration_code_is_oc_and_six_crockford_characters() -> None:
    for _ in range(200):
        code = new_registration_code()
        assert re.fullmatch(r"OC-[0-9A-HJKMNP-TV-Z]{6}", code), code


def test_registration_codes_are_random() -> None:
    assert len({new_registration_code() for _ in range(2000)}) == 2000


def test_crockford_alphabet_has_no_confusable_letters() -> None:
    assert len(ALPHABET) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_new_codes_normalize_to_themselves() -> None:
    for _ in range(200):
        code = new_registration_code()
        assert normalize_registration_code(code) == code
        assert normalize_registration_code(code.lower()) == code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OC-7K3M9Q", "OC-7K3M9Q"),
        ("申込番号はｏｃ－７ｋ３ｍ ９ｑです", "OC-7K3M9Q"),
        ("oc7k3m9q", "OC-7K3M9Q"),
        ("OC ‐ 7K3 M9Q", "OC-7K3M9Q"),
        ("OC—7K3M9Q", "OC-7K3M9Q"),
        ("OCー7K3M9Q", "OC-7K3M9Q"),
        ("OC−7K3M9Q", "OC-7K3M9Q"),
        ("申込番号：OC-7K3M9Q よろしくお願いします", "OC-7K3M9Q"),
        ("OC-OK3M9Q", "OC-0K3M9Q"),  # O is read as zero
        ("OC-IK3MLQ", "OC-1K3M1Q"),  # I and L are read as one
        ("0C-7K3M9Q", "OC-7K3M9Q"),  # the prefix typed with a zero
        ("山田です\nOC-7K3M9Q", "OC-7K3M9Q"),
    ],
)
def test_code_is_found_in_free_text(text: str, expected: str) -> None:
    assert normalize_registration_code(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "申込番号を忘れました",
        "OC-7K3M9",  # too short
        "OC-7K3M9QX",  # too long
        "OC-7K3U9Q",  # U is not in the alphabet
        "DOC-7K3M9Q",  # part of a longer word
        "AB-7K3M9Q",
    ],
)
def test_text_without_a_code_gives_none(text: str) -> None:
    assert normalize_registration_code(text) is None


def test_link_token_is_url_safe_and_at_least_128_bits() -> None:
    tokens = {new_link_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        assert len(token) * 6 >= 128


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("OC-7K3M9Q", "OC-7K3M9Q"),
        ("oc-7k3m9q", "OC-7K3M9Q"),
        ("ＯＣ－７Ｋ３Ｍ９Ｑ", "OC-7K3M9Q"),  # full width
        ("7K3M9Q", "OC-7K3M9Q"),  # without the prefix
        ("7k3 m9q", "OC-7K3M9Q"),
        ("７ｋ３　ｍ９ｑ", "OC-7K3M9Q"),
        ("申込番号：7K3M9Q", "OC-7K3M9Q"),
        ("7K3M9Q です。", "OC-7K3M9Q"),
        ("申込番号は OC-7K3M9Q です", "OC-7K3M9Q"),
        ("ABCDEF", "OC-ABCDEF"),  # capitals: a code
        ("oc-abcdef", "OC-ABCDEF"),
        ("7K3M9O", "OC-7K3M90"),  # O read as 0
        ("thanks", None),  # a word, not a code
        ("Thanks", None),
        ("こんにちは", None),
        ("7K3M9QX", None),  # seven characters
        ("7K3M9", None),
        ("申込番号を忘れました", None),
        ("", None),
    ],
)
def test_typed_code_in_a_chat_message(typed: str, expected: str | None) -> None:
    assert typed_registration_code(typed) == expected
