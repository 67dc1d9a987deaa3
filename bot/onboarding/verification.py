"""Verification of an application: signals from the form answers, and one explained verdict.

Pure: no database, no Flask. The caller passes the registry and the duplicate facts it found.

The verdict fails closed: `verified` needs every signal positive (organization, mail domain,
employment status, consent, a Facebook name that is the applicant's own); anything unknown,
unclear or contradictory is `needs_review` with a reason; `ineligible` is only for an
unambiguous answer (a refusal of consent, or a status that says nothing but "not a public
servant").

Eligibility policy (from the community's own FAQ: 一般職の現役公務員, including people seconded
to private companies and on childcare/maternity/nursing leave):
- eligible: current staff of any tenure, including 会計年度任用職員, 任期付, 臨時的任用, 再任用,
  非常勤 (all 一般職), 交流採用, teachers, police and fire staff; 出向中 and 官民人事交流's
  交流派遣; 育児休業/産休/介護休業 — each only when nothing around it says "future", "former",
  "not" or "maybe".
- needs review: 特別職 (議員, 首長, 自衛官 …), 内定, aspirants (目指す, 志望, 受験), agency and
  contract staff (派遣, 委託, 請負), 休職, a future or former status, contradictions, anything
  unclear; bodies whose staff are not public servants; a Facebook name that shares nothing with
  the applicant's name or reads as an organization.
- ineligible: a status that is only "retired / private sector / student / job seeker / not a
  public servant" (退職しました, 民間企業の社員です, 学生です …), or an explicit refusal of consent.
A personal (webmail) address never makes anyone ineligible: it only keeps them from `verified`.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal, TypeVar
from weakref import WeakKeyDictionary

from bot.onboarding.answers import FormAnswers
from bot.onboarding.names import kana_to_romaji, skeleton
from bot.onboarding.registry import (
    Organization,
    Registry,
    Resolution,
    municipal_domain_parts,
    normalize_name,
)

log = logging.getLogger(__name__)

VerdictStatus = Literal["verified", "needs_review", "ineligible"]
EmailClass = Literal["government", "webmail", "other", "invalid"]
Level = Literal["ok", "review", "ineligible"]
StatusChoice = Literal["eligible", "ineligible", "review"]
STATUS_CHOICES: tuple[str, ...] = ("eligible", "ineligible", "review")

# Every reason code and what it does to the verdict.
REASON_LEVELS: dict[str, Level] = {
    "org_resolved": "ok",
    "org_resolved_typo": "ok",
    "org_resolved_by_domain": "ok",
    "org_resolved_former": "ok",
    "org_ambiguous": "review",
    "org_union": "review",
    "org_unresolved": "review",
    "org_missing": "review",
    "org_not_public": "review",
    "org_extra_text": "review",
    "email_government_match": "ok",
    "email_allowed_domain": "ok",
    "email_personal": "review",
    "email_government_other_org": "review",
    "email_government_unmatched": "review",
    "email_other": "review",
    "email_invalid": "review",
    "prefecture_match": "ok",
    "prefecture_mismatch": "review",
    "prefecture_unknown": "review",
    "prefecture_missing": "review",
    "service_type_mismatch": "review",
    "status_eligible": "ok",
    "status_seconded": "ok",
    "status_on_leave": "ok",
    "status_special_service": "review",
    "status_prospective": "review",
    "status_aspiring": "review",
    "status_contract": "review",
    "status_suspended": "review",
    "status_hedged": "review",
    "status_contradictory": "review",
    "status_choice_review": "review",
    "status_not_public_servant": "ineligible",
    "status_unclear": "review",
    "status_missing": "review",
    "consent_given": "ok",
    "consent_missing": "review",
    "consent_refused": "ineligible",
    "facebook_name_matches": "ok",
    "facebook_name_organization": "review",
    "facebook_name_unrelated": "review",
    "facebook_name_unchecked": "review",
    "facebook_name_missing": "review",
    "duplicate_email": "review",
    "duplicate_name_org": "review",
    "previously_rejected": "review",
}
_LEVEL_ORDER: dict[Level, int] = {"ineligible": 0, "review": 1, "ok": 2}
_ORG_OK = frozenset(
    {"org_resolved", "org_resolved_typo", "org_resolved_by_domain", "org_resolved_former"}
)
_EMAIL_OK = frozenset({"email_government_match", "email_allowed_domain"})
_STATUS_OK = frozenset({"status_eligible", "status_seconded", "status_on_leave"})

WEBMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.co.jp",
        "ymail.ne.jp",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "outlook.com",
        "outlook.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "live.jp",
        "live.com",
        "msn.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "ymobile.ne.jp",
        "disney.ne.jp",
        "uqmobile.jp",
        "rakuten.jp",
        "nifty.com",
        "nifty.ne.jp",
        "biglobe.ne.jp",
        "ocn.ne.jp",
        "so-net.ne.jp",
        "plala.or.jp",
        "dion.ne.jp",
        "excite.co.jp",
        "infoseek.jp",
        "jcom.home.ne.jp",
        "zaq.ne.jp",
        "kcn.ne.jp",
        "eonet.ne.jp",
        "mail.goo.ne.jp",
        "tiki.ne.jp",
    }
)

# -- employment status: a small lexicon ------------------------------------------------------------
# Phrases, tried leftmost and, at one position, in this order (so longer and more specific
# phrases win: 公務員試験 before 公務員, 民間企業へ出向 before 民間). The text is NFKC-folded,
# upper-cased and without spaces. Whatever no phrase covers is the "rest", read for markers.
_STATUS_PHRASES: tuple[tuple[str, str], ...] = (
    # words that merely contain a marker character
    (
        "neutral",
        r"元気|地元|身元|手元|足元|紀元|元年|元旦|元日|市長部局|知事部局|市長公室|知事公室",
    ),
    # 官民人事交流 (交流派遣) keeps the person a national public servant
    ("exchange", r"官民人事交流|人事交流|交流派遣"),
    ("dispatch_out", r"民間(?:企業)?(?:へ|に)(?:の)?派遣"),
    ("inbound", r"(?:民間(?:企業)?|企業|会社)から(?:の)?(?:出向|派遣)"),
    ("seconded", r"(?:民間(?:企業)?|企業|会社)?(?:へ|に)?(?:の)?出向"),
    (
        "eligible",
        r"再任用[(（]?(?:定年)?退職後[)）]?|(?:定年)?退職後(?:の|に)?再任用|交流採用",
    ),
    ("leave", r"育児休業|育児休暇|育休|産前産後|産休|産前|産後|介護休業|介護休暇|出産休暇"),
    ("suspended", r"休職|病気休暇|病休|療養休暇"),
    (
        "future",
        r"退職予定|退職見込|辞職予定|退職する予定|予定|見込|来年度|来年|来月|来春|次年度|今後|将来",
    ),
    (
        "special",
        r"議員|副市長|副知事|首長|知事|市長|町長|村長|特別職|自衛官|教育長|裁判官|副大臣|大臣|政務官",
    ),
    ("prospective", r"内定|採用前|入庁前|入省前|着任前|合格"),
    (
        "aspirant",
        r"公務員試験|採用試験|試験勉強|受験|目指|めざ|志望|志願|なりたい|予備校|浪人|勉強中",
    ),
    (
        "contract",
        r"派遣社員|派遣職員|派遣スタッフ|派遣労働|派遣会社|人材派遣|派遣|業務委託|委託|受託|請負|"
        r"指定管理|アルバイト|バイト",
    ),
    (
        "private",
        r"民間企業の(?:会社員|社員|従業員)|民間(?:企業)?(?:で|に)?(?:勤務|勤めて|働いて)(?:います|いる)?|"
        r"民間企業|民間|株式会社|有限会社",
    ),
    (
        "negative",
        r"退職者|退職済み?|退職しました|退職した|定年退職|退職|離職|辞職|元(?:地方|国家)?公務員|元職員|"
        r"元.{1,12}?(?:職員|勤務|在籍)|(?<![A-Z])O[BG](?![A-Z])|民間企業の社員|会社員|会社役員|"
        r"自営業?|フリーランス|個人事業主|大学院生|大学生|高校生|専門学校生|学生|求職|"
        r"就職活動|就活|無職|専業主婦|主婦|主夫|年金生活者?|会社経営者?|経営者|"
        r"公務員(?:では|じゃ)(?:ない|ありません|ないです)|公務員でない|非公務員",
    ),
    ("hedge", r"わからない|分からない|わかりません|不明|未定|かも|たぶん|多分|検討中|[?？]"),
    ("weak", r"パートタイム|パート|非正規|正社員|社員|看護師|講師|その他"),
    (
        "eligible",
        r"正規職員|正職員|常勤職員|非常勤職員|非常勤|常勤|一般職|行政職|技術職|事務職|在職|現職|現役|"
        r"任期付き?|臨時的任用|臨時職員|臨時|会計年度任用|再任用|嘱託|職員|教員|教諭|教師|警察官|"
        r"巡査|消防士|消防吏員|消防|保育士|保健師|技師|主事|主査|主任|主幹|係長|課長|部長|局長|"
        r"参事|事務官|技官|公務員|勤務|在籍|正規|(?:市|町|村|区|県|都|府|道)立|公立",
    ),
)
_STATUS_SCAN = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(_STATUS_PHRASES)))
_STATUS_CLASS = {f"g{i}": cls for i, (cls, _) in enumerate(_STATUS_PHRASES)}
# Markers in the rest of the answer that keep a reading from being clear.
_REST_MARKERS = re.compile(
    r"(?P<former>^元|[(（、,]元|前職|以前|かつて|でした|だった|していた|してました|経験)|"
    r"(?P<negation>ない|ません|ず|なし|無し|NOT|(?<![A-Z])NO(?![A-Z])|非)"
)
# What may surround an unambiguous negative answer ("2024年3月に退職しました。").
_FILLER = re.compile(
    r"です|しました|ました|した|ます|おります|います|現在は?|今は?|中|の|に|は|を|で|と|も|へ|、|。|!|・|"
    r"[()（）]|"
    r"\d+|昨年度?|去年|先月|前年度?|年度?|月|日|頃|ごろ|末|春|夏|秋|冬|[,.]"
)
_PRIVATE = frozenset({"private"})
_CURRENT = frozenset({"eligible", "seconded", "leave", "suspended", "exchange"})

_CONSENT_REFUSED = re.compile(
    r"同意しな|同意しません|同意できな|不同意|拒否|いいえ|^NO$|^N$|^FALSE$"
)
_CONSENT_GIVEN = re.compile(r"同意|はい|承諾|了承|了解|^YES|^Y$|^OK|^TRUE$|✓|✔|☑")

# -- Facebook names ------------------------------------------------------------------------------
# What an organization's page looks like, as opposed to a person's name.
_ORG_WORDS_JA = re.compile(
    r"市役所|区役所|町役場|村役場|役場|役所|県庁|都庁|府庁|道庁|公式|広報|事務局|委員会|協議会|"
    r"組合|センター|株式会社|観光協会|協会|図書館|公民館|チャンネル|アカウント|窓口|相談|受付|"
    r"推進|事業|支援|情報|ふるさと|移住|定住|観光|振興|プロジェクト|実行委員|道の駅|市政|県政|区政|"
    r"町政|村政|事務所|お知らせ|総務|企画|子育て|福祉|防災"
)
_ORG_ENDINGS_JA = re.compile(r"(課|係|室|局|庁|署|班|部署|部局|支所)$")
_ORG_WORDS_EN = re.compile(
    r"\b(city|town|village|prefecture|prefectural|official|government|office|dept|department|"
    r"section|division|bureau|ministry|agency|authority|commission|council|association|center|"
    r"centre|inc|ltd|hall|municipal|public|services?|team|project|desk|support|info|"
    r"information|tourism|tourist|promotion|library|museum|school|university|hospital|police|"
    r"fire|committee|channel|news)\b",
    re.IGNORECASE,
)
_NAME_SEPARATORS = re.compile(r"[\s・･·,、.．()（）\[\]「」【】/／_\-‐|]+")
_CJK_OR_KANA = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々〆]")
_LATIN = re.compile(r"^[a-z]+$")
# One script at a time: "やまだ太郎" is compared as やまだ and 太郎.
_SCRIPT_RUNS = re.compile(
    r"[\u3400-\u9fff\uf900-\ufaff々〆]+|[\u3040-\u30ff]+|[^\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々〆]+"
)


@dataclass(frozen=True, slots=True)
class Reason:
    """One explained finding: a stable machine code and a short Japanese sentence."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class DuplicateFacts:
    """Registration codes of other applications that look like the same person (from the DB)."""

    same_email: tuple[str, ...] = ()
    same_name_and_org: tuple[str, ...] = ()
    previously_rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The conclusion on one application, with every reason that led to it."""

    status: VerdictStatus
    reasons: tuple[Reason, ...]
    organization_code: str | None
    organization_name: str | None
    organization_prefecture: str | None
    email_class: EmailClass
    resolution_status: str

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """The machine codes of the reasons, in order."""
        return tuple(r.code for r in self.reasons)


@lru_cache(maxsize=1)
def reason_catalog() -> dict[str, str]:
    """Return reason code -> Japanese sentence template, from reasons_ja.toml."""
    raw = resources.files("bot.onboarding").joinpath("reasons_ja.toml").read_text("utf-8")
    return dict(tomllib.loads(raw)["reasons"])


def reason(code: str, **params: object) -> Reason:
    """Build a Reason with its Japanese sentence filled in."""
    return Reason(code, reason_catalog()[code].format(**params))


# -- signals -----------------------------------------------------------------------------------


def email_domain(email: str) -> str | None:
    """Return the lower-case domain of an address, or None if it is not an address."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or " " in domain:
        return None
    return domain.rstrip(".")


