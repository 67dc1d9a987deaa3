"""Join requests as the secretariat enters them: `<name><TAB><answer>` or Facebook's pasted list.

Pure functions: text in, one `PastedRequest` per person out, with the profile lines Facebook
shows beside a request kept as `evidence`. How much one input may hold is
`join_request_limits.py`.

What the text copied from Facebook's "Member requests" admin list is assumed to look like
----------------------------------------------------------------------------------------
Facebook documents the feature (admins of a group with membership approval review member
requests; up to three membership questions, and an optional "agree to the group rules"; the list
can be searched, filtered and sorted; Admin Assist can approve automatically), but publishes no
sample of the text one gets by selecting the list and copying it, and the layout changes with the
UI version, language and device. Without a real sample we assume, for each request, in this order
(any line may be missing, blank lines may appear anywhere):

1. the person's name on its own line (kanji, kana, romaji, emoji; the avatar's text, e.g.
   "山田 太郎のプロフィール写真", may precede it);
2. when it was requested: "Requested 3 hours ago", "3時間前", "1日前", "Yesterday", "昨日", …;
3. profile lines: lives in / 在住, from / 出身, works at / で働いています,
   studied at / で学びました, joined Facebook / Facebookに2010年に登録,
   mutual friends / 共通の友達, member of other groups, invited by, and
   "グループのルールに同意しました" / "Agreed to group rules";
4. each membership question, then the person's answer (one or more lines; "回答なし" or
   "No answer" when there is none);
5. the buttons: 承認 / 拒否 / ブロック / Approve / Decline / Block / …, possibly placed right after
   the name instead (a copied button's label lands wherever the button is drawn).

Above the list come header lines: the count ("5 requests", "リクエスト5件"), "Newest first" /
"新しい順", "並べ替え", "すべて承認" / "Approve all", search and filter labels.

How the text is read (`read_paste`):

* Every line is classified: furniture (headers, times, buttons: dropped), a profile line (kept as
  evidence of the current request), a membership question, or content (a name or an answer).
* The question: every request shows the group's same question(s), so a question-looking line
  ("…ください", "…？", "Q:") that occurs more than once in the paste is *the* question wherever it
  occurs; other question-looking lines are questions only where a question is due (right after a
  person's name and profile). A question may quote examples ("（例：OC-XXXX）"): it is never an
  answer and its example is never read as a code.
* A content line followed by a time or profile line (blank lines and buttons skipped) is a name:
  a new request. So the next person's name is never taken for an answer, even after a question
  left unanswered.
* A content line right after the question is the answer, whatever it says (申込番号, a question
  mark, a profile-like phrase); further content lines continue the answer (multi-line answers)
  until the next question, name or button row.
* In a paste that has none of Facebook's furniture (names typed one per line) the older rule
  holds: a line is a name unless it is a "回答:" line or a code right after a name.
* A content line that belongs to no one (above the first request: the group's name, say) is kept
  in `PasteReading.unplaced` and shown to the volunteer, never made a request.

The volunteer sees the reading before anything is saved and can merge a request into the previous
one or drop one (`apply_corrections`), so a layout we did not foresee costs a click, not a wrong
match.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.lifecycle import DomainError

MAX_NAME = 200


# A code inside an English sentence ("my code is oc 7k3 m9q thanks"), where removing every
# space (as `normalize_registration_code` does) would glue it to the words around it.
_SPACED_CODE = re.compile(
    r"(?<![A-Z0-9])[O0]C[\s\-‐‑‒–—―−ｰー_.・]*((?:[0-9A-Z][\s\-‐‑‒–—―−ｰー_.・]?){5}[0-9A-Z])(?![0-9A-Z])"
)
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ｰー_.・]+")


def find_code(text: str) -> str | None:
    """The registration code ("OC-XXXXXX") in free text, tolerant of case, width and spaces."""
    found = normalize_registration_code(text)
    if found is not None:
        return found
    folded = unicodedata.normalize("NFKC", text).upper()
    for match in _SPACED_CODE.finditer(folded):
        code = normalize_registration_code("OC" + _SEPARATORS.sub("", match.group(1)))
        if code is not None:
            return code
    return None


class JoinRequestFormatError(DomainError):
    """Input that is not in the expected `<name><TAB><answer>` format."""


@dataclass(frozen=True)
class Evidence:
    """One profile line Facebook showed beside a request, and what kind of fact it states."""

    kind: str  # lives | from | works | studied | joined | mutual | groups | invited | rules | other
    text: str


@dataclass(frozen=True)
class PastedRequest:
    """One join request as the secretariat entered it."""

    name: str
    answer: str = ""
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class PasteReading:
    """What one paste holds: the requests, and lines that belong to nobody."""

    requests: list[PastedRequest]
    unplaced: list[str] = field(default_factory=list)


# -- line kinds -----------------------------------------------------------------------------------
_UNITS_JA = r"(秒|分|時間|日|週間|週|か月|ヶ月|カ月|ケ月|年)"
_UNITS_EN = r"(second|sec|minute|min|hour|hr|day|week|month|year)s?"
_TIME_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^(約|およそ)?\d+\s*{_UNITS_JA}前(に(リクエスト|参加リクエスト|参加)?(しました|済み)?)?$",
        rf"^(参加)?リクエスト(日時|済み)?[:：]?\s*(約)?\d+\s*{_UNITS_JA}前$",
        r"^(昨日|今日|たった今|今|一昨日)(\s*\d{1,2}[:：]\d{2})?(に(リクエスト|参加リクエスト)(しました)?)?$",
        r"^(リクエスト日[:：]?\s*)?(\d{4}年)?\d{1,2}月\d{1,2}日(\s*\d{1,2}[:：]\d{2})?$",
        rf"^(requested\s+)?(about\s+|over\s+|almost\s+)?(an?|\d+)\s*{_UNITS_EN}\s+ago$",
        r"^(requested\s+)?(yesterday|today|just now)(\s+at\s+\d{1,2}:\d{2}\s*(am|pm)?)?$",
        r"^requested\s+(on\s+)?\w+\s+\d{1,2}(,\s*\d{4})?(\s+at\s+.*)?$",
        r"^requested\s+.*\bago$",
        r"^\d+\s*[smhdwy]$",
    )
]
_BUTTON_LINES = re.compile(
    r"^(承認|拒否|承認する|拒否する|ブロック|ブロックする|メッセージ|メッセージを送信|もっと見る|"
    r"さらに表示|その他|その他のオプション|フォローする|プロフィールを見る|報告|報告する|"
    r"詳細|詳細を見る|\.\.\.|…|⋯|·+|"
    r"approve|decline|block|message|send message|see more|more|more options|follow|"
    r"view profile|report|details|see details)$",
    re.IGNORECASE,
)
_HEADER_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(参加リクエスト|メンバーリクエスト|メンバーのリクエスト|member requests?|join requests?|"
        r"membership requests?|pending members?|保留中のメンバー)(\s*[(（]?\d+[)）]?\s*件?)?$",
        r"^\d+\s*(件の)?(リクエスト|参加リクエスト|メンバーリクエスト|件)$",
        r"^(リクエスト|参加リクエスト|メンバーリクエスト)\s*[:：]?\s*\d+\s*件?$",
        r"^\d+\s+(member\s+|pending\s+)?requests?$",
        r"^(newest first|oldest first|新しい順|古い順|新着順|並べ替え|並び替え|sort|sort by|"
        r"フィルター|フィルタ|filters?|絞り込み|検索|search|名前で検索|search by name|"
        r"メンバーを検索|すべて承認|すべて拒否|全て承認|全て拒否|approve all|decline all|"
        r"すべて選択|select all|管理アシスト|admin assist|管理者アシスト|"
        r"メンバーシップの質問|membership questions|参加リクエストの質問)$",
        r"^(並べ替え|並び替え|sort by|sort)\s*[:：]?\s*\S+$",
        r"^(.+のプロフィール写真|profile picture of .+|.+'s profile picture)$",
    )
]
# English profile lines start with a capital ("Went to …"): "went to my office" is an answer.
_PROFILE_PATTERNS = {
    "rules": r"(グループの?ルール|[Gg]roup'?s? rules|the rules).*(同意|[Aa]greed|[Aa]ccepted)"
    r"|^(Agreed|Accepted) to .*rules",
    "joined": r"^(Joined Facebook|[Ff]acebook\s*(に|を)?\s*(参加|登録|利用開始)|[Ff]acebook登録)"
    r"|^[Ff]acebook\s*に\s*\d{4}\s*年.*(登録|参加)",
    "mutual": r"(共通の友達|^\d+ mutual friends?$|mutual friends?$)",
    "groups": r"(他の?\s*\d+\s*(件の|個の)?グループのメンバー|^Member of \d+ (other )?groups?$)",
    "invited": r"^(Invited by\b|.+(さん)?(から|が)招待(されました|しました))",
    "lives": r"^(Lives in\b|居住地|住んでいる場所|現住所)|\S\s*(在住|に住んでいます)$",
    "from": r"^(From\b|出身地)|\S\s*出身$",
    "works": r"^(Works at\b|Worked at\b|勤務先|職場)"
    r"|\S\s*(で働いています|で働いていました|勤務)$",
    "studied": r"^(Studied at\b|Studies at\b|Went to\b|学歴|出身校)"
    r"|\S\s*(で学びました|で学んでいます|で勉強しました|に通っていました|卒業)$",
}
_PROFILE_LINES = [(kind, re.compile(p)) for kind, p in _PROFILE_PATTERNS.items()]
# A line that asks something: how a membership question looks when it is not seen twice.
_NO_ANSWER = re.compile(
    r"^[(（]?(回答なし|未回答|回答はありません|回答がありません|no answer|not answered|"
    r"didn't answer|did not answer|no response)[)）]?$",
    re.IGNORECASE,
)
_QUESTION_LIKE = re.compile(
    r"^\s*(質問|q|question)\s*\d*\s*[:：.]|[?？]\s*$|(ください|下さい|教えて|記入|入力)"
    r"|^(please|what|which|where|how|enter|tell us)\b",
    re.IGNORECASE,
)
_ANSWER_PREFIX = re.compile(r"^\s*(回答|答え|a|answer)\s*\d*\s*[:：]\s*", re.IGNORECASE)
_QUESTION_PREFIX = re.compile(r"^\s*(質問|q|question)\s*\d*\s*[:：.]\s*", re.IGNORECASE)

BLANK, FURNITURE, BUTTON, TIME, PROFILE, QUESTION, NO_ANSWER, CONTENT = (
    "blank",
    "furniture",
    "button",
    "time",
    "profile",
    "question",
    "no_answer",
    "content",
)
_CLOSING_BUTTONS = re.compile(r"^(承認|拒否|承認する|拒否する|approve|decline)$", re.IGNORECASE)


def _fold(line: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", line).split())


def profile_kind(line: str) -> str | None:
    """The kind of profile fact a line states ("works", "lives", …), or None."""
    folded = _fold(line)
    if len(folded) > 120:
        return None  # a sentence, not Facebook's one-line fact
    for kind, pattern in _PROFILE_LINES:
        if pattern.search(folded):
            return kind
    return None


def _is_time(folded: str) -> bool:
    parts = [p.strip() for p in re.split(r"\s+[·・•]\s+", folded)]
    return all(any(p.search(part) for p in _TIME_LINES) for part in parts if part)


def _kind(line: str, questions: Collection[str]) -> str:
    folded = _fold(line)
    if not folded:
        return BLANK
    if folded in questions:
        return QUESTION
    if _BUTTON_LINES.match(folded):
        return BUTTON
    if _NO_ANSWER.match(folded):
        return NO_ANSWER
    if _is_time(folded) or any(p.search(folded) for p in _HEADER_LINES):
        return TIME if _is_time(folded) else FURNITURE
    if profile_kind(folded):
        return PROFILE
    return CONTENT


def _repeated_questions(lines: list[str]) -> set[str]:
    """Question-looking lines seen more than once: the group's membership question(s)."""
    counts = Counter(_fold(line) for line in lines if line.strip())
    return {
        text
        for text, n in counts.items()
        if n > 1
        and _QUESTION_LIKE.search(text)
        and not _ANSWER_PREFIX.match(text)
        and not _BUTTON_LINES.match(text)
        and profile_kind(text) is None
    }


