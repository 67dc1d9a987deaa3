"""JoinRequestMatcher: codes first, then kanji/kana/romaji-aware names."""

from __future__ import annotations

import pytest

from bot.onboarding.join_request_matching import Candidate, JoinRequestMatcher
from bot.onboarding.join_request_parsing import PastedRequest, find_code
from bot.onboarding.names import (
    canonical_romaji,
    kana_to_romaji,
    person_key,
    skeleton,
    to_hiragana,
    to_katakana,
)

YAMADA = Candidate(
    1, "OC-7K3M9Q", "awaiting_join_request", ("山田 太郎", "ヤマダ タロウ", "", ""), "山田 太郎"
)
SUZUKI = Candidate(
    2,
    "OC-AB12CD",
    "submitted",
    ("鈴木 花子", "すずき はなこ", "Hanako Suzuki", "Hana Suzuki"),
    "鈴木 花子",
)
SATO_OLD = Candidate(3, "OC-0000AA", "rejected", ("佐藤 一郎", "サトウ イチロウ", "", ""), "")
SATO = Candidate(
    4, "OC-0000AB", "ready_for_review", ("佐藤 一郎", "サトウイチロウ", "", ""), "佐藤 一郎"
)


def matcher() -> JoinRequestMatcher:
    return JoinRequestMatcher([YAMADA, SUZUKI, SATO_OLD, SATO])


@pytest.mark.parametrize(
    "answer",
    [
        "OC-7K3M9Q",
        "oc-7k3m9q",
        "OC 7K3 M9Q",
        "ＯＣ－７Ｋ３Ｍ９Ｑ",
        "申込番号は oc7k3m9q です",
        "0C-7K3M9Q",
    ],
)
def test_code_in_the_answer_matches_whatever_its_spelling(answer: str) -> None:
    outcome = matcher().match(PastedRequest("Someone Else", answer))
    assert (outcome.application_id, outcome.method) == (1, "code")
    assert outcome.confidence == 0.95  # the name does not agree


def test_code_and_name_agreeing_is_full_confidence() -> None:
    outcome = matcher().match(PastedRequest("山田太郎", "OC-7K3M9Q"))
    assert (outcome.application_id, outcome.confidence) == (1, 1.0)


def test_code_matches_a_decided_application_too() -> None:
    outcome = matcher().match(PastedRequest("x", "OC-0000AA"))
    assert outcome.application_id == 3


@pytest.mark.parametrize(
    "name",
    [
        "山田 太郎",
        "山田太郎",
        "山田　太郎",
        "ヤマダ タロウ",
        "やまだ たろう",
        "やまだたろう",
        "Taro Yamada",
        "YAMADA Taro",
        "Tarō Yamada",
        "Taroh Yamada",
        "taro  yamada",
    ],
)
def test_name_spellings_of_one_person_match(name: str) -> None:
    outcome = matcher().match(PastedRequest(name, "よろしくお願いします"))
    assert (outcome.application_id, outcome.method) == (1, "name"), name
    assert 0.75 <= outcome.confidence < 1


def test_facebook_and_messenger_names_are_used() -> None:
    assert matcher().match(PastedRequest("Hanako Suzuki")).application_id == 2
    assert matcher().match(PastedRequest("Hana Suzuki")).application_id == 2
    assert matcher().match(PastedRequest("すずき はなこ")).application_id == 2


def test_decided_applications_are_not_matched_by_name() -> None:
    outcome = matcher().match(PastedRequest("Ichiro Sato"))
    assert outcome.application_id == 4  # the rejected one with the same name is ignored


def test_a_name_shared_by_two_open_applications_is_ambiguous() -> None:
    twin = Candidate(5, "OC-0000AC", "submitted", ("佐藤 一郎", "", "", ""), "佐藤 一郎")
    outcome = JoinRequestMatcher([SATO, twin]).match(PastedRequest("佐藤一郎"))
    assert outcome.application_id is None
    assert {c["code"] for c in outcome.candidates} == {"OC-0000AB", "OC-0000AC"}
    assert outcome.confidence < 0.75


def test_unknown_name_and_unknown_code_match_nothing() -> None:
    outcome = matcher().match(PastedRequest("John Smith", "OC-ZZZZZZ"))
    assert outcome.application_id is None and outcome.candidates == []


def test_partial_names_do_not_match() -> None:
    assert matcher().match(PastedRequest("山田")).application_id is None
    assert matcher().match(PastedRequest("Taro")).application_id is None


@pytest.mark.parametrize(
    ("kana", "romaji"),
    [
        ("やまだ たろう", "yamada tarou"),
        ("しょうへい", "shouhei"),
        ("きっちょむ", "kitchomu"),
        ("ジェームズ", "jemuzu"),
        ("ちあき", "chiaki"),
        ("ふじ", "fuji"),
        ("しんいち", "shin'ichi".replace("'", "")),
    ],
)
def test_kana_to_hepburn(kana: str, romaji: str) -> None:
    assert kana_to_romaji(kana) == romaji


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("satou", "Satoh"),
        ("ohno", "Ono"),
        ("shinji", "sinzi"),
        ("tsutomu", "tutomu"),
        ("homma", "honma"),
        ("yuuko", "yuko"),
        ("kouhei", "kohei"),
    ],
)
def test_romanisation_variants_collapse(a: str, b: str) -> None:
    assert canonical_romaji(a) == canonical_romaji(b.lower())