def _has_suffix(domain: str, suffixes: frozenset[str]) -> bool:
    labels = domain.split(".")
    return any(".".join(labels[i:]) in suffixes for i in range(len(labels) - 1))


def classify_email(domain: str | None) -> EmailClass:
    """Classify a mail domain as government, webmail or other (None = not an address)."""
    if domain is None:
        return "invalid"
    if _has_suffix(domain, WEBMAIL_DOMAINS):
        return "webmail"
    if domain.endswith((".lg.jp", ".go.jp", ".ed.jp")) or domain == "metro.tokyo.jp":
        return "government"
    labels = domain.split(".")
    if any(
        labels[i] in ("pref", "metro") and labels[-1] == "jp" and len(labels) - i == 3
        for i in range(len(labels) - 2)
    ):
        return "government"
    if municipal_domain_parts(domain) is not None:
        return "government"
    return "other"


def email_reason(
    domain: str | None,
    email_class: EmailClass,
    org: Organization | None,
    registry: Registry,
    extra_allowed_domains: frozenset[str],
) -> Reason:
    """Explain the e-mail signal: does the address fit the resolved organization?"""
    if domain is None:
        return reason("email_invalid")
    if extra_allowed_domains and _has_suffix(domain, extra_allowed_domains):
        return reason("email_allowed_domain", domain=domain)
    if email_class == "webmail":
        return reason("email_personal", domain=domain)
    if email_class == "other":
        return reason("email_other", domain=domain)
    owners = registry.owners_of_domain(domain)
    if org is not None and owners:
        if registry.domain_fits(org, domain):
            return reason("email_government_match", domain=domain)
        return reason("email_government_other_org", domain=domain, owner=owners[0].name)
    if org is not None and registry.domain_fits(org, domain):
        return reason("email_government_match", domain=domain)
    return reason("email_government_unmatched", domain=domain)


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def status_reason(
    employment_status: str, choices: Mapping[str, StatusChoice] | None = None
) -> Reason:
    """Explain the employment status answer (see the policy in the module docstring).

    `choices` maps the form's fixed choices (folded) to what each means; a choice found there
    is read exactly, anything else by the lexicon.
    """
    folded = _fold(employment_status)
    status = employment_status.strip()
    if not folded:
        return reason("status_missing")
    choice = choices.get(folded) if choices else None
    if choice == "eligible":
        return reason("status_eligible", status=status)
    if choice == "ineligible":
        return reason("status_not_public_servant", status=status)
    if choice == "review":
        return reason("status_choice_review", status=status)
    return _read_status(folded, status)


