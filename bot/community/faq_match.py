"""Which FAQ entry a member's free Japanese text asks about (pure: no database, no service).

Text is normalised first (`normalise`): NFKC (full/half width), lower case, katakana folded
into hiragana, everything but letters and digits dropped (punctuation, spaces, emoji), and
politeness endings taken off the end (ですか, ますか, でしょうか, ください …). Particles inside
the text stay: taking them out is not safe (は in はなこ), and they weigh little below.

An entry scores by three kinds of evidence, each in [0, 1]:

* **keywords** (one per line in the entry): the longest keyword found in the text — a keyword
  of one character is weak evidence, of three or more strong;
* **bigram containment**: the share of the text's content bigrams (two characters, one of them
  not hiragana) found in the entry's question and keywords (or, worth half, in its answer);
* **kanji**: the share of the text's kanji found in the entry's question and keywords (or, worth
  half, in its answer), each kanji (and bigram) weighted by how few entries use it: what every
  entry has says nothing.

The best entry is returned when its score reaches `THRESHOLD`; ties go to the entry listed
first (position, then id), so the answer is deterministic.

Thanks and greetings are recognised apart (`is_small_talk`): a text is small talk only when
nothing is left once its greetings and their politeness (ございます, お願いします, 様です …) are
taken off — 「お疲れ様です。参加費は？」 is a question. A question's greetings are taken off
before it is matched (`question_part`): whole words set apart by punctuation or a space, at
its start or its end, and a greeting of three characters or more at its start even without a
separator; a short one (はい, ok, hi, うん) only with one, so 「はいれますか」 and
「okinawaの課」 stay whole.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.onboarding.names import to_hiragana

THRESHOLD = 0.64
KEYWORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.6
KANJI_WEIGHT = 0.5
ANSWER_WORTH = 0.5  # a bigram or kanji found only in the answer
GREETING_WORDS_MAX = 6  # words looked at for greetings at each end of a question
LOOSE_GREETING_MIN = 3  # a greeting this long is taken off a question's start without a separator

# Taken off the end, longest first, again and again: 「参加できますでしょうか？」→「参加でき」.
_ENDINGS = tuple(
    sorted(
        {
            "でしょうか",
            "でしょう",
            "ですか",
            "ますか",
            "ません",
            "ですが",
            "ですけど",
            "ですね",
            "ますが",
            "ました",
            "ください",
            "くださ",
            "下さい",
            "ほしい",
            "たい",
            "です",
            "ます",
            "かな",
            "けど",
            "のか",
            "なの",
            "んで",
            "のでしょうか",
            "よね",
            "かね",
            "か",
            "の",
        },
        key=len,
        reverse=True,
    )
)
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_SMALL_TALK = tuple(
    to_hiragana(w)
    for w in (
        "ありがとう",
        "ありがと",
        "有難う",
        "有り難う",
        "ありがたい",
        "サンキュー",
        "thanks",
        "thankyou",
        "thx",
        "こんにちは",
        "こんにちわ",
        "こんばんは",
        "こんばんわ",
        "おはよう",
        "はじめまして",
        "初めまして",
        "よろしく",
        "宜しく",
        "了解",
        "承知",
        "わかりました",
        "分かりました",
        "わかった",
        "助かりました",
        "おつかれ",
        "お疲れ",
        "失礼します",
        "hello",
        "hi",
        "ok",
        "okay",
        "はい",
        "いいえ",
        "うん",
    )
)
# What follows a greeting and still says nothing:
# 「ありがとう|ございます」, 「よろしく|お願いします」.
_POLITE = tuple(
    sorted(
        {
            "ございます",
            "ございました",
            "さまです",
            "さまでした",
            "様です",
            "様でした",
            "さま",
            "様",
            "おねがいします",
            "おねがいいたします",
            "お願いします",
            "お願いいたします",
            "お願い致します",
            "お願い",
            "いたします",
            "いたしました",
            "致します",
            "致しました",
            "しました",
            "します",
            "でした",
            "です",
            "ます",
            "ね",
            "よ",
            "ー",
            "っ",
        },
        key=len,
        reverse=True,
    )
)


@dataclass(frozen=True)
class FaqCandidate:
    """What the matcher needs of one FAQ entry."""

    id: int
    question: str
    keywords: tuple[str, ...] = ()
    answer: str = ""
    position: int = 0


@dataclass(frozen=True)
class Match:
    """The entry a text asks about, and how sure the matcher is (≥ THRESHOLD)."""

    id: int
    score: float


def _fold(text: str) -> str:
    """NFKC, lower case, hiragana for katakana, letters and digits only."""
    folded = to_hiragana(text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def normalise(text: str) -> str:
    """The text as the matcher compares it (see the module docstring)."""
    folded = _fold(text)
    changed = True
    while changed and folded:
        changed = False
        for ending in _ENDINGS:
            if folded.endswith(ending) and len(folded) > len(ending):
                folded = folded[: -len(ending)]
                changed = True
                break
    return folded


def _strip_greetings(folded: str, *, shortest: int = 1) -> str:
    """`folded` without the greetings (and their politeness) at its start."""
    rest, greeted = folded, False
    while rest:
        word = next((w for w in _SMALL_TALK if len(w) >= shortest and rest.startswith(w)), "")
        if not word and greeted:
            word = next((p for p in _POLITE if rest.startswith(p)), "")
        if not word:
            break
        rest, greeted = rest[len(word) :], True
    return rest


def is_small_talk(text: str) -> bool:
    """Thanks or a greeting (or only emoji and punctuation): nothing else is left in it."""
    folded = _fold(text)
    if not folded:
        return bool(text.strip())  # emoji, a thumbs-up, "！！"
    return _strip_greetings(folded) == ""


def _segments(text: str) -> list[str]:
    """The folded words of `text` as punctuation, spaces and emoji set them apart."""
    folded = to_hiragana(text).lower()
    words, word = [], []
    for ch in folded:
        if unicodedata.category(ch)[0] in "LN":
            word.append(ch)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return words


def question_part(text: str) -> str:
    """The folded text without its greetings (see the module docstring); all of it when it is
    nothing but greetings."""
    words = _segments(text)

    def said_nothing(part: Sequence[str]) -> bool:
        return _strip_greetings("".join(part)) == ""

    start = max(
        k for k in range(min(len(words), GREETING_WORDS_MAX) + 1) if said_nothing(words[:k])
    )
    end = min(
        k
        for k in range(max(start, len(words) - GREETING_WORDS_MAX), len(words) + 1)
        if said_nothing(words[k:])
    )
    rest = _strip_greetings("".join(words[start:end]), shortest=LOOSE_GREETING_MIN)
    return rest or "".join(words)


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _content_bigrams(text: str) -> set[str]:
    """Bigrams with at least one character that is not hiragana (particles weigh nothing)."""
    return {b for b in _bigrams(text) if not (_HIRAGANA.match(b[0]) and _HIRAGANA.match(b[1]))}


def _kanji(text: str) -> set[str]:
    return set(_KANJI.findall(text))


@dataclass
class _Prepared:
    entry: FaqCandidate
    keywords: tuple[str, ...]
    vocabulary: set[str]
    answer_bigrams: set[str]
    kanji: set[str] = field(default_factory=set)
    answer_kanji: set[str] = field(default_factory=set)


def _prepare(entries: Iterable[FaqCandidate]) -> list[_Prepared]:
    prepared = []
    for entry in entries:
        keywords = tuple(k for k in (_fold(k) for k in entry.keywords) if k)
        source = [normalise(entry.question), *keywords]
        vocabulary = set().union(*(_bigrams(s) for s in source))
        kanji = set().union(*(_kanji(s) for s in source))
        answer = _fold(entry.answer)
        prepared.append(
            _Prepared(entry, keywords, vocabulary, _bigrams(answer), kanji, _kanji(answer))
        )
    return prepared


def _keyword_score(text: str, keywords: Sequence[str]) -> float:
    hits = [k for k in keywords if k in text]
    if not hits:
        return 0.0
    longest = max(len(k) for k in hits)
    base = {1: 0.35, 2: 0.75}.get(longest, 1.0)
    return min(1.0, base + 0.1 * (len(hits) - 1))


def _score(text: str, item: _Prepared, weights: _Weights) -> float:
    score = KEYWORD_WEIGHT * _keyword_score(text, item.keywords)
    bigrams = _content_bigrams(text)
    if bigrams:
        total = sum(weights.bigram(b) for b in bigrams)
        found = sum(
            weights.bigram(b)
            * (1.0 if b in item.vocabulary else ANSWER_WORTH if b in item.answer_bigrams else 0.0)
            for b in bigrams
        )
        score += BIGRAM_WEIGHT * found / total
    kanji = _kanji(text)
    if kanji:
        total = sum(weights.kanji(k) for k in kanji)
        found = sum(weights.kanji(k) for k in kanji & item.kanji)
        found += ANSWER_WORTH * sum(
            weights.kanji(k) for k in (kanji & item.answer_kanji) - item.kanji
        )
        score += KANJI_WEIGHT * found / total
    return score


class _Weights:
    """How much a bigram or kanji says: the fewer entries use it, the more (idf)."""

    def __init__(self, prepared: Sequence[_Prepared]) -> None:
        count = len(prepared)
        self._most = math.log(count + 1)
        bigrams: dict[str, int] = {}
        kanji: dict[str, int] = {}
        for item in prepared:
            for b in item.vocabulary:
                bigrams[b] = bigrams.get(b, 0) + 1
            for k in item.kanji:
                kanji[k] = kanji.get(k, 0) + 1
        self._bigrams = {b: math.log((count + 1) / n) for b, n in bigrams.items()}
        self._kanji = {k: math.log((count + 1) / n) for k, n in kanji.items()}

    def bigram(self, b: str) -> float:
        return self._bigrams.get(b, self._most)

    def kanji(self, k: str) -> float:
        return self._kanji.get(k, self._most)


def scores(text: str, entries: Sequence[FaqCandidate]) -> list[Match]:
    """Every entry's score for `text`, best first (ties: position, then id)."""
    normalised = normalise(question_part(text))
    if len(normalised) < 2:
        return []
    prepared = _prepare(entries)
    weights = _Weights(prepared)
    ranked = sorted(
        ((round(_score(normalised, item, weights), 6), item.entry) for item in prepared),
        key=lambda pair: (-pair[0], pair[1].position, pair[1].id),
    )
    return [Match(entry.id, score) for score, entry in ranked]


def best_match(
    text: str, entries: Sequence[FaqCandidate], threshold: float = THRESHOLD
) -> Match | None:
    """The entry `text` asks about, or None when none scores at least `threshold`."""
    ranked = scores(text, entries)
    if not ranked or ranked[0].score < threshold:
        return None
    return ranked[0]


def keywords_of(text: str) -> tuple[str, ...]:
    """An entry's keywords as stored (one per line), blank lines dropped."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())
