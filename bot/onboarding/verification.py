"""Verification of an application: signals from the form answers, and one explained verdict.

Pure: no database, no Flask. The caller passes the registry and the duplicate facts it found.

Eligibility policy (from the community's own FAQ: 一般職の現役公務員, including people seconded
to private companies and on childcare/maternity/nursing leave):
- eligible: current staff of any tenure, including 会計年度任用職員, 任期付, 臨時的任用, 再任用,
  非常勤 (all 一般職), teachers, police and fire staff; 出向中; 育児休業/産休/介護休業.
- needs review: 特別職 (議員, 首長, 自衛官 ...), 内定 (not yet employed), 休職, anything unclear.
- ineligible: retired/former staff (退職, 元公務員, OB/OG), private-sector employees, students,
  job seekers, people who say they are not public servants; and an explicit refusal of consent.
A personal (webmail) address never makes anyone ineligible: it only keeps them from `verified`.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal, TypeVar
from weakref import WeakKeyDictionary

from bot.onboarding.answers import FormAnswers
from bot.onboarding.registry import Organization, Registry, Resolution

log = logging.getLogger(__name__)

VerdictStatus = Literal["verified", "needs_review", "ineligible"]
EmailClass = Literal["government", "webmail", "other", "invalid"]
Level = Literal["ok", "review", "ineligible"]

# Every reason code and what it does to the verdict.
REASON_LEVELS: dict[str, Level] = {
    "org_resolved": "ok",
    "org_ambiguous": "review",
    "org_union": "review",
    "org_unresolved": "review",
    "org_missing": "review",
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
    "status_not_public_servant": "ineligible",
    "status_unclear": "review",
    "status_missing": "review",
    "consent_given": "ok",
    "consent_missing": "review",
    "consent_refused": "ineligible",
    "facebook_name_organization": "review",
    "facebook_name_missing": "review",
    "duplicate_email": "review",
    "duplicate_name_org": "review",
    "previously_rejected": "review",
}
_LEVEL_ORDER: dict[Level, int] = {"ineligible": 0, "review": 1, "ok": 2}
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
_MUNICIPAL_LABELS = frozenset({"city", "town", "vill", "village"})
_NOT_PREFECTURE_LABELS = frozenset({"co", "ne", "or", "ac", "ad", "ed", "go", "gr", "lg"})

# Employment status patterns, tried in this order (see the module docstring).
_STATUS_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"出向"), "status_seconded"),
    (re.compile(r"育児休業|育休|産休|産前|産後|介護休業|介護休暇|出産休暇"), "status_on_leave"),
    (re.compile(r"再任用|会計年度任用"), "status_eligible"),
    (re.compile(r"議員|首長|知事|市長|町長|村長|特別職|自衛官"), "status_special_service"),
    (re.compile(r"内定|採用予定|入庁予定|就職予定"), "status_prospective"),
    (
        re.compile(
            r"退職|離職|元(地方|国家)?公務員|元職員|^元.{1,12}(職員|勤務|在籍)|(?<![A-Z])O[BG](?![A-Z])|"
            r"民間|会社員|会社役員|自営|"
            r"フリーランス|学生|求職|就活|就職活動|無職|主婦|主夫|公務員(では|じゃ)(な|あり)|公務員でな|非公務員"
        ),
        "status_not_public_servant",
    ),
    (
        re.compile(
            r"職員|正規|常勤|一般職|在職|現職|現役|任期付|臨時的任用|教員|教諭|教師|警察官|消防|"
            r"保育士|技師|主事|主査|主任|係長|課長|部長|参事|事務官|技官|公務員|勤務"
        ),
        "status_eligible",
    ),
)
# Words that say "currently employed" and so make an ineligible-looking answer unclear instead.
_CURRENTLY_EMPLOYED = re.compile(r"正職員|正規職員|在職|現職|現役|一般職|会計年度任用")
_CONSENT_REFUSED = re.compile(
    r"同意しな|同意しません|同意できな|不同意|拒否|いいえ|^NO$|^N$|^FALSE$"
)
_CONSENT_GIVEN = re.compile(r"同意|はい|承諾|了承|了解|^YES|^Y$|^OK|^TRUE$|✓|✔|☑")

# What an organization's page looks like, as opposed to a person's name.
_ORG_WORDS_JA = re.compile(
    r"市役所|区役所|町役場|村役場|役場|役所|県庁|都庁|府庁|道庁|公式|広報|事務局|委員会|協議会|"
    r"組合|センター|株式会社|観光協会|図書館|公民館|チャンネル|アカウント"
)
_ORG_ENDINGS_JA = re.compile(r"(課|係|室|局|庁|部署)$")
_ORG_WORDS_EN = re.compile(
    r"\b(city|town|village|prefecture|prefectural|official|government|office|dept|department|"
    r"section|division|bureau|ministry|council|association|center|centre|inc|ltd)\b",
    re.IGNORECASE,
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


def _municipal_parts(domain: str) -> tuple[str, str | None] | None:
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
    if _municipal_parts(domain) is not None:
        return "government"
    return "other"


_KANA_ROMAJI = dict(
    zip(
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヰヱヲン"
        "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴァィゥェォ",
        "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho "
        "ma mi mu me mo ya yu yo ra ri ru re ro wa i e o n ga gi gu ge go za ji zu ze zo da ji zu "
        "de do ba bi bu be bo pa pi pu pe po vu a i u e o".split(),
        strict=True,
    )
)
_SMALL_Y = {"ャ": "a", "ュ": "u", "ョ": "o"}
_KANA_SUFFIX = {
    "city": ("シ",),
    "town": ("チョウ", "マチ"),
    "village": ("ソン", "ムラ"),
    "special_ward": ("ク",),
}
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


@lru_cache(maxsize=4096)
def romanize(kana: str) -> str:
    """Romanize katakana roughly the Hepburn way (good enough to compare with a mail domain)."""
    out: list[str] = []
    double = False
    for ch in kana:
        if ch == "ッ":
            double = True
            continue
        if ch in _SMALL_Y and out:
            prev = out.pop()
            base = prev[:-1] if prev.endswith("i") else prev
            out.append(base + ("" if base.endswith(("sh", "ch", "j")) else "y") + _SMALL_Y[ch])
            continue
        if ch == "ー":
            continue
        rom = _KANA_ROMAJI.get(ch, "")
        if double and rom:
            rom = rom[0] + rom
            double = False
        out.append(rom)
    return "".join(out)


@lru_cache(maxsize=8192)
def skeleton(romaji: str) -> str:
    """Reduce a romanization to a form where Hepburn/Kunrei/long-vowel spellings coincide."""
    text = romaji.lower()
    for pattern, repl in _SKELETON_RULES:
        text = pattern.sub(repl, text)
    return text


def _name_label_fits(label: str, org: Organization) -> bool:
    kana = org.kana
    suffixes = _KANA_SUFFIX.get(org.kind, ())
    stem = next(
        (kana[: -len(s)] for s in suffixes if kana.endswith(s) and len(kana) > len(s)), kana
    )
    want = skeleton(romanize(stem))
    got = skeleton(label)
    if not want:
        return False
    return got == want or (
        got.startswith(want)
        and got[len(want) :] in {"si", "to", "tyo", "mati", "son", "mura", "ku"}
    )


def _prefecture_romaji(registry: Registry, org: Organization) -> str | None:
    pref = registry.prefecture(org.prefecture)
    if pref is None:
        return None
    for domain in pref.email_domains:
        parts = domain.split(".")
        if parts[0] in ("pref", "metro"):
            return parts[1]
    return None


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
        if any(o == org or _related(registry, o, org) for o in owners):
            return reason("email_government_match", domain=domain)
        return reason("email_government_other_org", domain=domain, owner=owners[0].name)
    if org is not None and org.is_local and org.kind != "prefecture":
        parts = _municipal_parts(domain)
        if parts is not None:
            label, pref_label = parts
            pref_ok = pref_label is None or pref_label == _prefecture_romaji(registry, org)
            if pref_ok and _name_label_fits(label, org):
                return reason("email_government_match", domain=domain)
    return reason("email_government_unmatched", domain=domain)


def _related(registry: Registry, a: Organization, b: Organization) -> bool:
    """Whether one national body sits below the other (観光庁 and 国土交通省)."""
    return _below(registry, a, b) or _below(registry, b, a)


def _below(registry: Registry, child: Organization, ancestor: Organization) -> bool:
    parent = child.parent
    while parent:
        if parent == ancestor.code:
            return True
        above = registry.get(parent)
        parent = above.parent if above else None
    return False


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def status_reason(employment_status: str) -> Reason:
    """Explain the employment status answer (see the policy in the module docstring)."""
    folded = _fold(employment_status)
    if not folded:
        return reason("status_missing")
    for pattern, code in _STATUS_RULES:
        if pattern.search(folded):
            if code == "status_not_public_servant" and _CURRENTLY_EMPLOYED.search(folded):
                break  # "退職予定の正職員": contradictory, so not a clear case
            return reason(code, status=employment_status.strip())
    return reason("status_unclear", status=employment_status.strip())


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


def looks_like_organization_account(facebook_name: str, registry: Registry) -> bool:
    """Whether a Facebook name looks like an organization's page rather than a person."""
    text = unicodedata.normalize("NFKC", facebook_name).strip()
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return False
    if _ORG_WORDS_JA.search(compact) or _ORG_ENDINGS_JA.search(compact):
        return True
    if _ORG_WORDS_EN.search(text):
        return True
    return registry.is_organization_name(compact)


