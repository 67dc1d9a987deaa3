"""Registry of Japan's local governments and national bodies, and resolution of what people type.

The data file is built by `scripts/build_registry.py`. All indexes are computed once at load time;
`Registry.resolve` is then a handful of dictionary look-ups.

Resolution fails closed: a name found inside a longer word (新津市 is not 津市), an unknown body
whose name starts with a place (富山県土地開発公社 is not 富山県) and a typo nothing confirms all
stay unresolved, so a person looks at them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from bot.onboarding.names import kana_to_romaji, skeleton, strip_accents

log = logging.getLogger(__name__)

OrganizationKind = Literal["prefecture", "city", "town", "village", "special_ward", "national"]
ResolutionStatus = Literal["resolved", "ambiguous", "unresolved", "union"]
ResolutionVia = Literal["name", "english", "typo", "domain", "former"]
LOCAL_KINDS: frozenset[str] = frozenset({"prefecture", "city", "town", "village", "special_ward"})

# Variant spellings people type for the same character (folded on both sides of every match,
# so a variant in the registry itself — 須惠町 — is found from the common form, and back).
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
        "惠": "恵",
        "鯵": "鰺",
        "壽": "寿",
        "榮": "栄",
        "藏": "蔵",
        "會": "会",
        "學": "学",
        "豐": "豊",
        "黑": "黒",
        "淺": "浅",
        "瀧": "滝",
        "峯": "峰",
        "增": "増",
        "ヶ": "ケ",
        "ヵ": "ケ",
        "ゖ": "ケ",
        "ゕ": "ケ",
    }
    | {chr(c): chr(c + 0x60) for c in range(ord("ぁ"), ord("ゔ") + 1)}  # hiragana -> katakana
)
# Ideographic variation selectors (葛󠄀) carry no meaning for matching.
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# Whitespace, punctuation and brackets that never distinguish two organization names.
_NOISE = re.compile(
    r"[\s・、。,.，．:：;；\-‐‑‒–—―−~〜()\[\]{}（）「」『』【】〔〕<>＜＞/／\\|'\"“”‘’]+"
)
_UNION = re.compile(r"組合|広域連合|企業団")
# Bodies whose staff are not public servants (or not certainly): 独立行政法人 other than the seven
# 行政執行法人, 国立大学法人, 公社, 社会福祉協議会, 観光協会, 第三セクター, JA, Japan Post, NHK …
# Checked on the text outside registry names, so 製品評価技術基盤機構 (a registry entry) is kept.
_NOT_PUBLIC_BODY = re.compile(
    r"地方独立行政法人|国立研究開発法人|独立行政法人|国立大学法人|公立大学法人|大学法人|特殊法人|"
    r"認可法人|財団|社団|npo|特定非営利|社会福祉法人|医療法人|学校法人|社会福祉協議会|社協|"
    r"公社|公団|事業団|振興会|観光協会|協会|基金|機構|株式会社|有限会社|合同会社|第三セクター|三セク|"
    r"協同組合|農協|漁協|生協|共済組合|健康保険組合|信用金庫|信用組合|銀行|赤十字|"
    r"日本郵便|郵便局|日本郵政|ゆうちょ|かんぽ|日本放送協会|nhk|大学(?!校)|学園|"
    r"(?<![a-z])ja(?![a-z])"
)
# What may follow an organization's name: its own departments, offices and facilities.
_OWN_UNIT = re.compile(
    r"[部局課室係班所署庁院館園校場]|担当|グループ|チーム|センター|議会|委員|事務局|消防|警察|"
    r"水道|職員|本庁|庁舎|支所|出張所|教育|ヤクショ|ヤクバ|チョウシャ|チョウ$|"
    r"division|department|section|bureau|office|hall"
)
# Words that only say "the office of": dropped before matching a bare name stem.
_OFFICE_WORDS = re.compile(
    r"市役所|区役所|町役場|村役場|役所|役場|県庁|都庁|府庁|道庁|本庁舎|庁舎|本庁|支所|"
    r"ヤクショ|ヤクバ"
)
# Words that point at the stated prefecture's own organization when no name is given.
_PREFECTURE_GENERIC = (
    "県庁",
    "府庁",
    "県警",
    "府警",
    "県立",
    "府立",
    "警察本部",
    "県教育委員会",
    "県税事務所",
    "府税事務所",
)
_PREFECTURE_SUFFIXES = ("都", "道", "府", "県")
_WORD_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々〆]")
_MAX_SCAN = 64

# One-character typos: look-alike or same-sound characters typed for a name's last character
# (とやまし → 富山氏). A typo is only read as the name when the prefecture or the mail domain
# confirms the candidate; these pairs break a tie between confirmed candidates.
_CONFUSABLE_SUFFIX = {
    "市": frozenset("氏師史士誌詩巿"),  # 巿 (U+5DFF) is the look-alike some IMEs offer
    "町": frozenset("長丁"),
    "村": frozenset("邨邑"),
    "区": frozenset("句苦"),
    "県": frozenset("件圏権"),
}


# -- English names ---------------------------------------------------------------------------------
# Words that never tell two bodies apart ("Ministry of the Environment, Government of Japan").
_EN_STOP = frozenset({"of", "the", "and", "for", "in", "japan", "japanese", "government", "s"})
# English words naming a body outside government (a university, a company, an association …).
_EN_NOT_PUBLIC_BODY = frozenset(
    {
        "university",
        "college",
        "corporation",
        "corp",
        "inc",
        "ltd",
        "llc",
        "co",
        "company",
        "association",
        "foundation",
        "bank",
        "cooperative",
        "npo",
        "nhk",
        "ja",
    }
)
_EN_SEPARATOR = re.compile(r"[,()\[\]/;:|、，（）・]")
_EN_TOKEN = re.compile(r"[a-z0-9]+")
# Kind words of local governments, and what each may name.
_EN_KINDS: dict[str, tuple[str, ...]] = {
    "prefecture": ("prefecture",),
    "prefectural": ("prefecture",),
    "pref": ("prefecture",),
    "ken": ("prefecture",),
    "fu": ("prefecture",),
    "metropolitan": ("prefecture",),
    "metropolis": ("prefecture",),
    "to": ("prefecture",),
    "government": ("prefecture",),  # "Hokkaido Government"
    "city": ("city", "special_ward"),  # Tokyo's wards call themselves "X City" in English
    "shi": ("city",),
    "municipal": ("city", "town", "village", "special_ward"),
    "town": ("town",),
    "cho": ("town",),
    "chou": ("town",),
    "machi": ("town",),
    "village": ("village",),
    "mura": ("village",),
    "son": ("village",),
    "ward": ("special_ward",),
    "ku": ("special_ward",),
}
_EN_ATTACHED = (("shi", "city"), ("machi", "town"), ("cho", "town"), ("mura", "village"))
_KANA_SUFFIXES: dict[str, tuple[str, ...]] = {
    "prefecture": ("ケン", "フ", "ト"),
    "city": ("シ",),
    "town": ("チョウ", "マチ"),
    "village": ("ソン", "ムラ"),
    "special_ward": ("ク",),
}


def english_tokens(text: str) -> list[str]:
    """Lower-case Latin words of `text`, with "|" where a comma or bracket separates parts."""
    folded = strip_accents(unicodedata.normalize("NFKC", text)).lower()
    folded = _EN_SEPARATOR.sub(" | ", folded.replace("&", " and "))
    return [t for t in re.findall(r"[a-z0-9]+|\|", folded)]


def kana_stem(org: Organization) -> str:
    """The registry reading of a name without its kind (トヤマシ → トヤマ; ホッカイドウ kept)."""
    if org.name == "北海道":
        return org.kana
    for suffix in _KANA_SUFFIXES.get(org.kind, ()):
        if org.kana.endswith(suffix) and len(org.kana) > len(suffix):
            return org.kana[: -len(suffix)]
    return org.kana


def normalize_name(text: str) -> str:
    """Fold a typed organization name for matching: NFKC, variants, no spaces/punctuation."""
    folded = unicodedata.normalize("NFKC", text).translate(_VARIANTS)
    if not folded.isascii():
        folded = _VARIATION_SELECTORS.sub("", folded)
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
    """A local government or a national body that public servants work for (or, flagged, not)."""

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
    english: tuple[str, ...] = ()  # official English names and abbreviations (national bodies)
    category: str = ""  # national bodies: 府省, 外局, 行政執行法人, 独立行政法人 …
    public_servants: bool = True  # False: its staff are not public servants (国立病院機構 …)

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
    via: ResolutionVia = "name"  # english: an English name; typo: a confirmed one-character typo;
    # domain: same-name candidates settled by the mail domain; former: a municipality's name
    # before a merger or rename (浦和市 → さいたま市)
    typed: str = ""  # via typo: the characters read as the organization's name
    former: FormerName | None = None  # via former: the name that was typed and its history
    body: str = ""  # the word that names a body whose staff are not public servants (公社 …)
    extra: str = ""  # text after the name that is neither a department nor an office


@dataclass(frozen=True, slots=True)
class FormerName:
    """A municipality's name that no longer exists, and until when it was used (e-Stat)."""

    name: str
    prefecture: str
    until: str  # ISO date of the merger, absorption or rename that ended it
    successors: tuple[str, ...]  # codes of today's municipalities (more than one: ambiguous)