def test_find_code_returns_none_without_a_code() -> None:
    assert find_code("よろしくお願いします") is None


# -- the one set of name rules (bot/onboarding/names.py) ------------------------------------------
@pytest.mark.parametrize(
    ("text", "hiragana", "katakana"),
    [
        ("ヤマダ", "やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "やまだ たろう", "ヤマダ タロウ"),  # half-width kana
        ("やまだ", "やまだ", "ヤマダ"),
        ("山田", "山田", "山田"),
    ],
)
def test_one_kana_conversion_for_every_caller(text: str, hiragana: str, katakana: str) -> None:
    assert (to_hiragana(text), to_katakana(text)) == (hiragana, katakana)


@pytest.mark.parametrize(
    ("kana", "romaji"),
    [
        ("やまだ たろう", "yamada tarou"),
        ("ヤマダ タロウ", "yamada tarou"),
        ("きょうこ", "kyouko"),
        ("しゅんいち", "shunichi"),
        ("はっとり", "hattori"),
        ("いっちょう", "itchou"),
        ("トヤマ", "toyama"),
        ("ホッカイドウ", "hokkaidou"),
    ],
)
def test_one_romaniser_for_people_and_places(kana: str, romaji: str) -> None:
    assert kana_to_romaji(kana) == romaji


@pytest.mark.parametrize(
    ("a", "b"),
    [("Satoh", "さとう"), ("Syunichi", "しゅんいち"), ("Ohno", "おおの"), ("Toyama", "トヤマ")],
)
def test_romaji_spellings_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(kana_to_romaji(b))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("山田 太郎", "山田太郎", True),
        ("山田　太郎", "山田 太郎", True),
        ("ＹＡＭＡＤＡ Taro", "yamada taro", True),
        ("山田 太郎", "山田 次郎", False),
    ],
)
def test_one_definition_of_the_same_name(a: str, b: str, same: bool) -> None:
    assert (person_key(a) == person_key(b)) is same


NEAR = [YAMADA, SUZUKI, Candidate(9, "OC-5HJW8R", "awaiting_join_request", ("森 一",), "森 一")]


@pytest.mark.parametrize(
    ("answer", "suggested"),
    [
        ("OC-7K3M9P", ["OC-7K3M9Q"]),  # one wrong character
        ("OC-AB21CD", ["OC-AB12CD"]),  # two neighbours swapped
        ("OC-5HJW8", ["OC-5HJW8R"]),  # one missing
        ("OC-5HJW8RR", ["OC-5HJW8R"]),  # one extra
        ("申込番号はＯＣ－５ＨＪＷ８Ｐです", ["OC-5HJW8R"]),  # full width, in a sentence
        ("5HJW8P", ["OC-5HJW8R"]),  # without OC-
    ],
)
def test_a_mistyped_code_is_suggested_never_matched(answer: str, suggested: list[str]) -> None:
    outcome = JoinRequestMatcher(NEAR).match(PastedRequest("知らない 人", answer))
    assert not outcome.matched
    assert [c["code"] for c in outcome.candidates if c["method"] == "near_code"] == suggested


@pytest.mark.parametrize("answer", ["7K3M9Q", "7k3 m9q", "７Ｋ３Ｍ９Ｑ", "0C-7K3M9Q", "OC-7K3M9Q"])
def test_a_code_equal_after_folding_matches_with_or_without_its_prefix(answer: str) -> None:
    outcome = JoinRequestMatcher(NEAR).match(PastedRequest("知らない 人", answer))
    assert outcome.application_id == 1 and outcome.method == "code"


def test_look_alike_letters_fold_to_digits() -> None:
    matcher = JoinRequestMatcher([Candidate(5, "OC-A01B1C", "submitted", ("x",), "x")])
    for typed in ("OC-AO1B1C", "OC-A0IBLC", "ao1bic"):
        assert matcher.match(PastedRequest("知らない 人", typed)).application_id == 5, typed


def test_a_near_code_is_listed_beside_a_name_match() -> None:
    outcome = JoinRequestMatcher(NEAR).match(PastedRequest("山田 太郎", "OC-5HJW8P"))
    assert outcome.application_id == 1 and outcome.method == "name"
    assert ("OC-5HJW8R", "near_code") in {(c["code"], c["method"]) for c in outcome.candidates}


def test_words_are_not_codes() -> None:
    outcome = JoinRequestMatcher(NEAR).match(PastedRequest("知らない 人", "thanks OC-XXXX"))
    assert outcome.candidates == []