# -- reading --------------------------------------------------------------------------------------
@dataclass
class _Draft:
    name: str
    evidence: list[Evidence] = field(default_factory=list)
    answers: list[list[str]] = field(default_factory=list)
    state: str = "head"  # head → asked → answering → closed
    question: str = ""  # the question last asked

    def ask(self, question: str) -> None:
        self.answers.append([])
        self.state, self.question = "asked", question

    def request(self) -> PastedRequest:
        answer = " / ".join(" ".join(part) for part in self.answers if part)
        return PastedRequest(self.name.strip()[:MAX_NAME], answer.strip(), tuple(self.evidence))


def read_paste(text: str) -> PasteReading:
    """Read what a reviewer pasted: TAB lines, or text copied from Facebook's request list."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if any("\t" in line for line in lines):
        return PasteReading(parse_tab_separated(text))
    questions = _repeated_questions(lines)
    kinds = [_kind(line, questions) for line in lines]
    framed = any(k in (TIME, PROFILE, BUTTON) for k in kinds) or bool(questions)
    drafts: list[_Draft] = []
    unplaced: list[str] = []

    def next_text(index: int) -> str:
        return next((_fold(t) for t in lines[index + 1 :] if t), "")

    def next_kind(index: int) -> str:
        for later in range(index + 1, len(lines)):
            if kinds[later] not in (BLANK, BUTTON):
                asks = kinds[later] == CONTENT and _QUESTION_LIKE.search(_fold(lines[later]))
                return QUESTION if asks else kinds[later]
        return BLANK

    for index, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        current = drafts[-1] if drafts else None
        if kind in (BLANK, FURNITURE, TIME):
            continue
        if kind == BUTTON:
            if (
                current
                and current.state in ("asked", "answering")
                and _CLOSING_BUTTONS.match(_fold(line))
            ):
                current.state = "closed"
            continue
        if kind == PROFILE:
            if current and current.state == "asked":
                current.answers[-1].append(line)  # a profile-like answer ("…で働いています")
                current.state = "answering"
            elif current:
                current.evidence.append(Evidence(profile_kind(line) or "other", _fold(line)))
            else:
                unplaced.append(line)
            continue
        if kind == NO_ANSWER:
            if current and current.state == "asked":
                current.state = "answering"
            continue
        if kind == QUESTION:
            if current and current.state == "asked" and _fold(line) == current.question:
                current.answers[-1].append(line)  # the question copied as its own answer
                current.state = "answering"
            elif current:
                current.ask(_fold(line))
            else:
                unplaced.append(line)
            continue
        if _fold(line) == next_text(index):
            continue  # the same line twice in a row (the avatar's text, then the name's link)
        _take_content(line, next_kind(index), current, drafts, unplaced, framed=framed)
    return PasteReading([d.request() for d in drafts], unplaced)


def _take_content(
    line: str,
    following: str,
    current: _Draft | None,
    drafts: list[_Draft],
    unplaced: list[str],
    *,
    framed: bool,
) -> None:
    """Place one content line: a new person's name, an answer, or evidence."""
    prefixed = _ANSWER_PREFIX.match(line)
    if following in (TIME, PROFILE) and not prefixed:
        drafts.append(_Draft(line))
    elif current is None:
        if framed and following != QUESTION and not find_code(line):
            unplaced.append(line)
        else:
            drafts.append(_Draft(line))
    elif current.state == "asked":
        current.answers[-1].append(line[prefixed.end() :].strip() if prefixed else line)
        current.state = "answering"
    elif prefixed:
        current.answers.append([line[prefixed.end() :].strip()])
        current.state = "answering"
    elif current.state == "head" and _QUESTION_PREFIX.match(line):
        current.ask(_fold(line))
    elif current.state == "head" and _QUESTION_LIKE.search(_fold(line)) and not find_code(line):
        current.ask(_fold(line))
    elif current.state == "head" and find_code(line):
        current.answers.append([line])
        current.state = "answering"
    elif current.state == "head" and _fold(line) == _fold(current.name):
        pass  # the name twice (avatar text and link): one person
    elif framed and current.state == "answering":
        current.answers[-1].append(line)
    elif framed and current.state == "head":
        current.evidence.append(Evidence("other", _fold(line)))
    else:
        drafts.append(_Draft(line))


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
        requests.append(PastedRequest(name.strip()[:MAX_NAME], answer.strip().replace("\t", " ")))
    return requests