def _read_status(folded: str, status: str) -> Reason:
    """Read a free-text status: which phrases it holds, and what the rest says around them."""
    found: dict[str, str] = {}
    rest: list[str] = []
    pos = 0
    for m in _STATUS_SCAN.finditer(folded):
        rest.append(folded[pos : m.start()])
        pos = m.end()
        found.setdefault(_STATUS_CLASS[m.lastgroup or ""], m.group())
    rest.append(folded[pos:])
    remainder = "、".join(rest)
    marker = _REST_MARKERS.search(remainder)
    classes = set(found)
    if "dispatch_out" in classes:  # 民間企業へ派遣: a public servant only under 官民人事交流
        classes.discard("dispatch_out")
        classes.add("seconded" if "exchange" in classes else "contract")
    if "exchange" in classes:
        classes.add("seconded")
    if "seconded" in classes:  # 民間企業へ出向中: the company is where they are seconded to
        classes -= _PRIVATE
    if classes & {"contract", "inbound"}:
        return reason("status_contract", status=status)
    if "aspirant" in classes:
        return reason("status_aspiring", status=status)
    if "prospective" in classes:
        return reason("status_prospective", status=status)
    if "special" in classes:
        return reason("status_special_service", status=status)
    negative = classes & {"negative", "private"}
    if negative and classes & _CURRENT:
        return reason("status_contradictory", status=status)
    if negative:
        hedge = [c for c in ("future", "hedge", "weak") if c in classes]
        if marker is None and not hedge and not _FILLER.sub("", remainder.replace("、", "")):
            return reason("status_not_public_servant", status=status)
        word = marker.group() if marker else found[hedge[0]] if hedge else ""
        if word:
            return reason("status_hedged", status=status, marker=word)
        return reason("status_unclear", status=status)
    if "suspended" in classes:
        return reason("status_suspended", status=status)
    if classes & {"eligible", "seconded", "leave"}:
        hedge_word = found.get("future") or found.get("hedge")
        if hedge_word or marker is not None:
            word = hedge_word or (marker.group() if marker else "")
            return reason("status_hedged", status=status, marker=word)
        if "seconded" in classes:
            return reason("status_seconded", status=status)
        if "leave" in classes:
            return reason("status_on_leave", status=status)
        return reason("status_eligible", status=status)
    if "future" in classes or "hedge" in classes:
        return reason("status_hedged", status=status, marker=found.get("future") or found["hedge"])
    return reason("status_unclear", status=status)


