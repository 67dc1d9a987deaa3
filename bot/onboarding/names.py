"""Every rule for comparing how people write names: kana, romaji, and "the same person".

One module, so that matching join requests, verifying a Facebook name, screening duplicates,
resolving organizations and searching the console all read names alike:

* `to_hiragana` / `to_katakana`: the one kana conversion (NFKC first: half-width kana too).
* `kana_to_romaji`: the one romaniser (Hepburn).
* `canonical_romaji` (people) and `skeleton` (readings and typed organization names): romaji
  keys where Hepburn, Kunrei and long-vowel spellings coincide; `skeleton` also forgives
  doubled letters, so it is used where a typo is confirmed by something else.
* `name_keys`: a person's name as comparison keys; `person_key`: the one definition of "the
  same name" for duplicates (spaces, width and case do not count).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from functools import lru_cache

# -- kana ------------------------------------------------------------------------------------------
_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def to_hiragana(text: str) -> str:
    """NFKC (half-width kana become full width), then katakana → hiragana."""
    return unicodedata.normalize("NFKC", text).translate(_KATAKANA_TO_HIRAGANA)


def to_katakana(text: str) -> str:
    """NFKC (half-width kana become full width), then hiragana → katakana."""
    return unicodedata.normalize("NFKC", text).translate(_HIRAGANA_TO_KATAKANA)


# -- romaji ----------------------------------------------------------------------------------------
_ROMAJI = {
    "あ": "a",
    "い": "i",
    "う": "u",
    "え": "e",
    "お": "o",
    "か": "ka",
    "き": "ki",
    "く": "ku",
    "け": "ke",
    "こ": "ko",
    "さ": "sa",
    "し": "shi",
    "す": "su",
    "せ": "se",
    "そ": "so",
    "た": "ta",
    "ち": "chi",
    "つ": "tsu",
    "て": "te",
    "と": "to",
    "な": "na",
    "に": "ni",
    "ぬ": "nu",
    "ね": "ne",
    "の": "no",
    "は": "ha",
    "ひ": "hi",
    "ふ": "fu",
    "へ": "he",
    "ほ": "ho",
    "ま": "ma",
    "み": "mi",
    "む": "mu",
    "め": "me",
    "も": "mo",
    "や": "ya",
    "ゆ": "yu",
    "よ": "yo",
    "ら": "ra",
    "り": "ri",
    "る": "ru",
    "れ": "re",
    "ろ": "ro",
    "わ": "wa",
    "ゐ": "i",
    "ゑ": "e",
    "を": "o",
    "ん": "n",
    "が": "ga",
    "ぎ": "gi",
    "ぐ": "gu",
    "げ": "ge",
    "ご": "go",
    "ざ": "za",
    "じ": "ji",
    "ず": "zu",
    "ぜ": "ze",
    "ぞ": "zo",
    "だ": "da",
    "ぢ": "ji",
    "づ": "zu",
    "で": "de",
    "ど": "do",
    "ば": "ba",
    "び": "bi",
    "ぶ": "bu",
    "べ": "be",
    "ぼ": "bo",
    "ぱ": "pa",
    "ぴ": "pi",
    "ぷ": "pu",
    "ぺ": "pe",
    "ぽ": "po",
    "ぁ": "a",
    "ぃ": "i",
    "ぅ": "u",
    "ぇ": "e",
    "ぉ": "o",
    "ゔ": "vu",
}
_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o"}
_SMALL_VOWEL = {"ぁ": "a", "ぃ": "i", "ぅ": "u", "ぇ": "e", "ぉ": "o"}


def _digraphs() -> dict[str, str]:
    table = {}
    for kana, syllable in _ROMAJI.items():
        if syllable in _SMALL_VOWEL.values() or kana in _SMALL_VOWEL or kana == "ん":
            continue
        if len(syllable) >= 2 and syllable.endswith("i"):
            stem = syllable[:-1]
            for small, vowel in _SMALL_Y.items():
                table[kana + small] = (stem if stem in {"sh", "ch", "j"} else stem + "y") + vowel
        for small, vowel in _SMALL_VOWEL.items():
            table.setdefault(kana + small, syllable[:-1] + vowel)
    return table


_DIGRAPHS = sorted(_digraphs().items())
_SMALL = frozenset(_SMALL_Y) | frozenset(_SMALL_VOWEL)
_SINGLE = str.maketrans({**_ROMAJI, "ー": ""})
_SOKUON = re.compile(r"っ([a-z])")


@lru_cache(maxsize=16384)
def kana_to_romaji(text: str) -> str:
    """Hepburn romaji of kana ("やまだ たろう" → "yamada tarou"); other characters are kept."""
    kana = to_hiragana(text)
    if any(c in _SMALL for c in kana):
        for pair, syllable in _DIGRAPHS:
            if pair in kana:
                kana = kana.replace(pair, syllable)
    romaji = kana.translate(_SINGLE)
    if "っ" in romaji:
        romaji = _SOKUON.sub(r"\1\1", romaji.replace("っch", "tch")).replace("っ", "")
    return romaji


def _strip_accent(c: str) -> str:
    if "\u00c0" <= c <= "\u024f" or "\u1e00" <= c <= "\u1eff":  # Latin letters: ō → o
        return "".join(d for d in unicodedata.normalize("NFD", c) if not unicodedata.combining(d))
    return c


_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")


def _fold(text: str) -> str:
    """NFKC, lower case, accents of Latin letters (macrons) removed; kana untouched."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if _ACCENTED.search(folded):
        folded = "".join(map(_strip_accent, folded))
    return folded


