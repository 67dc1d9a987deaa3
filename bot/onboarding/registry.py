"""Registry of Japan's local governments and national bodies, and resolution of what people type.

The data file is built by `scripts/build_registry.py`. All indexes are computed once at load time;
`Registry.resolve` is then a handful of dictionary look-ups.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

log = logging.getLogger(__name__)

OrganizationKind = Literal["prefecture", "city", "town", "village", "special_ward", "national"]
ResolutionStatus = Literal["resolved", "ambiguous", "unresolved", "union"]
LOCAL_KINDS: frozenset[str] = frozenset({"prefecture", "city", "town", "village", "special_ward"})

# Variant spellings people type for the same character (folded on both sides of every match).
_VARIANTS = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "嵜": "崎",
        "邉": "辺",
        "邊": "辺",
        "檮": "梼",
        "篭": "籠",
        "桧": "檜",
        "竜": "龍",
        "曾": "曽",
        "澤": "沢",
        "濱": "浜",
        "廣": "広",
        "嶋": "島",
        "嶌": "島",
        "國": "国",
        "櫻": "桜",
        "舘": "館",
        "冨": "富",
        "淵": "渕",
        "驒": "騨",
        "靜": "静",
        "眞": "真",
        "德": "徳",
        "條": "条",
        "藪": "薮",
        "槇": "槙",
        "瀨": "瀬",
        "萬": "万",
        "來": "来",
        "彌": "弥",
        "與": "与",
        "縣": "県",
        "關": "関",
        "龜": "亀",
        "鷗": "鴎",
        "ヶ": "ケ",
        "ヵ": "ケ",
        "ゖ": "ケ",
        "ゕ": "ケ",
    }
    | {chr(c): chr(c + 0x60) for c in range(ord("ぁ"), ord("ゔ") + 1)}  # hiragana -> katakana
)
# Whitespace, punctuation and brackets that never distinguish two organization names.
_NOISE = re.compile(
    r"[\s・、。,.，．:：;；\-‐‑‒–—―−~〜()\[\]{}（）「」『』【】〔〕<>＜＞/／\\|'\"“”‘’]+"
)
_UNION = re.compile(r"組合|広域連合|企業団")
# Words that only say "the office of": dropped before matching a bare name stem.
_OFFICE_WORDS = re.compile(
    r"市役所|区役所|町役場|村役場|役所|役場|県庁|都庁|府庁|道庁|本庁舎|庁舎|本庁|支所"
)
# Words that point at the stated prefecture's own organization when no name is given.
_PREFECTURE_GENERIC = ("県庁", "府庁", "県警", "府警", "県立", "府立", "警察本部", "県教育委員会")
_PREFECTURE_SUFFIXES = ("都", "道", "府", "県")
_MAX_SCAN = 64


def normalize_name(text: str) -> str:
    """Fold a typed organization name for matching: NFKC, variants, no spaces/punctuation."""
    folded = unicodedata.normalize("NFKC", text).translate(_VARIANTS)
    return _NOISE.sub("", folded).lower()


def check_digit(code5: str) -> str:
    """Return the check digit of the first five digits of a 全国地方公共団体コード."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def is_valid_local_code(code: str) -> bool:
    """Whether `code` is six digits with a correct check digit."""
    return len(code) == 6 and code.isascii() and code.isdigit() and check_digit(code[:5]) == code[5]


