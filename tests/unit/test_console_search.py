"""What a console search text means, and the queue's tabs: pure rules, table-driven."""

from __future__ import annotations

import pytest

from bot.console.queue_query import TABS, QueueFilter, tab_counts
from bot.console.search import parse_search, romaji_matches


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("OC-7K3M9Q", "OC-7K3M9Q"),
        ("oc-7k3m9q", "OC-7K3M9Q"),
        ("7K3M9Q", "OC-7K3M9Q"),
        ("7k3 m9q", "OC-7K3M9Q"),
        ("ＯＣ－７Ｋ３Ｍ９Ｑ", "OC-7K3M9Q"),
        ("７Ｋ３Ｍ９Ｑ", "OC-7K3M9Q"),
        ("abcdef", "OC-ABCDEF"),  # a code without digits, typed in lower case
    ],
)
def test_a_code_is_read_with_or_without_its_prefix(typed: str, code: str) -> None:
    terms = parse_search(typed)
    assert terms is not None and code in terms.codes


@pytest.mark.parametrize("typed", ["佐藤花子", "7K3M9", "OC-", "hanako.sato@city.toyama.lg.jp"])
def test_text_that_is_no_code_looks_for_none(typed: str) -> None:
    terms = parse_search(typed)
    assert terms is not None and terms.codes == ()


@pytest.mark.parametrize(
    ("typed", "spellings"),
    [
        ("佐藤花子", ("佐藤花子",)),
        ("佐藤 花子", ("佐藤花子",)),
        ("佐藤　花子", ("佐藤花子",)),
        ("髙橋", ("高橋",)),
        ("山﨑", ("山崎",)),
        ("渡邊", ("渡辺",)),
        ("齋藤", ("斎藤",)),
        ("さとう はなこ", ("さとうはなこ", "サトウハナコ")),
        ("ｻﾄｳ ﾊﾅｺ", ("さとうはなこ", "サトウハナコ")),
        ("Hanako Sato", ("hanakosato",)),
    ],
)
def test_names_are_compared_without_spaces_width_or_variant_kanji(
    typed: str, spellings: tuple[str, ...]
) -> None:
    terms = parse_search(typed)
    assert terms is not None and terms.compact == spellings


def test_a_query_with_a_common_kanji_folds_its_variants() -> None:
    terms = parse_search("高橋")
    assert terms is not None and terms.folded_chars == {"高"}
    assert parse_search("佐藤").folded_chars == frozenset()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("typed", "romaji"),
    [
        ("Hanako Sato", "hanakosato"),
        ("sato hanako", "satohanako"),
        ("SATOH  Hanako", "satohanako"),
        ("佐藤", ""),
        ("sato1", ""),
        ("sa", ""),
        ("hanako@", ""),
    ],
)
def test_only_latin_letters_are_read_as_romaji(typed: str, romaji: str) -> None:
    terms = parse_search(typed)
    assert terms is not None and terms.romaji == romaji


@pytest.mark.parametrize(
    ("typed", "names", "found"),
    [
        ("Hanako Sato", ("サトウ ハナコ",), True),
        ("sato hanako", ("サトウ ハナコ",), True),
        ("satou", ("さとう はなこ",), True),
        ("hanako", ("サトウ ハナコ",), True),
        ("Ichiro Takahashi", ("たかはし いちろう",), True),
        ("shinji", ("シンジ",), True),
        ("Hanako Sato", ("", "Hanako Sato"), True),  # the Facebook name in romaji
        ("kato hanako", ("サトウ ハナコ",), False),
        ("hanako suzuki", ("サトウ ハナコ",), False),
        ("Hanako Sato", ("佐藤 花子",), False),  # kanji carries no romaji
    ],
)
def test_romaji_finds_a_reading_in_either_order(
    typed: str, names: tuple[str, ...], found: bool
) -> None:
    terms = parse_search(typed)
    assert terms is not None and romaji_matches(terms.romaji, names) is found


def test_blank_text_is_no_search() -> None:
    assert parse_search("") is None
    assert parse_search(" \u3000 ") is None


def test_tabs_split_open_applications_once_and_keep_decided_ones_apart() -> None:
    grouped = {
        ("ready_for_review", "verified"): 3,
        ("ready_for_review", "needs_review"): 2,
        ("awaiting_join_request", "verified"): 5,
        ("submitted", "verified"): 1,
        ("submitted", "ineligible"): 4,
        ("approved", "verified"): 6,
        ("invited", "needs_review"): 1,
        ("rejected", "ineligible"): 2,
        ("expired", "verified"): 7,
    }
    assert tab_counts(grouped) == {
        "ready": 3,
        "awaiting": 6,
        "review": 2,
        "ineligible": 4,
        "approved": 7,
        "rejected": 2,
        "all": 31,
    }
    open_tabs = [t for t in TABS if t.decidable and t.key != "all"]
    for (status, verdict), _ in grouped.items():
        holding = [t.key for t in open_tabs if t.holds(status, verdict)]
        assert len(holding) <= 1, (status, verdict, holding)
    assert [t.label for t in TABS][:6] == [
        "確認待ち",
        "参加リクエスト待ち",
        "要確認",
        "対象外",
        "承認済み",
        "却下",
    ]


@pytest.mark.parametrize(
    ("args", "tab"),
    [
        ({}, "ready"),
        ({"tab": "approved"}, "approved"),
        ({"tab": "nonsense"}, "ready"),
        ({"q": "佐藤"}, "all"),
        ({"status": "rejected"}, "all"),
        ({"tab": "awaiting", "q": "佐藤"}, "awaiting"),
    ],
)
def test_the_tab_asked_for_or_the_one_a_search_needs(args: dict[str, str], tab: str) -> None:
    assert QueueFilter.from_args(args).tab == tab


def test_a_search_keeps_at_most_a_hundred_characters() -> None:
    assert len(QueueFilter.from_args({"q": "x" * 1_000}).q) == 100
