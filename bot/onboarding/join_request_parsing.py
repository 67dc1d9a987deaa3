"""Join requests as the secretariat enters them: `<name><TAB><answer>` or Facebook's pasted list.

Pure functions: text in, one `PastedRequest` per person out; lines that are Facebook's page
furniture (times, buttons, the membership question) are dropped. How much one input may hold is
`join_request_limits.py`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.onboarding.codes import normalize_registration_code
from bot.onboarding.lifecycle import DomainError


def find_code(text: str) -> str | None:
    """The registration code ("OC-XXXXXX") in free text, tolerant of case, width and spaces."""
    return normalize_registration_code(text)


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