class _Hit(NamedTuple):
    org: Organization
    via: Literal["prefecture", "local", "ward", "national", "former"]
    former: FormerName | None = None


class _Match(NamedTuple):
    start: int
    end: int
    hits: tuple[_Hit, ...]


@dataclass(slots=True)
class _Index:
    keys: dict[str, list[_Hit]] = field(default_factory=dict)
    stems: dict[str, list[Organization]] = field(default_factory=dict)
    english: dict[tuple[str, ...], list[Organization]] = field(default_factory=dict)
    romaji: dict[tuple[str, str], list[Organization]] = field(default_factory=dict)
    office_keys: set[str] = field(default_factory=set)  # 都税事務所, 警視庁: may follow a place
    english_lengths: list[int] = field(default_factory=list)

    def add(self, key: str, hit: _Hit) -> None:
        hits = self.keys.setdefault(key, [])
        if not any(h.org is hit.org and h.via == hit.via for h in hits):
            hits.append(hit)

    def add_stem(self, stem: str, org: Organization) -> None:
        orgs = self.stems.setdefault(stem, [])
        if not any(o is org for o in orgs):
            orgs.append(org)


def _spellings(key: str) -> Iterator[str]:
    """Yield a normalized key and its ガ spelling (鶴ケ島 is also typed 鶴が島)."""
    yield key
    if "ケ" in key:
        yield key.replace("ケ", "ガ")


