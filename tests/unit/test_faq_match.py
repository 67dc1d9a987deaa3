"""Matching free Japanese text to the FAQ: normalisation, phrasings never used as keywords,
text that must not match, and the hit rate on labelled paraphrases written from the seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.community.faq_match import (
    FaqCandidate,
    best_match,
    is_small_talk,
    keywords_of,
    normalise,
    question_part,
    scores,
)
from bot.community.questions import parse_faq_file

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "bot" / "community" / "data" / "faq.toml"
PARAPHRASES = ROOT / "tests" / "data" / "faq_paraphrases.csv"


def seed_entries() -> list[FaqCandidate]:
    seeds, problems = parse_faq_file(SEED.read_text(encoding="utf-8"))
    assert problems == []
    return [
        FaqCandidate(n, s.question, s.keywords, s.answer, s.position)
        for n, s in enumerate(seeds, start=1)
    ]


ENTRIES = seed_entries()
QUESTIONS = {e.id: e.question for e in ENTRIES}
ALL_KEYWORDS = {normalise(k) for e in ENTRIES for k in e.keywords}


def answered(text: str) -> str | None:
    found = best_match(text, ENTRIES)
    return QUESTIONS[found.id] if found else None


def test_normalise_folds_width_kana_case_punctuation_and_polite_endings() -> None:
    assert normalise("ＺＯＯＭ　の使い方は？") == normalise("zoomの使い方は")
    assert normalise("ズーム") == normalise("ずーむ") == normalise("ｽﾞｰﾑ")
    assert normalise("参加できますでしょうか？？") == "参加でき"
    assert normalise("無料ですよね!") == "無料"
    assert normalise("🙏🙏") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("参加費はかかりますか", "参加料はかかりますか？"),
        ("お金かかる？", "参加料はかかりますか？"),
        ("無料ですか", "参加料はかかりますか？"),
        ("会費", "参加料はかかりますか？"),
        (
            "フェイスブックやってないんですが入れますか",
            "Facebookアカウントがないと参加は出来ないのでしょうか？",
        ),
        ("facebook持ってない", "Facebookアカウントがないと参加は出来ないのでしょうか？"),
        (
            "組織のアカウントで参加できますか",
            "組織や部署のFacebookアカウントを使用して参加できますか？",
        ),
        ("育休中でも入れますか", "公務員であれば誰でも参加できますか？"),
        ("ズームに入れません", "Zoomの使い方がわからないのですが、参加しても大丈夫ですか？"),
        (
            "zoomのやり方がわかりません",
            "Zoomの使い方がわからないのですが、参加しても大丈夫ですか？",
        ),
    ],
)
def test_phrasings_that_are_not_keywords_find_their_answer(text: str, expected: str) -> None:
    assert normalise(text) not in ALL_KEYWORDS
    assert answered(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "明日の天気は？",
        "ありがとうございます",
        "OC-7K3M9Q",
        "taro.yamada@city.toyama.lg.jp",
        "議会答弁の書き方で悩んでいます",
        "旅費の精算方法を教えてください",
        "",
        "？",
        "a",
    ],
)
def test_unrelated_text_matches_nothing(text: str) -> None:
    assert best_match(text, ENTRIES) is None


def test_matching_is_deterministic_and_ties_go_to_the_first_listed() -> None:
    twins = [
        FaqCandidate(7, "参加料はかかりますか", ("無料",), position=20),
        FaqCandidate(3, "参加料はかかりますか", ("無料",), position=10),
        FaqCandidate(5, "参加料はかかりますか", ("無料",), position=10),
    ]
    first = best_match("無料ですか", twins)
    assert first is not None and first.id == 3
    assert [m.id for m in scores("無料ですか", twins)] == [3, 5, 7]
    assert scores("無料ですか", twins) == scores("無料ですか", list(reversed(twins)))


def test_no_entries_no_match() -> None:
    assert best_match("参加費はかかりますか", []) is None


@pytest.mark.parametrize(
    "text",
    [
        "ありがとうございます！",
        "ありがとう",
        "こんにちは",
        "よろしくお願いします",
        "👍",
        "了解です",
    ],
)
def test_thanks_and_greetings_are_small_talk(text: str) -> None:
    assert is_small_talk(text)


@pytest.mark.parametrize(
    "text",
    [
        "参加費はかかりますか",
        "ありがとうございます。ところで育休中でも参加できますか？",
        "",
        # a greeting at the start is not all of it (review #17, finding 4)
        "お疲れ様です。参加費は？",
        "はい、参加費はかかりますか",
        "こんにちは！出向中でも入れますか",
        "はいれますか？",
        "okinawaの課はありますか",
        "hiroshimaの課はありますか",
        "うんどう会はありますか",
    ],
)
def test_questions_are_not_small_talk(text: str) -> None:
    assert not is_small_talk(text)


@pytest.mark.parametrize(
    "text",
    [
        "お疲れ様です",
        "おつかれさまです！",
        "ありがとうございます。よろしくお願いします",
        "thank you!",
        "承知しました",
        "はい",
        "OK",
    ],
)
def test_greetings_with_their_politeness_are_small_talk(text: str) -> None:
    assert is_small_talk(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("お疲れ様です。参加費は？", "参加料はかかりますか？"),
        ("お疲れ様です参加費はかかりますか", "参加料はかかりますか？"),
        ("はい、参加費はかかりますか", "参加料はかかりますか？"),
        ("参加費はかかりますか？よろしくお願いします", "参加料はかかりますか？"),
        ("こんにちは！出向中でも入れますか", "公務員であれば誰でも参加できますか？"),
    ],
)
def test_greetings_around_a_question_are_taken_off_before_matching(
    text: str, expected: str
) -> None:
    assert answered(text) == expected


def test_short_greetings_are_taken_off_only_as_whole_words() -> None:
    assert question_part("はいれますか？") == "はいれますか"
    assert question_part("okinawaの課はありますか") == "okinawaの課はありますか"
    assert question_part("はい、入れますか") == "入れますか"
    assert question_part("ok! okinawaの課は") == "okinawaの課は"
    assert question_part("ありがとう") == "ありがとう"  # nothing but a greeting: all of it


def test_keywords_are_one_per_line() -> None:
    assert keywords_of("無料\n\n  お金 \r\n費用") == ("無料", "お金", "費用")


def test_hit_rate_on_labelled_paraphrases() -> None:
    """Every paraphrase either finds its entry or nothing; never another entry's answer."""
    with PARAPHRASES.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    positives = [r for r in rows if r["expected_question"]]
    negatives = [r for r in rows if not r["expected_question"]]
    assert set(QUESTIONS.values()) == {r["expected_question"] for r in positives}
    hits = [r for r in positives if answered(r["text"]) == r["expected_question"]]
    wrong = [
        r["text"] for r in positives if answered(r["text"]) not in (None, r["expected_question"])
    ]
    false_hits = [r["text"] for r in negatives if answered(r["text"]) is not None]
    assert (len(positives), len(negatives)) == (37, 9)
    assert len(hits) / len(positives) >= 0.9  # 35 of 37 when written (README)
    assert wrong == []
    assert false_hits == []


def test_seed_file_entries_are_faithful_to_the_site() -> None:
    by_question = {e.question: e.answer for e in ENTRIES}
    assert by_question["参加料はかかりますか？"] == "無料でご参加いただけます。"
    assert (
        "個人アカウント" in by_question["組織や部署のFacebookアカウントを使用して参加できますか？"]
    )
    eligible = by_question["公務員であれば誰でも参加できますか？"]
    for words in ("一般職の現役公務員", "出向中", "育児休業", "産前・産後休業", "介護休業中"):
        assert words in eligible
