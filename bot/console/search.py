"""Finding anyone: what a search text may mean, and the SQL (plus one Python pass) that finds it.

A reviewer types a code ("OC-7K3M9Q", "7k3m9q", "ＯＣ－７Ｋ３Ｍ９Ｑ"), a name as written
(佐藤花子, 佐藤 花子, 佐藤　花子, 高橋 for 髙橋), its reading (さとう, サトウ, ｻﾄｳ), its romaji in
either order (Hanako Sato, sato hanako), an email or part of one, or an organization's name.
The rules come from `bot/onboarding/names.py` and `codes.py`, the variant kanji from the
registry's table.

A text that is the code of an application finds it alone, by the unique index. Anything else
is looked for in one pass over the rows in SQL: emails (escaped LIKE), and each spelling in the
columns where its script can appear, compared without spaces and with the query's variant kanji
folded (REPLACE over the few characters the query holds). A reading is stored in kana only, so
a Latin-letter query is also matched in Python against the names' romaji keys
(`names.name_keys`, cached), reading at most MAX_SCANNED rows; the ids it finds join the SQL
condition. A stored column of normalised name keys would let SQL do all of it;
bench/bench_console_search.py measures what it costs without one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from bot.models import Application
from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.names import compact_name, name_keys, romaji_tokens, to_katakana

# The one table of variant kanji (髙→高, 﨑→崎, 邊/邉→辺 …) lives in registry.py: borrowed, not
# copied (it is private there; it should become a public name, with the surnames below added).
from bot.onboarding.registry import _VARIANTS as _REGISTRY_VARIANTS

# Surname spellings the registry's table lacks (no municipality is written with them), read as
# one name by a search (not by matching): 斎藤, 齋藤, 齊藤 and 斉藤 are all さいとう.
_PERSON_VARIANTS = {"齋": "斎", "齊": "斎", "斉": "斎"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
VARIANT_OF: dict[str, str] = {
    **{chr(k): v for k, v in _REGISTRY_VARIANTS.items() if _CJK.fullmatch(chr(k))},
    **_PERSON_VARIANTS,
}
_FOLD_VARIANTS = str.maketrans(VARIANT_OF)


def _variants_by_common() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for variant, common in VARIANT_OF.items():
        table[common] = (*table.get(common, ()), variant)
    return table


_VARIANTS_BY_COMMON = _variants_by_common()
_ROMAJI_QUERY = re.compile(r"[a-z][a-z\s'’.\-]*")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
_LATIN = re.compile(r"[a-z]")
MAX_SCANNED = 20_000  # rows the romaji pass reads at most (latest ids first)
MAX_ROMAJI_MATCHES = 1_000  # ids the romaji pass hands to SQL at most


@dataclass(frozen=True)
class SearchTerms:
    """What one search text may mean, each spelling ready for its column."""

    text: str  # NFKC, lower case, trimmed: compared with emails
    codes: tuple[str, ...]  # registration codes it may be ("OC-XXXXXX")
    compact: tuple[str, ...]  # no spaces, variant kanji folded; hiragana and katakana spellings
    romaji: str  # canonical romaji of a Latin-letter query, tokens joined ("" otherwise)

    @property
    def folded_chars(self) -> frozenset[str]:
        """The common forms in the query that have variants to fold in the columns."""
        return frozenset(c for word in self.compact for c in word if c in _VARIANTS_BY_COMMON)


def parse_search(raw: str) -> SearchTerms | None:
    """Read a search text (None when blank)."""
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not text:
        return None
    codes = [
        code
        for code in (normalize_registration_code(raw), normalize_registration_code(f"OC-{raw}"))
        if code is not None
    ]
    hiragana = compact_name(raw).translate(_FOLD_VARIANTS)
    spellings = [hiragana]
    if _KANA.search(hiragana):
        spellings.append(to_katakana(hiragana))
    romaji = ""
    if _ROMAJI_QUERY.fullmatch(text):
        tokens = romaji_tokens(text)
        if sum(map(len, tokens)) >= 3:
            romaji = "".join(tokens)
    return SearchTerms(
        text=text,
        codes=tuple(dict.fromkeys(codes)),
        compact=tuple(s for s in dict.fromkeys(spellings) if s),
        romaji=romaji,
    )


def romaji_matches(romaji: str, spellings: Iterable[str]) -> bool:
    """Whether a romaji query starts one of the names' romaji keys (either order of the parts).

    "satohanako", "hanakosato" and "sato" all find サトウ ハナコ (keys "satohanako", "hanakosato").
    """
    return any(
        key.startswith(romaji)
        for spelling in spellings
        if spelling
        for key in name_keys(spelling)["romaji"]
    )


def _without_spaces(column: Any, chars: frozenset[str]) -> Any:
    """The column without spaces, its variant kanji folded to the common forms in `chars`."""
    expr = func.replace(func.replace(column, " ", ""), "\u3000", "")
    for common in sorted(chars):
        for variant in _VARIANTS_BY_COMMON[common]:
            expr = func.replace(expr, variant, common)
    return expr


def _columns_for(word: str) -> tuple[tuple[Any, bool], ...]:
    """The columns a spelling can be in, each with whether spaces there must be ignored.

    Only where the spelling's script can appear: every column and every REPLACE costs a pass
    over each row, and the search reads all of them.
    """
    if _CJK.search(word):
        return (
            (Application.full_name, True),
            (Application.facebook_name, True),
            (Application.organization_text, True),
            (Application.organization_name, False),
        )
    if _KANA.search(word):
        return (
            (Application.kana, True),
            (Application.full_name, True),
            (Application.facebook_name, True),
            (Application.organization_text, True),
        )
    if _LATIN.search(word):
        return (
            (Application.full_name, True),
            (Application.facebook_name, True),
            (Application.organization_text, True),
        )
    return ((Application.organization_text, False),)  # digits and signs: "100%出資" and the like


def search_condition(
    terms: SearchTerms, *, sqlite: bool, romaji_ids: Sequence[int] = ()
) -> ColumnElement[bool]:
    """The WHERE clause finding the search in codes, emails, names, readings, organizations."""
    clauses: list[ColumnElement[bool]] = []
    if terms.text.isascii():
        # SQLite's LIKE ignores ASCII case already; PostgreSQL's does not.
        email = Application.email if sqlite else func.lower(Application.email)
        clauses.append(email.contains(terms.text, autoescape=True))
    if terms.codes:
        clauses.append(Application.code.in_(terms.codes))
    chars = terms.folded_chars
    for word in terms.compact:
        for column, spaces_ignored in _columns_for(word):
            expr = _without_spaces(column, chars) if spaces_ignored else column
            if not sqlite and _LATIN.search(word):
                expr = func.lower(expr)
            clauses.append(expr.contains(word, autoescape=True))
    if romaji_ids:
        clauses.append(Application.id.in_(romaji_ids))
    return or_(false(), *clauses)


def romaji_match_ids(
    session: Session, terms: SearchTerms, where: Sequence[ColumnElement[bool]]
) -> list[int]:
    """Ids of the rows (filtered by `where`) whose names' romaji the query starts.

    At most MAX_SCANNED rows read (newest first) and MAX_ROMAJI_MATCHES ids returned; only the
    name columns are read, without the ORM, and name keys are cached (`names.name_keys`).
    """
    if not terms.romaji:
        return []
    rows = session.connection().execute(
        select(Application.id, Application.kana, Application.facebook_name, Application.full_name)
        .where(*where)
        .order_by(Application.id.desc())
        .limit(MAX_SCANNED)
    )
    found: list[int] = []
    for app_id, kana, facebook_name, full_name in rows:
        if romaji_matches(terms.romaji, (kana, facebook_name, full_name)):
            found.append(app_id)
            if len(found) >= MAX_ROMAJI_MATCHES:
                break
    return found


def search_where(
    session: Session, terms: SearchTerms, where: Sequence[ColumnElement[bool]]
) -> tuple[ColumnElement[bool], bool]:
    """The condition finding the search among the rows `where` selects; True when capped.

    A text that is the code of an application finds that application alone (one index look-up
    instead of a pass over every row); anything else is looked for everywhere.
    """
    if terms.codes:
        codes = session.scalars(select(Application.code).where(Application.code.in_(terms.codes)))
        existing = list(codes)
        if existing:
            return Application.code.in_(existing), False
    romaji_ids = romaji_match_ids(session, terms, where)
    sqlite = session.get_bind().dialect.name == "sqlite"
    condition = search_condition(terms, sqlite=sqlite, romaji_ids=romaji_ids)
    return condition, len(romaji_ids) >= MAX_ROMAJI_MATCHES