# -- verdict -----------------------------------------------------------------------------------


def _organization_reasons(resolution: Resolution, text: str) -> list[Reason]:
    if resolution.status == "resolved" and resolution.organization is not None:
        return [reason("org_resolved", organization=resolution.organization.full_name)]
    if not text.strip():
        return [reason("org_missing")]
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


_status_reason = lru_cache(maxsize=_MEMO_SIZE)(status_reason)
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


_OrganizationSignals = tuple[Resolution, Organization | None, tuple[Reason, ...]]


def _organization_signals(
    registry: Registry, organization: str, prefecture: str
) -> _OrganizationSignals:
    """The resolution of the organization answer and its reasons, prefecture reasons included."""
    resolution = registry.resolve(organization, prefecture_hint=prefecture or None)
    org = resolution.organization if resolution.status == "resolved" else None
    reasons = _organization_reasons(resolution, organization)
    reasons.extend(_prefecture_reasons_of(prefecture, org, registry))
    return resolution, org, tuple(reasons)


def verify(
    answers: FormAnswers,
    registry: Registry,
    *,
    duplicates: DuplicateFacts = DuplicateFacts(),
    extra_allowed_domains: frozenset[str] = frozenset(),
) -> Verdict:
    """Compute the verdict on one application from its answers and the facts passed in."""
    memo = _memo(registry)
    organization, prefecture = answers.organization, answers.prefecture
    resolution, org, org_reasons = _remembered(
        memo.organization,
        (organization, prefecture),
        lambda: _organization_signals(registry, organization, prefecture),
    )
    domain = email_domain(answers.email)
    email_class = _classify_email(domain)
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
    reasons.append(_status_reason(answers.employment_status))
    reasons.append(_consent_reason(answers.consent))
    facebook_name = answers.facebook_name
    if not facebook_name.strip():
        reasons.append(reason("facebook_name_missing"))
    elif _remembered(
        memo.facebook,
        facebook_name,
        lambda: looks_like_organization_account(facebook_name, registry),
    ):
        reasons.append(reason("facebook_name_organization", facebook_name=facebook_name))
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
    levels = {REASON_LEVELS[c] for c in codes}
    if "ineligible" in levels:
        return "ineligible"
    verified = (
        "review" not in levels
        and org is not None
        and "org_resolved" in codes
        and "consent_given" in codes
        and any(c in _STATUS_OK for c in codes)
        and any(c in _EMAIL_OK for c in codes)
    )
    return "verified" if verified else "needs_review"