def _en_key(name: str) -> tuple[str, ...]:
    return tuple(t for t in english_tokens(name) if t not in _EN_STOP and t != "|")


class Registry:
    """All organizations, looked up by code and resolved from free text."""

    def __init__(
        self,
        organizations: Iterable[Organization],
        *,
        as_of: str = "",
        former: Iterable[FormerName] = (),
    ) -> None:
        self.as_of = as_of
        self._former = tuple(former)
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
        self._prefecture_romaji = {
            p.name: next(
                (d.split(".")[1] for d in p.email_domains if d.split(".")[0] in ("pref", "metro")),
                None,
            )
            for p in self._prefectures.values()
        }
        self._index = self._build_index()
        self._lengths = self._lengths_by_first_char()
        self._english_ready = False
        self._lazy_lock = threading.Lock()  # the lazily built indexes are built once
        self._typos: dict[str, list[Organization]] | None = None

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

    def related(self, a: Organization, b: Organization) -> bool:
        """Whether one national body sits below the other (観光庁 and 国土交通省)."""
        return self._is_below(a, b) or self._is_below(b, a)

    def domain_fits(self, org: Organization, domain: str) -> bool:
        """Whether a mail domain is the organization's: listed, or its municipal pattern."""
        owners = self.owners_of_domain(domain)
        if owners:
            return any(o == org or self.related(o, org) for o in owners)
        if not org.is_local or org.kind == "prefecture":
            return False
        parts = municipal_domain_parts(domain)
        if parts is None:
            return False
        label, pref_label = parts
        if pref_label is not None and pref_label != self._prefecture_romaji.get(org.prefecture):
            return False
        want = skeleton(kana_to_romaji(kana_stem(org)))
        got = skeleton(label)
        return bool(want) and (
            got == want
            or (
                got.startswith(want)
                and got[len(want) :] in {"si", "to", "tyo", "mati", "son", "mura", "ku"}
            )
        )

    def is_organization_name(self, text: str) -> bool:
        """Whether `text` is nothing but organization names ("富山市", "国交省", "MLIT")."""
        norm = normalize_name(text)
        matches = self._scan(norm[:_MAX_SCAN]) if norm else []
        if matches and sum(m.end - m.start for m in matches) == len(norm):
            return True
        return self._english(text, None, None) is not None

    # -- resolution ----------------------------------------------------------------------------

    def resolve(
        self, text: str, prefecture_hint: str | None = None, email_domain: str | None = None
    ) -> Resolution:
        """Resolve what an applicant typed to one organization, candidates, a union, or nothing.

        The stated prefecture and the applicant's mail domain may settle same-name candidates
        and confirm a one-character typo; neither ever replaces the name itself.
        """
        norm = normalize_name(text)
        if not norm:
            return Resolution("unresolved", text)
        hint = self.prefecture(prefecture_hint) if prefecture_hint else None
        matches = self._scan(norm[:_MAX_SCAN])
        body = _NOT_PUBLIC_BODY.search(_outside(norm, matches))
        if body:
            return self._body(text, matches, body.group())
        if _UNION.search(norm):
            return Resolution("union", text)
        if not matches:
            english = self._english(text, hint, email_domain)
            if english is not None:
                return english
            return self._resolve_without_name(text, norm, hint, email_domain)
        first = matches[0]
        vias = {h.via for h in first.hits}
        anchored = _anchored(norm, first, self._index.office_keys)
        if "prefecture" in vias and anchored:
            res = self._after_prefecture(text, norm, first, matches[1:], email_domain)
        elif "national" in vias:
            res = self._national(text, first, matches[1:])
        elif not anchored:  # 新津市 is not 津市, 上福岡市 is not 福岡市
            return Resolution("unresolved", text)
        else:
            later_prefecture = next(
                (m.hits[0].org for m in matches[1:] if m.hits[0].via == "prefecture"), None
            )
            res = self._choose(text, first.hits, (later_prefecture, hint), email_domain)
        end = matches[-1].end
        if res.typed:
            end = max(end, norm.find(res.typed, first.end) + len(res.typed))
        if res.organization is not None and res.organization.kind == "national":
            if norm[end:] in self._index.stems:  # ハローワーク富山: an office and its place
                return res
        return _with_tail(res, norm, end)

    def _body(self, text: str, matches: list[_Match], word: str) -> Resolution:
        """A body outside government; a registry entry of one (国立病院機構) is still named."""
        for match in matches:
            for hit in match.hits:
                if hit.via == "national" and not hit.org.public_servants:
                    return Resolution("resolved", text, hit.org)
        return Resolution("unresolved", text, body=word)

    def _after_prefecture(
        self,
        text: str,
        norm: str,
        first: _Match,
        rest: list[_Match],
        email_domain: str | None,
    ) -> Resolution:
        pref = first.hits[0].org
        if rest and rest[0].start == first.end:
            nxt = rest[0]
            local = tuple(
                h for h in nxt.hits if h.via != "national" and h.org.prefecture == pref.name
            )
            if local:
                return self._choose(text, local, (pref,), email_domain)
            if any(h.via in ("local", "ward") for h in nxt.hits):  # "東京都横浜市": trust the city
                return self._choose(
                    text, (h for h in nxt.hits if h.via != "national"), (), email_domain
                )
            if any(h.via == "national" for h in nxt.hits):  # 北海道労働局, 大阪税関 ...
                return self._national(text, nxt, rest[1:])
        if len(norm) > first.end and not (rest and rest[0].start == first.end):
            typo = self._typo(norm, first.end, pref, email_domain)
            if typo is not None:
                return Resolution("resolved", text, typo[0], via="typo", typed=typo[1])
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
        self,
        text: str,
        hits: Iterable[_Hit],
        prefectures: tuple[Organization | None, ...],
        email_domain: str | None = None,
    ) -> Resolution:
        hits, former = self._today_or_former(tuple(hits), prefectures, email_domain)
        orgs = tuple(dict.fromkeys(h.org for h in hits))
        for pref in prefectures:
            if len(orgs) > 1 and pref is not None:
                narrowed = tuple(o for o in orgs if o.prefecture == pref.name)
                if narrowed:
                    orgs = narrowed
        via: ResolutionVia = "name"
        if len(orgs) > 1 and email_domain:
            fitting = tuple(o for o in orgs if self.domain_fits(o, email_domain))
            if len(fitting) == 1:
                orgs, via = fitting, "domain"
        ward = next((h for h in hits if h.via == "ward" and h.org in orgs), None)
        ward_name = self._ward_name(ward.org, text) if ward else None
        if len(orgs) == 1:
            if former is not None:
                return Resolution("resolved", text, orgs[0], via="former", former=former)
            return Resolution("resolved", text, orgs[0], ward=ward_name, via=via)
        return Resolution("ambiguous", text, candidates=orgs)

    def _today_or_former(
        self,
        hits: tuple[_Hit, ...],
        prefectures: tuple[Organization | None, ...],
        email_domain: str | None,
    ) -> tuple[tuple[_Hit, ...], FormerName | None]:
        """Today's municipalities of a name, or the ones its former bearer became.

        A name borne today wins (大井町 is 神奈川県大井町) unless the stated prefecture or the mail
        domain fits only a municipality the name went into (埼玉県 + 大井町 → ふじみ野市).
        """
        former = tuple(h for h in hits if h.via == "former")
        if not former:
            return hits, None
        today = tuple(h for h in hits if h.via != "former")
        stated = {p.name for p in prefectures if p is not None}

        def fits(hit: _Hit) -> bool:
            return hit.org.prefecture in stated or bool(
                email_domain and self.domain_fits(hit.org, email_domain)
            )

        if today and (any(fits(h) for h in today) or not any(fits(h) for h in former)):
            return today, None
        chosen = tuple(h for h in former if fits(h)) or former
        names = {h.former for h in chosen if h.former is not None}
        return chosen, (names.pop() if len(names) == 1 else None)

    def _ward_name(self, city: Organization, text: str) -> str | None:
        norm = normalize_name(text)
        return next((w.name for w in city.wards if normalize_name(w.name) in norm), None)

    def _resolve_without_name(
        self, text: str, norm: str, hint: Organization | None, email_domain: str | None
    ) -> Resolution:
        stem = _OFFICE_WORDS.sub("", norm)  # "世田谷役所", "横浜", "府中", "市役所(富山)" ...
        orgs = self._index.stems.get(stem, [])
        if orgs:
            return self._choose(text, (_Hit(o, "local") for o in orgs), (hint,), email_domain)
        typo = self._typo(norm, 0, hint, email_domain)
        if typo is not None:
            res = Resolution("resolved", text, typo[0], via="typo", typed=typo[1])
            return _with_tail(res, norm, len(typo[1]))
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

    # -- one-character typos -------------------------------------------------------------------

    def _typo(
        self, norm: str, start: int, hint: Organization | None, email_domain: str | None
    ) -> tuple[Organization, str] | None:
        """A name typed with one wrong character at `start`, confirmed by prefecture or domain.

        The typed name must end as the real one does (市, 町 …) or with a character that looks
        or sounds like it (富山氏, 横浜巿), so department text is never read as a name.
        """
        if hint is None and not email_domain:
            return None
        typos = self._typo_index()
        found: dict[Organization, str] = {}
        for length in range(min(len(norm) - start, 12), 2, -1):
            typed = norm[start : start + length]
            for j in range(length):
                for org in typos.get(typed[:j] + "?" + typed[j + 1 :], ()):
                    last = normalize_name(org.name)[-1]
                    ends_alike = typed[-1] == last or typed[-1] in _CONFUSABLE_SUFFIX.get(last, ())
                    if ends_alike and _confirms(self, org, hint, email_domain):
                        found.setdefault(org, typed)
            if found:
                break
        if len(found) != 1:
            return None
        ((org, typed),) = found.items()
        return org, typed

    def _typo_index(self) -> dict[str, list[Organization]]:
        with self._lazy_lock:
            return self._typos if self._typos is not None else self._build_typo_index()

    def _build_typo_index(self) -> dict[str, list[Organization]]:
        """Each name with one character replaced by "?" (called under the registry's lock)."""
        typos: dict[str, list[Organization]] = {}
        for org in self._by_code.values():
            if not org.public_servants:
                continue
            for name in (org.name, *org.aliases):
                key = normalize_name(name)
                if len(key) < 3 or not _WORD_CHAR.search(key):
                    continue
                for j in range(len(key)):
                    orgs = typos.setdefault(key[:j] + "?" + key[j + 1 :], [])
                    if org not in orgs:
                        orgs.append(org)
        self._typos = typos
        return typos

    # -- English names -------------------------------------------------------------------------

    def _english(
        self, text: str, hint: Organization | None, email_domain: str | None
    ) -> Resolution | None:
        """Resolve an English name: a ministry or agency, or `<name> City|Town|Prefecture` …"""
        if not any("a" <= c.lower() <= "z" for c in text):
            return None
        if not self._english_ready:
            with self._lazy_lock:
                if not self._english_ready:
                    self._build_english_index()
        tokens = english_tokens(text)
        national = self._english_national(tokens)
        if national is not None:
            return Resolution("resolved", text, national, via="english")
        body = next((t for t in tokens if t in _EN_NOT_PUBLIC_BODY), None)
        if body is not None:
            return Resolution("unresolved", text, body=body)
        return self._english_local(text, tokens, hint, email_domain)

    def _english_national(self, tokens: list[str]) -> Organization | None:
        words = [t for t in tokens if t not in _EN_STOP and t != "|"]
        found: list[Organization] = []
        i = 0
        while i < len(words):
            for length in self._index.english_lengths:
                if i + length > len(words):
                    continue
                orgs = self._index.english.get(tuple(words[i : i + length]))
                if orgs:
                    found.extend(orgs)
                    i += length
                    break
            else:
                i += 1
        if not found:
            return None
        org = found[0]
        for other in found[1:]:
            if self._is_below(other, org):
                org = other
        return org

    def _english_local(
        self, text: str, tokens: list[str], hint: Organization | None, email_domain: str | None
    ) -> Resolution | None:
        local: list[Organization] = []
        prefectures: list[Organization] = []
        for stem, kinds in _english_names(tokens):
            for kind in kinds:
                for org in self._index.romaji.get((skeleton(stem), kind), ()):
                    (prefectures if kind == "prefecture" else local).append(org)
        if not local and not prefectures:
            return None
        if not local:
            res = self._choose(text, (_Hit(p, "prefecture") for p in prefectures), (hint,))
        else:
            named = tuple(dict.fromkeys(prefectures))
            res = self._choose(
                text,
                (_Hit(o, "local") for o in local),
                (*named, hint),
                email_domain,
            )
        if res.status != "resolved":
            return res
        return Resolution(
            "resolved", text, res.organization, via="domain" if res.via == "domain" else "english"
        )

    # -- index building ------------------------------------------------------------------------

    def _build_index(self) -> _Index:
        index = _Index()
        for org in self._by_code.values():
            if org.kind == "national":
                for name in (org.name, *org.aliases, org.kana):
                    for key in _spellings(normalize_name(name)):
                        index.add(key, _Hit(org, "national"))
                continue
            via: Literal["prefecture", "local"] = (
                "prefecture" if org.kind == "prefecture" else "local"
            )
            for name in (org.name, *org.aliases, org.kana):
                for key in _spellings(normalize_name(name)):
                    index.add(key, _Hit(org, via))
            if org.kind == "prefecture":
                index.office_keys.update(normalize_name(a) for a in org.aliases)
                stem = org.name[:-1] if org.name != "北海道" else org.name
            else:
                stem = org.name[:-1]
                for ward in org.wards:
                    for key in _spellings(normalize_name(org.name + ward.name)):
                        index.add(key, _Hit(org, "ward"))
                    for key in _spellings(normalize_name(ward.name)):
                        index.add(key, _Hit(org, "ward"))
            stems = [stem] + [a[:-1] for a in org.aliases if a[-1:] in "市町村区"]
            kana = kana_stem(org)
            if org.kind != "prefecture" and len(kana) >= 3:
                stems.append(kana)
            for name in stems:
                if len(name) >= 2:
                    for key in _spellings(normalize_name(name)):
                        index.add_stem(key, org)
        for former in self._former:
            for code in former.successors:
                successor = self._by_code.get(code)
                if successor is None:
                    continue
                for key in _spellings(normalize_name(former.name)):
                    index.add(key, _Hit(successor, "former", former))
        return index

    def _build_english_index(self) -> None:
        """Index English names and romanized readings (on first use: most text is Japanese).

        Called under the registry's lock: a concurrent first use waits for the whole index.
        """
        english: dict[tuple[str, ...], list[Organization]] = {}
        romaji: dict[tuple[str, str], list[Organization]] = {}
        for org in self._by_code.values():
            if org.kind == "national":
                for name in org.english:
                    key_tokens = _en_key(name)
                    if key_tokens and org not in english.get(key_tokens, ()):
                        english.setdefault(key_tokens, []).append(org)
                continue
            stem_romaji = skeleton(kana_to_romaji(kana_stem(org)))
            if stem_romaji:
                romaji.setdefault((stem_romaji, org.kind), []).append(org)
        index = self._index
        index.english, index.romaji = english, romaji
        index.english_lengths = sorted({len(k) for k in english}, reverse=True)
        self._english_ready = True

    def _lengths_by_first_char(self) -> dict[str, tuple[int, ...]]:
        lengths: dict[str, set[int]] = {}
        for key in self._index.keys:
            lengths.setdefault(key[0], set()).add(len(key))
        return {c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}