def consent_reason(consent: str) -> Reason:
    """Explain the consent answer: given, missing, or refused."""
    folded = _fold(consent)
    if not folded:
        return reason("consent_missing")
    if _CONSENT_REFUSED.search(folded):
        return reason("consent_refused")
    if _CONSENT_GIVEN.search(folded):
        return reason("consent_given")
    return reason("consent_missing")


# -- Facebook name -----------------------------------------------------------------------------


def organization_reading(facebook_name: str, registry: Registry) -> str | None:
    """The word that makes a name read as an organization, department or service, or None."""
    text = unicodedata.normalize("NFKC", facebook_name).strip()
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return None
    word = _ORG_WORDS_JA.search(compact)
    if word:
        return word.group()
    for token in _NAME_SEPARATORS.split(text):
        if len(token) >= 3 and _ORG_ENDINGS_JA.search(token):
            return token
    english = _ORG_WORDS_EN.search(text)
    if english:
        return english.group()
    if registry.is_organization_name(text):
        return text
    return None


def looks_like_organization_account(facebook_name: str, registry: Registry) -> bool:
    """Whether a Facebook name looks like an organization's page rather than a person."""
    return organization_reading(facebook_name, registry) is not None


@dataclass(frozen=True, slots=True)
class _PersonName:
    """The applicant's name in every spelling the form gives: kanji, kana, romaji."""

    written: str  # folded, no spaces (kanji, or however it was written)
    kana: str  # folded to katakana, no spaces
    romaji: frozenset[str]  # skeletons of each part and of the whole, in either order
    unsplit: frozenset[str]  # skeletons of readings given without a space (ヤマダタロウ)
    initials: frozenset[str]