_NOT_LETTER = re.compile(r"[^a-z]+")
_M_BEFORE_LABIAL = re.compile(r"m(?=[bmp])")
_OH = re.compile(r"oh(?![aiueoy])")
_LONG_O = re.compile(r"o[ou]")


def canonical_romaji(text: str) -> str:
    """Collapse romanisation variants: Hepburn/Kunrei, long vowels, n/m ("Satoh" = "sato")."""
    s = _NOT_LETTER.sub("", text)
    s = s.replace("sh", "sy").replace("ch", "ty").replace("ts", "t").replace("j", "zy")
    s = s.replace("f", "h").replace("syi", "si").replace("tyi", "ti").replace("zyi", "zi")
    s = _M_BEFORE_LABIAL.sub("n", s)
    s = _OH.sub("o", s)
    s = _LONG_O.sub("o", s)
    return s.replace("uu", "u").replace("nn", "n")


_SKELETON_RULES = (
    (re.compile(r"[^a-z]"), ""),
    (re.compile(r"tch"), "ch"),
    (re.compile(r"sh"), "s"),
    (re.compile(r"ch"), "t"),
    (re.compile(r"ts"), "t"),
    (re.compile(r"j"), "z"),
    (re.compile(r"fu"), "hu"),
    (re.compile(r"m(?=[bmp])"), "n"),
    (re.compile(r"oh(?![aeiou])"), "o"),
    (re.compile(r"([aeiou])\1+"), r"\1"),
    (re.compile(r"ou"), "o"),
    (re.compile(r"([b-df-hj-np-tv-z])\1+"), r"\1"),
    (re.compile(r"(?<=[sztdz])y"), ""),
)


@lru_cache(maxsize=8192)
def skeleton(romaji: str) -> str:
    """Reduce a romanization to a form where Hepburn/Kunrei/long-vowel spellings coincide."""
    text = strip_accents(romaji).lower()
    for pattern, repl in _SKELETON_RULES:
        text = pattern.sub(repl, text)
    return text


def strip_accents(text: str) -> str:
    """Latin letters without their accents (ō → o); other text unchanged."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# -- people's names ------------------------------------------------------------------------------
_NAME_SEPARATORS = re.compile(r"[\s・·･,、.()（）\-‐_]+")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
_LATIN = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々〆]")


def compact_name(text: str) -> str:
    """A name without spaces or separators, NFKC-folded, kana as hiragana."""
    return _NAME_SEPARATORS.sub("", _fold(text)).translate(_KATAKANA_TO_HIRAGANA)  # _fold did NFKC


@functools.lru_cache(maxsize=16384)
def _romaji_token(token: str) -> str:
    """One name part as canonical romaji (surnames and given names repeat: cached)."""
    return canonical_romaji(kana_to_romaji(token) if _KANA.search(token) else token)


def romaji_tokens(text: str) -> list[str]:
    """The name as canonical romaji tokens (kana converted); [] when it holds kanji."""
    folded = _fold(text)
    if _CJK.search(folded):
        return []
    return [r for r in map(_romaji_token, _NAME_SEPARATORS.split(folded)) if r]


_NO_KEYS: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=65536)
def name_keys(text: str) -> dict[str, frozenset[str]]:
    """Comparison keys of one spelling of a name, by kind ("exact", "romaji")."""
    compact = compact_name(text)
    exact = frozenset((compact,)) if len(compact) >= 2 else _NO_KEYS
    tokens = romaji_tokens(text)
    if not tokens or sum(map(len, tokens)) < 3:
        return {"exact": exact, "romaji": _NO_KEYS}
    joined = "".join(tokens)
    if len(tokens) == 1:
        return {"exact": exact, "romaji": frozenset((joined,))}
    return {
        "exact": exact,
        "romaji": frozenset((joined, "".join(reversed(tokens)), "".join(sorted(tokens)))),
    }


def person_key(name: str) -> str:
    """The one definition of "the same name" for duplicates: NFKC, no spaces, case-folded.

    山田 太郎, 山田太郎 and 山田　太郎 are one name; 山田 and 山⽥ (a radical look-alike) too.
    """
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()