def parse_pasted(text: str) -> list[PastedRequest]:
    """The requests of what a reviewer pasted (see `read_paste` and the module's notes)."""
    return read_paste(text).requests


def one_request(name: str, answer: str, profile: str = "") -> list[PastedRequest]:
    """The request of the one-request form (name, answer, optional profile lines)."""
    if not name.strip():
        return []
    evidence = tuple(
        Evidence(profile_kind(line) or "other", _fold(line))
        for line in profile.splitlines()
        if line.strip()
    )
    answer_text = " ".join(part.strip() for part in answer.splitlines() if part.strip())
    return [PastedRequest(name.strip()[:MAX_NAME], answer_text, evidence)]


@dataclass(frozen=True)
class CorrectedRequest:
    """A request after the volunteer's corrections, and which read requests made it."""

    request: PastedRequest
    sources: tuple[int, ...]


def apply_corrections(
    requests: Iterable[PastedRequest], *, merge: Collection[int] = (), drop: Collection[int] = ()
) -> list[CorrectedRequest]:
    """Drop the requests at `drop`; fold each one at `merge` into the previous kept request.

    A merged request's name joins the previous answer unless it is the same name (one person
    read twice); its answer and evidence follow.
    """
    corrected: list[CorrectedRequest] = []
    for index, request in enumerate(requests):
        if index in drop:
            continue
        if index in merge and corrected:
            head = corrected[-1]
            base = head.request
            extra = [] if _fold(request.name) == _fold(base.name) else [request.name]
            answer = " ".join(p for p in (base.answer, *extra, request.answer) if p)
            merged = PastedRequest(base.name, answer, base.evidence + request.evidence)
            corrected[-1] = CorrectedRequest(merged, (*head.sources, index))
            continue
        corrected.append(CorrectedRequest(request, (index,)))
    return corrected