def _person_name(full_name: str, kana: str) -> _PersonName:
    parts: list[str] = []
    unsplit: list[str] = []
    for text in (kana, full_name):
        tokens = [
            t for t in _NAME_SEPARATORS.split(unicodedata.normalize("NFKC", text).lower()) if t
        ]
        found = []
        for token in tokens:
            if _CJK_OR_KANA.search(token):
                if not re.search(r"[\u3400-\u9fff々]", token):  # kana only
                    found.append(skeleton(kana_to_romaji(token)))
            elif _LATIN.match(token):
                found.append(skeleton(token))
        if len(tokens) == 1 and found and len(found[0]) >= 5:
            unsplit.append(found[0])
        parts.extend(found)
    parts = [p for p in parts if p]
    romaji = set(parts)
    if len(parts) >= 2:
        romaji.add("".join(parts[:2]))
        romaji.add("".join(reversed(parts[:2])))
    return _PersonName(
        written=normalize_name(full_name),
        kana=normalize_name(kana),
        romaji=frozenset(romaji),
        unsplit=frozenset(unsplit),
        initials=frozenset(p[0] for p in parts if p),
    )


def _token_matches(token: str, person: _PersonName) -> bool:
    """Whether one part of a Facebook name is (part of) the applicant's name."""
    norm = normalize_name(token)
    if not norm:
        return False
    if _CJK_OR_KANA.search(norm):
        for whole in (person.written, person.kana):
            if not whole:
                continue
            if len(norm) >= 2 and norm in whole:
                return True
            if len(norm) == 1 and (whole.startswith(norm) or whole.endswith(norm)):
                return True
        return False
    key = skeleton(norm)
    if len(key) < 2:
        return False
    if key in person.romaji:
        return True
    return len(key) >= 3 and any(  # "Taro" in ヤマダタロウ, read without its space
        len(whole) > len(key) and (whole.startswith(key) or whole.endswith(key))
        for whole in person.unsplit
    )