def _anchored(norm: str, match: _Match, office_keys: set[str]) -> bool:
    """Whether a place name starts the text or follows something that is not part of a word.

    An office's own name (都税事務所, 警視庁) may follow a place: 新宿都税事務所.
    """
    if match.start == 0 or not _WORD_CHAR.match(norm[match.start - 1]):
        return True
    if match.start == 1 and norm[0] == "旧":  # 旧浦和市: the former name, said so
        return True
    return norm[match.start : match.end] in office_keys


def _outside(norm: str, matches: list[_Match]) -> str:
    """The text outside the matched names, with a separator where each name was."""
    if not matches:
        return norm
    parts, pos = [], 0
    for m in matches:
        parts.append(norm[pos : m.start])
        pos = m.end
    parts.append(norm[pos:])
    return "|".join(parts)


def _with_tail(res: Resolution, norm: str, end: int) -> Resolution:
    """Mark a resolution whose text goes on with something that is not a department or office."""
    tail = norm[end:]
    if res.status != "resolved" or not tail or _OWN_UNIT.search(tail):
        return res
    return replace(res, extra=_as_typed(res.text, end) or tail)


def _as_typed(text: str, end: int) -> str:
    """The part of `text` after the first `end` characters of its normalized form."""
    seen = 0
    for i, char in enumerate(text):
        if seen >= end:
            return text[i:].strip()
        seen += len(normalize_name(char))
    return ""