@dataclass(frozen=True, slots=True)
class Ward:
    """An administrative ward of a designated city (not a local government itself)."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Organization:
    """A local government or a national body that public servants work for."""

    code: str
    name: str
    kind: OrganizationKind
    prefecture: str  # "" for national bodies
    kana: str
    email_domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    parent: str | None = None  # national bodies: code of the ministry/office above (外局 etc.)
    designated: bool = False  # 政令指定都市
    wards: tuple[Ward, ...] = ()

    @property
    def is_local(self) -> bool:
        """Whether this is a local government (prefecture or municipality)."""
        return self.kind in LOCAL_KINDS

    @property
    def full_name(self) -> str:
        """Name with its prefecture in front where that helps ("富山県富山市")."""
        if self.kind in ("prefecture", "national"):
            return self.name
        return self.prefecture + self.name


@dataclass(frozen=True, slots=True)
class Resolution:
    """Outcome of resolving free text to an organization; the original text is always kept."""

    status: ResolutionStatus
    text: str
    organization: Organization | None = None
    candidates: tuple[Organization, ...] = ()
    ward: str | None = None  # designated-city ward named in the text, if any


class _Hit(NamedTuple):
    org: Organization
    via: Literal["prefecture", "local", "ward", "national"]


class _Match(NamedTuple):
    start: int
    end: int
    hits: tuple[_Hit, ...]


@dataclass(slots=True)
class _Index:
    keys: dict[str, list[_Hit]] = field(default_factory=dict)
    stems: dict[str, list[Organization]] = field(default_factory=dict)

    def add(self, key: str, hit: _Hit) -> None:
        hits = self.keys.setdefault(key, [])
        if hit not in hits:
            hits.append(hit)

    def add_stem(self, stem: str, org: Organization) -> None:
        orgs = self.stems.setdefault(stem, [])
        if org not in orgs:
            orgs.append(org)


def _spellings(key: str) -> Iterator[str]:
    """Yield a normalized key and its ガ spelling (鶴ケ島 is also typed 鶴が島)."""
    yield key
    if "ケ" in key:
        yield key.replace("ケ", "ガ")


class Registry:
    """All organizations, looked up by code and resolved from free text."""

    def __init__(self, organizations: Iterable[Organization], *, as_of: str = "") -> None:
        self.as_of = as_of
        self._by_code: dict[str, Organization] = {}
        self._ward_city: dict[str, Organization] = {}
        self._by_domain: dict[str, list[Organization]] = {}
        for org in organizations:
            if org.code in self._by_code:
                raise ValueError(f"duplicate organization code {org.code}")
            self._by_code[org.code] = org
            for ward in org.wards:
                self._ward_city[ward.code] = org
            for domain in org.email_domains:
                self._by_domain.setdefault(domain, []).append(org)
        self._prefectures = {o.name: o for o in self._by_code.values() if o.kind == "prefecture"}
        self._index = self._build_index()
        self._lengths = self._lengths_by_first_char()

    # -- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Organization]:
        return iter(self._by_code.values())

    def get(self, code: str) -> Organization | None:
        """Return the organization with this code, or None (ward codes give None)."""
        return self._by_code.get(code)

    def city_of_ward(self, ward_code: str) -> Organization | None:
        """Return the designated city a ward code belongs to."""
        return self._ward_city.get(ward_code)

    def prefecture(self, text: str) -> Organization | None:
        """Return the prefecture named by `text` ("富山", "富山県", "東京"), or None."""
        name = normalize_name(text)
        if not name:
            return None
        if name in self._prefectures:
            return self._prefectures[name]
        for suffix in _PREFECTURE_SUFFIXES:
            if name + suffix in self._prefectures:
                return self._prefectures[name + suffix]
        return None

    def owners_of_domain(self, domain: str) -> tuple[Organization, ...]:
        """Return the organizations whose listed mail domain is `domain` or a parent of it."""
        labels = domain.lower().strip(".").split(".")
        for i in range(len(labels) - 1):
            owners = self._by_domain.get(".".join(labels[i:]))
            if owners:
                return tuple(owners)
        return ()

    def is_organization_name(self, text: str) -> bool:
        """Whether `text` is nothing but organization names ("富山市", "富山県富山市", "国交省")."""
        norm = normalize_name(text)
        matches = self._scan(norm[:_MAX_SCAN]) if norm else []
        return bool(matches) and sum(m.end - m.start for m in matches) == len(norm)

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self, text: str, prefecture_hint: str | None = None) -> Resolution:
        """Resolve what an applicant typed to one organization, candidates, a union, or nothing."""
        norm = normalize_name(text)
        if not norm:
            return Resolution("unresolved", text)
        if _UNION.search(norm):
            return Resolution("union", text)
        hint = self.prefecture(prefecture_hint) if prefecture_hint else None
        matches = self._scan(norm[:_MAX_SCAN])
        if not matches:
            return self._resolve_without_name(text, norm, hint)
        first = matches[0]
        vias = {h.via for h in first.hits}
        if "prefecture" in vias:
            return self._after_prefecture(text, first, matches[1:])
        if "national" in vias:
            return self._national(text, first, matches[1:])
        later_prefecture = next(
            (m.hits[0].org for m in matches[1:] if m.hits[0].via == "prefecture"), None
        )
        return self._choose(text, first.hits, (later_prefecture, hint))

    def _after_prefecture(self, text: str, first: _Match, rest: list[_Match]) -> Resolution:
        pref = first.hits[0].org
        if rest and rest[0].start == first.end:
            nxt = rest[0]
            local = tuple(
                h for h in nxt.hits if h.via != "national" and h.org.prefecture == pref.name
            )
            if local:
                return self._choose(text, local, (pref,))
            if any(h.via in ("local", "ward") for h in nxt.hits):  # "東京都横浜市": trust the city
                return self._choose(text, (h for h in nxt.hits if h.via != "national"), ())
            if any(h.via == "national" for h in nxt.hits):  # 北海道労働局, 大阪税関 ...
                return self._national(text, nxt, rest[1:])
        return Resolution("resolved", text, pref)

    def _national(self, text: str, first: _Match, rest: list[_Match]) -> Resolution:
        org = first.hits[0].org
        for match in rest:  # a more specific body named later: 国土交通省観光庁
            for hit in match.hits:
                if hit.via == "national" and self._is_below(hit.org, org):
                    org = hit.org
        return Resolution("resolved", text, org)

    def _is_below(self, child: Organization, ancestor: Organization) -> bool:
        parent = child.parent
        while parent:
            if parent == ancestor.code:
                return True
            above = self._by_code.get(parent)
            parent = above.parent if above else None
        return False

    def _choose(
        self, text: str, hits: Iterable[_Hit], prefectures: tuple[Organization | None, ...]
    ) -> Resolution:
        hits = tuple(hits)
        orgs = tuple(dict.fromkeys(h.org for h in hits))
        for pref in prefectures:
            if len(orgs) > 1 and pref is not None:
                narrowed = tuple(o for o in orgs if o.prefecture == pref.name)
                if narrowed:
                    orgs = narrowed
        ward = next((h for h in hits if h.via == "ward" and h.org in orgs), None)
        ward_name = self._ward_name(ward.org, text) if ward else None
        if len(orgs) == 1:
            return Resolution("resolved", text, orgs[0], ward=ward_name)
        return Resolution("ambiguous", text, candidates=orgs)

    def _ward_name(self, city: Organization, text: str) -> str | None:
        norm = normalize_name(text)
        return next((w.name for w in city.wards if normalize_name(w.name) in norm), None)

    def _resolve_without_name(self, text: str, norm: str, hint: Organization | None) -> Resolution:
        stem = _OFFICE_WORDS.sub("", norm)  # "世田谷役所", "横浜", "府中", "市役所(富山)" ...
        orgs = self._index.stems.get(stem, [])
        if orgs:
            return self._choose(text, (_Hit(o, "local") for o in orgs), (hint,))
        if hint is not None and any(word in norm for word in _PREFECTURE_GENERIC):
            return Resolution("resolved", text, hint)
        return Resolution("unresolved", text)

    def _scan(self, norm: str) -> list[_Match]:
        """Find leftmost-longest, non-overlapping index keys in the normalized text."""
        matches: list[_Match] = []
        keys = self._index.keys
        i, n = 0, len(norm)
        while i < n:
            for length in self._lengths.get(norm[i], ()):
                if i + length <= n:
                    hits = keys.get(norm[i : i + length])
                    if hits:
                        matches.append(_Match(i, i + length, tuple(hits)))
                        i += length
                        break
            else:
                i += 1
        return matches

    # -- index building ------------------------------------------------------------------------

    def _build_index(self) -> _Index:
        index = _Index()
        for org in self._by_code.values():
            if org.kind == "national":
                for name in (org.name, *org.aliases):
                    for key in _spellings(normalize_name(name)):
                        index.add(key, _Hit(org, "national"))
                continue
            via: Literal["prefecture", "local"] = (
                "prefecture" if org.kind == "prefecture" else "local"
            )
            for name in (org.name, *org.aliases):
                for key in _spellings(normalize_name(name)):
                    index.add(key, _Hit(org, via))
            if org.kind == "prefecture":
                stem = org.name[:-1] if org.name != "北海道" else org.name
            else:
                stem = org.name[:-1]
                for ward in org.wards:
                    for key in _spellings(normalize_name(org.name + ward.name)):
                        index.add(key, _Hit(org, "ward"))
                    for key in _spellings(normalize_name(ward.name)):
                        index.add(key, _Hit(org, "ward"))
            stems = [stem] + [a[:-1] for a in org.aliases if a[-1:] in "市町村区"]
            for name in stems:
                if len(name) >= 2:
                    for key in _spellings(normalize_name(name)):
                        index.add_stem(key, org)
        return index

    def _lengths_by_first_char(self) -> dict[str, tuple[int, ...]]:
        lengths: dict[str, set[int]] = {}
        for key in self._index.keys:
            lengths.setdefault(key[0], set()).add(len(key))
        return {c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}


def _organization_from_json(rec: dict[str, Any]) -> Organization:
    kind = rec["kind"]
    if kind not in LOCAL_KINDS and kind != "national":
        raise ValueError(f"unknown organization kind {kind!r}")
    return Organization(
        code=str(rec["code"]),
        name=str(rec["name"]),
        kind=kind,
        prefecture=str(rec["prefecture"]),
        kana=str(rec["kana"]),
        email_domains=tuple(rec.get("email_domains") or ()),
        aliases=tuple(rec.get("aliases") or ()),
        parent=str(rec["parent"]) if rec.get("parent") else None,
        designated=bool(rec.get("designated", False)),
        wards=tuple(Ward(str(w["code"]), str(w["name"])) for w in rec.get("wards") or ()),
    )


def read_registry(path: Path | None = None) -> Registry:
    """Read a registry data file (the shipped one by default) into a new Registry."""
    if path is None:
        raw = (
            resources.files("bot.onboarding")
            .joinpath("data/organizations.json")
            .read_text(encoding="utf-8")
        )
    else:
        raw = path.read_text(encoding="utf-8")
    doc = json.loads(raw)
    registry = Registry(
        (_organization_from_json(rec) for rec in doc["organizations"]), as_of=doc.get("as_of", "")
    )
    log.info("registry loaded: %s organizations as of %s", len(registry), registry.as_of)
    return registry


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    """Return the shipped registry, loaded once per process."""
    return read_registry()