def facebook_name_reasons(
    facebook_name: str, full_name: str, kana: str, registry: Registry
) -> list[Reason]:
    """Is the Facebook name the applicant's own? Say which rule fired when it may not be."""
    shown = facebook_name.strip()
    if not shown:
        return [reason("facebook_name_missing")]
    person = _person_name(full_name, kana)
    tokens = [
        run
        for t in _NAME_SEPARATORS.split(unicodedata.normalize("NFKC", shown))
        for run in _SCRIPT_RUNS.findall(t)
    ]
    latin = "".join(t.lower() for t in tokens if not _CJK_OR_KANA.search(t))
    matched = [t for t in tokens if _token_matches(t, person)]
    if not matched and len(latin) > 2 and skeleton(latin) in person.romaji:
        matched = [t for t in tokens if not _CJK_OR_KANA.search(t)]  # "Yamadataro"
    rest = [t for t in tokens if t not in matched]
    initials = [t for t in rest if len(t) == 1 and t.isascii() and t.isalpha()]
    fitting_initials = [t for t in initials if t.lower() in person.initials]
    if not matched and len(fitting_initials) >= 2 and len(fitting_initials) == len(tokens):
        matched = fitting_initials  # "T. Y."
    if matched:
        rest = [t for t in rest if t not in fitting_initials]
    reasons = []
    word = organization_reading(" ".join(rest if matched else tokens), registry)
    if word is not None:
        reasons.append(reason("facebook_name_organization", facebook_name=shown, word=word))
    if matched:
        return reasons or [reason("facebook_name_matches", facebook_name=shown)]
    comparable = any(_CJK_OR_KANA.search(t) for t in tokens) or bool(person.romaji)
    if comparable:
        reasons.append(reason("facebook_name_unrelated", facebook_name=shown))
    elif word is None:
        reasons.append(reason("facebook_name_unchecked", facebook_name=shown))
    return reasons


# -- verdict -----------------------------------------------------------------------------------


def _organization_reasons(resolution: Resolution, text: str) -> list[Reason]:
    org = resolution.organization
    if resolution.status == "resolved" and org is not None:
        if resolution.via == "typo":
            out = [reason("org_resolved_typo", typed=resolution.typed, organization=org.full_name)]
        elif resolution.via == "domain":
            out = [reason("org_resolved_by_domain", text=text, organization=org.full_name)]
        elif resolution.via == "former" and resolution.former is not None:
            year, month, day = (int(part) for part in resolution.former.until.split("-"))
            out = [
                reason(
                    "org_resolved_former",
                    former=resolution.former.prefecture + resolution.former.name,
                    until=f"{year}年{month}月{day}日",
                    organization=org.full_name,
                )
            ]
        else:
            out = [reason("org_resolved", organization=org.full_name)]
        if not org.public_servants:
            out.append(reason("org_not_public", organization=org.full_name, body=org.category))
        if resolution.extra:
            out.append(
                reason(
                    "org_extra_text", text=text, organization=org.full_name, extra=resolution.extra
                )
            )
        return out
    if not text.strip():
        return [reason("org_missing")]
    if resolution.body:
        return [reason("org_not_public", organization=text.strip(), body=resolution.body)]
    if resolution.status == "ambiguous":
        names = "、".join(c.full_name for c in resolution.candidates[:5])
        if len(resolution.candidates) > 5:
            names += " ほか"
        return [reason("org_ambiguous", text=text, candidates=names)]
    if resolution.status == "union":
        return [reason("org_union", text=text)]
    return [reason("org_unresolved", text=text)]