def _confirms(
    registry: Registry, org: Organization, hint: Organization | None, email_domain: str | None
) -> bool:
    if hint is not None and org.is_local and org.prefecture == hint.name:
        return True
    return bool(email_domain) and registry.domain_fits(org, email_domain or "")


def _english_names(tokens: list[str]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Yield (romanized stem, kinds) for each `<stem> <kind>` or `<kind> of <stem>`."""
    for k, token in enumerate(tokens):
        kinds = _EN_KINDS.get(token)
        if kinds is None:
            for suffix, kind in _EN_ATTACHED:
                if token.endswith(suffix) and len(token) > len(suffix) + 2 and _starts(tokens, k):
                    yield token[: -len(suffix)], (kind,)
            continue
        # "<stem> <kind>": up to three words before the kind word, starting a part of the text.
        for size in (3, 2, 1):
            start = k - size
            if start < 0:
                continue
            words = tokens[start:k]
            if any(w == "|" or w in _EN_KINDS or w in _EN_STOP for w in words):
                continue
            if _starts(tokens, start):
                yield "".join(words), kinds
                break
        # "<kind> of <stem>": City of Toyama, Town of Kamiichi.
        if k + 2 < len(tokens) and tokens[k + 1] == "of" and tokens[k + 2] != "|":
            words = []
            for w in tokens[k + 2 : k + 5]:
                if w == "|" or w in _EN_KINDS or w in _EN_STOP:
                    break
                words.append(w)
            for size in range(len(words), 0, -1):
                yield "".join(words[:size]), kinds


def _starts(tokens: list[str], i: int) -> bool:
    """Whether token i starts a part of the text (a Latin name cannot begin mid-phrase)."""
    return i == 0 or tokens[i - 1] in ("|", "of", "the") or tokens[i - 1] in _EN_KINDS


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
        english=tuple(rec.get("english") or ()),
        category=str(rec.get("category", "")),
        public_servants=bool(rec.get("public_servants", True)),
    )


def municipal_domain_parts(domain: str) -> tuple[str, str | None] | None:
    """Split city.<name>[.<pref>|.lg].jp (possibly under a subdomain) into (name, pref)."""
    labels = domain.split(".")
    for i, label in enumerate(labels[:-2]):
        if label not in _MUNICIPAL_LABELS:
            continue
        rest = labels[i + 1 :]
        if len(rest) == 2 and rest[1] == "jp":
            return rest[0], None
        if len(rest) == 3 and rest[2] == "jp" and rest[1] not in _NOT_PREFECTURE_LABELS:
            return rest[0], rest[1]
        if len(rest) == 3 and rest[1:] == ["lg", "jp"]:
            return rest[0], None
    return None


_MUNICIPAL_LABELS = frozenset({"city", "town", "vill", "village"})
_NOT_PREFECTURE_LABELS = frozenset({"co", "ne", "or", "ac", "ad", "ed", "go", "gr", "lg"})


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
        (_organization_from_json(rec) for rec in doc["organizations"]),
        as_of=doc.get("as_of", ""),
        former=read_former_names() if path is None else (),
    )
    log.info("registry loaded: %s organizations as of %s", len(registry), registry.as_of)
    return registry


def read_former_names(path: Path | None = None) -> list[FormerName]:
    """Former municipality names (built by scripts/build_former_names.py from e-Stat's record)."""
    if path is None:
        raw = (
            resources.files("bot.onboarding")
            .joinpath("data/former_names.json")
            .read_text(encoding="utf-8")
        )
    else:
        raw = path.read_text(encoding="utf-8")
    return [
        FormerName(
            name=str(rec["name"]),
            prefecture=str(rec["prefecture"]),
            until=str(rec["until"]),
            successors=tuple(str(c) for c in rec["successors"]),
        )
        for rec in json.loads(raw)["former_names"]
    ]


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    """Return the shipped registry, loaded once per process."""
    return read_registry()
