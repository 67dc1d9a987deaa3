"""Facebook group join requests typed or pasted by the secretariat, matched to applications.

There is no API for a group's join requests, so the secretariat pastes what Facebook shows.
Each request (a name and the membership-question answer) is matched by registration code when
the answer holds one, else by name: kanji, kana and romaji spellings are compared after
normalisation. A request that matches nothing (or too many) is stored as unmatched and listed
for follow-up; it is never discarded. One that is not a public servant's (a spam account, a
request for another group) can be set aside as dismissed, and brought back if that was a slip.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.models import Application, JoinRequest, MessengerIdentity
from bot.onboarding import lifecycle
from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.lifecycle import OPEN, DomainError

MATCHED, UNMATCHED, DISMISSED = "matched", "unmatched", "dismissed"
MIN_CONFIDENCE = 0.75
MAX_ALTERNATIVES = 5


# -- registration codes ---------------------------------------------------------------------------
def find_code(text: str) -> str | None:
    """The registration code ("OC-XXXXXX") in free text, tolerant of case, width and spaces."""
    return normalize_registration_code(text)


# -- names ----------------------------------------------------------------------------------------
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
_NAME_SEPARATORS = re.compile(r"[\s・·･,、.()（）\-‐_]+")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
_LATIN = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々〆]")


_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def to_hiragana(text: str) -> str:
    """Katakana → hiragana (other characters unchanged)."""
    return text.translate(_KATAKANA_TO_HIRAGANA)


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


def kana_to_romaji(text: str) -> str:
    """A small Hepburn converter for names written in kana ("やまだ たろう" → "yamada tarou")."""
    kana = to_hiragana(unicodedata.normalize("NFKC", text))
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


def compact_name(text: str) -> str:
    """A name without spaces or separators, NFKC-folded, kana as hiragana."""
    return to_hiragana(_NAME_SEPARATORS.sub("", _fold(text)))


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


# -- parsing --------------------------------------------------------------------------------------
class JoinRequestFormatError(DomainError):
    """Input that is not in the expected `<name><TAB><answer>` format."""


@dataclass(frozen=True)
class PastedRequest:
    """One join request as the secretariat entered it."""

    name: str
    answer: str = ""


_NOISE_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\d+\s*(秒|分|時間|日|週間|週|か月|ヶ月|カ月|年)前(に(リクエスト|参加)?(しました)?)?$",
        r"^(リクエスト|参加リクエスト)[:：]?\s*\d+\s*(秒|分|時間|日|週間|週|か月|ヶ月|カ月|年)前$",
        r"^(約|about\s+)?(an?|\d+)\s*(second|minute|hour|day|week|month|year)s?\s+ago$",
        r"^requested\s+.*\bago$",
        r"^\d+\s*[smhdwy]$",
        r"^(承認|拒否|承認する|拒否する|ブロック|メッセージ|メッセージを送信|もっと見る|すべて承認|"
        r"すべて拒否|approve|decline|block|message|see more|approve all|decline all|"
        r"その他|フォローする|プロフィールを見る|view profile)$",
        r"^(参加リクエスト|member requests?|join requests?|メンバーリクエスト)"
        r"(\s*[(（]?\d+[)）]?)?$",
        r"^(facebookに参加|joined facebook|facebook登録|facebookを利用開始).*$",
        r"^(共通の友達|mutual friends?|\d+\s*人の共通の友達|\d+\s*mutual friends?).*$",
        r"^(居住地|出身地|lives in|from|works at|勤務先|studied at|在学|卒業).*$",
        r"^(他の\d+グループのメンバー|member of \d+ other groups?|\d+\s*グループ).*$",
    )
]
_ANSWER_PREFIX = re.compile(r"^\s*(回答|答え|a|answer)\s*[:：]\s*", re.IGNORECASE)
_QUESTION_LINE = re.compile(
    r"^\s*(質問|q|question)\s*[:：]|[?？]\s*$|(ください|下さい|教えて|お願いします|記入|入力)[。.]?\s*$"
    r"|申込番号|registration (code|number)",
    re.IGNORECASE,
)


def _is_noise(line: str) -> bool:
    folded = unicodedata.normalize("NFKC", line).strip()
    return any(p.search(folded) for p in _NOISE_LINES)


def parse_tab_separated(text: str) -> list[PastedRequest]:
    """Parse the CLI format: one `<name><TAB><answer>` per line (blank lines and # skipped)."""
    requests = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" not in line:
            raise JoinRequestFormatError(f"line {number}: expected <name><TAB><answer>")
        name, answer = line.split("\t", 1)
        if not name.strip():
            raise JoinRequestFormatError(f"line {number}: the name is empty")
        requests.append(PastedRequest(name.strip()[:200], answer.strip().replace("\t", " ")))
    return requests


def parse_pasted(text: str) -> list[PastedRequest]:
    """Parse what a reviewer pasted: TAB lines, or text copied from Facebook's request list.

    Facebook's list shows each request as the name on its own line followed by noise
    ("3日前", "Requested 2 days ago", "承認", ...), the membership question and the answer
    (sometimes prefixed "回答:"). A line after a question, a "回答:" line or a line holding a
    registration code answers the current request; any other line starts a new request.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    if any("\t" in line for line in lines):
        return parse_tab_separated(text)
    requests: list[PastedRequest] = []
    name: str | None = None
    answers: list[str] = []
    expecting_answer = False

    def flush() -> None:
        if name:
            requests.append(PastedRequest(name[:200], " ".join(answers).strip()))

    for line in (line for line in lines if line and not _is_noise(line)):
        prefixed = _ANSWER_PREFIX.match(line)
        if prefixed and name:
            answers.append(line[prefixed.end() :].strip())
            expecting_answer = False
        elif name and not answers and not find_code(line) and _QUESTION_LINE.search(line):
            expecting_answer = True  # the membership question
        elif expecting_answer and name:
            answers.append(line)
            expecting_answer = False
        elif name and not answers and find_code(line):
            answers.append(line)
        else:
            flush()
            name, answers, expecting_answer = line, [], False
    flush()
    return requests


# -- matching -------------------------------------------------------------------------------------
class Candidate(NamedTuple):
    """What the matcher knows of one application."""

    application_id: int
    code: str
    status: str
    names: tuple[str, ...]  # full name, kana, Facebook name, Messenger name
    display_name: str = ""


@dataclass(frozen=True)
class MatchOutcome:
    """The matcher's answer for one request."""

    application_id: int | None
    method: str  # code | name | "" (no match)
    confidence: float
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """Whether the request was attributed to one application."""
        return self.application_id is not None


_SCORES = {"exact": 0.9, "romaji": 0.8}


class JoinRequestMatcher:
    """Match join requests to applications: by registration code, else by normalised name."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._by_id: dict[int, Candidate] = {}
        self._by_code: dict[str, int] = {}
        self._index: dict[str, dict[str, set[int]]] = {"exact": {}, "romaji": {}}
        exact, romaji = self._index["exact"], self._index["romaji"]
        open_statuses = {s.value for s in OPEN}
        for cand in candidates:
            app_id = cand.application_id
            self._by_id[app_id] = cand
            self._by_code[cand.code.upper()] = app_id
            if cand.status not in open_statuses:
                continue  # only undecided applications are matched by name
            for spelling in set(cand.names):
                if not spelling:
                    continue
                keys = name_keys(spelling)
                for key in keys["exact"]:
                    exact.setdefault(key, set()).add(app_id)
                for key in keys["romaji"]:
                    romaji.setdefault(key, set()).add(app_id)

    def _name_scores(self, name: str) -> dict[int, tuple[float, str]]:
        scores: dict[int, tuple[float, str]] = {}
        for kind, keys in name_keys(name).items():
            for key in keys:
                for app_id in self._index[kind].get(key, ()):
                    score = _SCORES[kind]
                    if scores.get(app_id, (0.0, ""))[0] < score:
                        scores[app_id] = (score, kind)
        return scores

    @staticmethod
    def _name_agrees(name: str, cand: Candidate) -> bool:
        wanted = name_keys(name)
        for spelling in cand.names:
            if spelling and any(wanted[k] & keys for k, keys in name_keys(spelling).items()):
                return True
        return False

    def _describe(self, app_id: int, score: float, method: str) -> dict[str, Any]:
        cand = self._by_id[app_id]
        return {
            "application_id": app_id,
            "code": cand.code,
            "name": cand.display_name,
            "score": round(score, 2),
            "method": method,
        }

    def match(self, request: PastedRequest) -> MatchOutcome:
        """Attribute one request to an application, with confidence and alternatives."""
        name_scores = self._name_scores(request.name)
        code = find_code(request.answer) or find_code(request.name)
        if code and code.upper() in self._by_code:
            app_id = self._by_code[code.upper()]
            confidence = 1.0 if self._name_agrees(request.name, self._by_id[app_id]) else 0.95
            alternatives = [
                self._describe(i, s, k) for i, (s, k) in name_scores.items() if i != app_id
            ][:MAX_ALTERNATIVES]
            return MatchOutcome(
                app_id,
                "code",
                confidence,
                [self._describe(app_id, confidence, "code"), *alternatives],
            )
        ranked = sorted(name_scores.items(), key=lambda item: (-item[1][0], item[0]))
        described = [self._describe(i, s, k) for i, (s, k) in ranked[:MAX_ALTERNATIVES]]
        if not ranked:
            return MatchOutcome(None, "", 0.0, [])
        best_id, (best, _kind) = ranked[0]
        ties = [i for i, (s, _) in ranked if s == best]
        if len(ties) > 1:
            return MatchOutcome(None, "", round(best / len(ties), 2), described)
        if best < MIN_CONFIDENCE:
            return MatchOutcome(None, "", best, described)
        return MatchOutcome(best_id, "name", best, described)


# -- persistence ----------------------------------------------------------------------------------
@dataclass
class ImportedRequest:
    """One imported request and what became of it."""

    join_request_id: int
    name: str
    answer: str
    status: str  # matched | unmatched | duplicate
    application_code: str = ""
    method: str = ""
    confidence: float = 0.0
    candidates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportResult:
    """Counts and per-request outcomes of one import."""

    items: list[ImportedRequest] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many requests ended in `status`."""
        return sum(1 for item in self.items if item.status == status)

    @property
    def matched(self) -> int:
        """Requests attributed to an application."""
        return self.count(MATCHED)

    @property
    def unmatched(self) -> int:
        """Requests kept for follow-up."""
        return self.count(UNMATCHED)

    @property
    def duplicates(self) -> int:
        """Requests already entered before (not stored again)."""
        return self.count("duplicate")


def load_candidates(session: Session, codes: Sequence[str] = ()) -> list[Candidate]:
    """Open applications (matched by name) plus any application whose code was given."""
    columns = (
        Application.id,
        Application.code,
        Application.status,
        Application.full_name,
        Application.kana,
        Application.facebook_name,
        MessengerIdentity.name,
    )
    base = select(*columns).outerjoin(
        MessengerIdentity, MessengerIdentity.id == Application.messenger_identity_id
    )
    rows = list(session.execute(base.where(Application.status.in_([s.value for s in OPEN]))).all())
    if codes:
        rows += session.execute(base.where(Application.code.in_(sorted(set(codes))))).all()
    return [
        Candidate(
            application_id=r[0],
            code=r[1],
            status=r[2],
            names=(r[3], r[4], r[5], r[6] or ""),
            display_name=r[3],
        )
        for r in rows
    ]


def _mark_seen(app: Application, jr: JoinRequest, *, actor: str, at: datetime) -> None:
    lifecycle.join_request_seen(
        app,
        actor=actor,
        at=at,
        detail={"join_request_id": jr.id, "method": jr.match_method, "confidence": jr.confidence},
    )


def import_join_requests(
    session: Session, text: str | Sequence[PastedRequest], *, actor: str, at: datetime
) -> ImportResult:
    """Store pasted join requests, matching each; unmatched ones are kept for follow-up.

    A request identical to one entered before (same name and answer) is reported as a
    duplicate and not stored twice.
    """
    requests = parse_pasted(text) if isinstance(text, str) else list(text)
    codes = [c for c in (find_code(r.answer) or find_code(r.name) for r in requests) if c]
    matcher = JoinRequestMatcher(load_candidates(session, codes))
    seen_before = (
        {
            (n, a)
            for n, a in session.execute(
                select(JoinRequest.name, JoinRequest.answer).where(
                    JoinRequest.name.in_({r.name for r in requests})
                )
            ).all()
        }
        if requests
        else set()
    )
    result = ImportResult()
    stored: list[tuple[JoinRequest | None, PastedRequest]] = []
    for request in requests:
        key = (request.name, request.answer)
        if key in seen_before:
            stored.append((None, request))
            continue
        seen_before.add(key)
        outcome = matcher.match(request)
        jr = JoinRequest(
            name=request.name,
            answer=request.answer,
            entered_at=at,
            entered_by=actor,
            status=MATCHED if outcome.matched else UNMATCHED,
            application_id=outcome.application_id,
            match_method=outcome.method,
            confidence=outcome.confidence,
            candidates=outcome.candidates,
        )
        session.add(jr)
        stored.append((jr, request))
    session.flush()  # one round of inserts; ids for the audit details
    matched_ids = {jr.application_id for jr, _ in stored if jr and jr.application_id}
    apps = (
        {
            a.id: a
            for a in session.scalars(
                select(Application)
                .where(Application.id.in_(matched_ids))
                .options(selectinload(Application.history))
            )
        }
        if matched_ids
        else {}
    )
    for stored_jr, request in stored:
        if stored_jr is None:
            result.items.append(ImportedRequest(0, request.name, request.answer, "duplicate"))
            continue
        jr = stored_jr
        code = ""
        if jr.application_id is not None:
            app = apps[jr.application_id]
            code = app.code
            _mark_seen(app, jr, actor=actor, at=at)
        result.items.append(
            ImportedRequest(
                jr.id,
                jr.name,
                jr.answer,
                jr.status,
                code,
                jr.match_method,
                jr.confidence,
                jr.candidates,
            )
        )
    session.add(
        lifecycle.audit(
            None,
            actor=actor,
            at=at,
            action="join_requests_imported",
            detail={
                "matched": result.matched,
                "unmatched": result.unmatched,
                "duplicates": result.duplicates,
            },
        )
    )
    return result


def resolve_join_request(
    session: Session, jr: JoinRequest, app: Application, *, actor: str, at: datetime
) -> None:
    """A reviewer attributes an unmatched request to an application."""
    if jr.status == MATCHED:
        raise DomainError(f"join request {jr.id} is already matched")
    jr.status, jr.application_id = MATCHED, app.id
    jr.match_method, jr.confidence = "manual", 1.0
    session.flush()
    _mark_seen(app, jr, actor=actor, at=at)


def set_aside(
    session: Session, jr: JoinRequest, *, dismiss: bool, actor: str, at: datetime
) -> None:
    """Dismiss an unmatched request (`dismiss`), or bring a dismissed one back; audited.

    A dismissed request stays stored (so pasting it again reports a duplicate) and leaves the
    unmatched list and the daily digest's count.
    """
    before, after = (UNMATCHED, DISMISSED) if dismiss else (DISMISSED, UNMATCHED)
    if jr.status != before:
        raise DomainError(f"join request {jr.id} is {jr.status}, not {before}")
    jr.status = after
    action = "join_request_dismissed" if dismiss else "join_request_restored"
    session.add(lifecycle.audit(None, actor=actor, at=at, action=action, detail={"id": jr.id}))