def _prefecture_reasons_of(
    prefecture: str, org: Organization | None, registry: Registry
) -> list[Reason]:
    stated_text = prefecture.strip()
    if not stated_text:
        return [reason("prefecture_missing")]
    stated = registry.prefecture(stated_text)
    if stated is None:
        return [reason("prefecture_unknown", stated=stated_text)]
    if org is None or not org.is_local:
        return []
    if stated.name != org.prefecture:
        return [reason("prefecture_mismatch", stated=stated.name, prefecture=org.prefecture)]
    return [reason("prefecture_match", prefecture=org.prefecture)]


def _duplicate_reasons(duplicates: DuplicateFacts) -> list[Reason]:
    out = []
    if duplicates.same_email:
        out.append(reason("duplicate_email", codes="、".join(duplicates.same_email)))
    if duplicates.same_name_and_org:
        out.append(reason("duplicate_name_org", codes="、".join(duplicates.same_name_and_org)))
    if duplicates.previously_rejected:
        out.append(reason("previously_rejected", codes="、".join(duplicates.previously_rejected)))
    return out


# -- memoised steps ------------------------------------------------------------------------------
# Most answers repeat across applications (organizations, prefectures, mail domains, statuses,
# consent wording), so each step that depends on one or two answers only is remembered per
# registry (a Registry is immutable once built). Reasons and resolutions are frozen, so sharing
# them between verdicts is safe. Each table is simply emptied when it reaches _MEMO_SIZE.

_MEMO_SIZE = 8_192
_T = TypeVar("_T")


class _Memo:
    """Remembered steps of `verify` for one registry."""

    __slots__ = ("email", "facebook", "organization")

    def __init__(self) -> None:
        self.organization: dict[Hashable, object] = {}
        self.email: dict[Hashable, object] = {}
        self.facebook: dict[Hashable, object] = {}


_MEMOS: WeakKeyDictionary[Registry, _Memo] = WeakKeyDictionary()


def _memo(registry: Registry) -> _Memo:
    memo = _MEMOS.get(registry)
    if memo is None:
        memo = _MEMOS[registry] = _Memo()
    return memo


def _remembered(table: dict[Hashable, object], key: Hashable, compute: Callable[[], _T]) -> _T:
    try:
        return table[key]  # type: ignore[return-value]
    except KeyError:
        pass
    value = compute()
    if len(table) >= _MEMO_SIZE:
        table.clear()
    table[key] = value
    return value


@lru_cache(maxsize=_MEMO_SIZE)
def _status_reason(employment_status: str, choices: tuple[tuple[str, str], ...]) -> Reason:
    return status_reason(employment_status, dict(choices) if choices else None)  # type: ignore[arg-type]


_consent_reason = lru_cache(maxsize=_MEMO_SIZE)(consent_reason)
_classify_email = lru_cache(maxsize=_MEMO_SIZE)(classify_email)


@lru_cache(maxsize=_MEMO_SIZE)
def _service_type_needs(service_type: str) -> bool | None:
    """True: local only, False: national only, None: any organization fits."""
    folded = _fold(service_type)
    if "国家" in folded:
        return False
    if "地方" in folded:
        return True
    return None


def fold_status_choices(choices: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The `[verification] status_choices` table folded for look-up; bad meanings dropped."""
    out = []
    for text, meaning in (choices or {}).items():
        if meaning in STATUS_CHOICES:
            out.append((_fold(text), meaning))
        else:
            log.warning(
                "status_choices: ignoring a choice whose meaning is not one of %s", STATUS_CHOICES
            )
    return tuple(sorted(out))


_OrganizationSignals = tuple[Resolution, Organization | None, tuple[Reason, ...]]


def _organization_signals(
    registry: Registry, organization: str, prefecture: str, domain: str | None
) -> _OrganizationSignals:
    """The resolution of the organization answer and its reasons, prefecture reasons included."""
    resolution = registry.resolve(
        organization, prefecture_hint=prefecture or None, email_domain=domain
    )
    org = resolution.organization if resolution.status == "resolved" else None
    reasons = _organization_reasons(resolution, organization)
    reasons.extend(_prefecture_reasons_of(prefecture, org, registry))
    return resolution, org, tuple(reasons)


def _organization_step(
    memo: _Memo,
    registry: Registry,
    organization: str,
    prefecture: str,
    domain: str | None,
    email_class: EmailClass,
) -> _OrganizationSignals:
    """Resolve without the mail domain; only a same-name or typo question asks for it."""
    first = _remembered(
        memo.organization,
        (organization, prefecture, None),
        lambda: _organization_signals(registry, organization, prefecture, None),
    )
    settled = first[0].status in ("resolved", "union") or bool(first[0].body)
    if settled or email_class != "government":
        return first
    return _remembered(
        memo.organization,
        (organization, prefecture, domain),
        lambda: _organization_signals(registry, organization, prefecture, domain),
    )


def verify(
    answers: FormAnswers,
    registry: Registry,
    *,
    duplicates: DuplicateFacts = DuplicateFacts(),
    extra_allowed_domains: frozenset[str] = frozenset(),
    status_choices: tuple[tuple[str, str], ...] = (),
) -> Verdict:
    """Compute the verdict on one application from its answers and the facts passed in.

    `status_choices` is `fold_status_choices(settings' [verification] status_choices)`.
    """
    memo = _memo(registry)
    organization, prefecture = answers.organization, answers.prefecture
    domain = email_domain(answers.email)
    email_class = _classify_email(domain)
    resolution, org, org_reasons = _organization_step(
        memo, registry, organization, prefecture, domain, email_class
    )
    org_code = org.code if org is not None else None

    reasons = list(org_reasons)
    reasons.insert(
        1,  # after the organization reason, before the prefecture ones
        _remembered(
            memo.email,
            (domain, org_code, extra_allowed_domains),
            lambda: email_reason(domain, email_class, org, registry, extra_allowed_domains),
        ),
    )
    if org is not None and answers.service_type:
        needs_local = _service_type_needs(answers.service_type)
        if needs_local is not None and needs_local != org.is_local:
            reasons.append(
                reason(
                    "service_type_mismatch",
                    service_type=answers.service_type.strip(),
                    organization=org.full_name,
                )
            )
    reasons.append(_status_reason(answers.employment_status, status_choices))
    reasons.append(_consent_reason(answers.consent))
    facebook_name, full_name, kana = answers.facebook_name, answers.full_name, answers.kana
    reasons.extend(
        _remembered(
            memo.facebook,
            (facebook_name, full_name, kana),
            lambda: facebook_name_reasons(facebook_name, full_name, kana, registry),
        )
    )
    if duplicates.same_email or duplicates.same_name_and_org or duplicates.previously_rejected:
        reasons.extend(_duplicate_reasons(duplicates))

    reasons.sort(key=_reason_order)
    status = _conclude(tuple(r.code for r in reasons), org)
    return Verdict(
        status=status,
        reasons=tuple(reasons),
        organization_code=org_code,
        organization_name=org.name if org else None,
        organization_prefecture=(org.prefecture or None) if org else None,
        email_class=email_class,
        resolution_status=resolution.status,
    )


def _reason_order(r: Reason) -> int:
    return _LEVEL_ORDER[REASON_LEVELS[r.code]]


def _conclude(codes: tuple[str, ...], org: Organization | None) -> VerdictStatus:
    """Ineligible on an unambiguous answer; verified only when every signal is positive."""
    levels = {REASON_LEVELS[c] for c in codes}
    if "ineligible" in levels:
        return "ineligible"
    verified = (
        "review" not in levels
        and org is not None
        and org.public_servants
        and any(c in _ORG_OK for c in codes)
        and "consent_given" in codes
        and "facebook_name_matches" in codes
        and any(c in _STATUS_OK for c in codes)
        and any(c in _EMAIL_OK for c in codes)
    )
    return "verified" if verified else "needs_review"
