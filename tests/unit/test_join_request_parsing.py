"""Parsing what reviewers paste: TAB lines and text copied from Facebook's request list."""

from __future__ import annotations

import pytest

from bot.onboarding.join_request_parsing import (
    Evidence,
    JoinRequestFormatError,
    PastedRequest,
    apply_corrections,
    find_code,
    one_request,
    parse_pasted,
    parse_tab_separated,
    profile_kind,
    read_paste,
)


def test_tab_separated_lines() -> None:
    text = "山田 太郎\tOC-7K3M9Q\n\n# comment\nHanako Suzuki\t回答\tmore\n"
    assert parse_tab_separated(text) == [
        PastedRequest("山田 太郎", "OC-7K3M9Q"),
        PastedRequest("Hanako Suzuki", "回答 more"),
    ]


@pytest.mark.parametrize(
    ("text", "message"), [("no tab\n", "line 1"), ("a\tb\n\tanswer\n", "line 2: the name is empty")]
)
def test_tab_separated_refuses_bad_lines_with_the_line_number(text: str, message: str) -> None:
    with pytest.raises(JoinRequestFormatError, match=message):
        parse_tab_separated(text)


JAPANESE_LIST = """参加リクエスト（3）
すべて承認
山田 太郎
2日前
Facebookに参加: 2015年4月
共通の友達3人
申込番号を入力してください。
ｏｃ－７ｋ３ｍ９ｑ
承認
拒否
鈴木 花子
5時間前
質問: オンライン市役所をどこで知りましたか？
回答: 同僚の紹介
佐藤 一郎
1週間前
"""

ENGLISH_LIST = """Member requests
Taro Yamada
Requested 2 days ago
Joined Facebook in 2012
Lives in Toyama
What is your registration code?
OC-7K3M9Q
Approve
Decline
Hanako Suzuki
Requested about an hour ago
Answer: OC-AB12CD
"""


def test_facebook_list_in_japanese() -> None:
    assert parse_pasted(JAPANESE_LIST) == [
        PastedRequest(
            "山田 太郎",
            "ｏｃ－７ｋ３ｍ９ｑ",
            (
                Evidence("joined", "Facebookに参加: 2015年4月"),
                Evidence("mutual", "共通の友達3人"),
            ),
        ),
        PastedRequest("鈴木 花子", "同僚の紹介"),
        PastedRequest("佐藤 一郎", ""),
    ]


def test_facebook_list_in_english() -> None:
    assert parse_pasted(ENGLISH_LIST) == [
        PastedRequest(
            "Taro Yamada",
            "OC-7K3M9Q",
            (Evidence("joined", "Joined Facebook in 2012"), Evidence("lives", "Lives in Toyama")),
        ),
        PastedRequest("Hanako Suzuki", "OC-AB12CD"),
    ]


def test_code_line_right_after_a_name_is_its_answer() -> None:
    assert parse_pasted("山田 太郎\noc 7k3m9q\n佐藤 一郎\n") == [
        PastedRequest("山田 太郎", "oc 7k3m9q"),
        PastedRequest("佐藤 一郎", ""),
    ]


def test_names_alone_one_per_line() -> None:
    assert parse_pasted("山田 太郎\r\n\r\nHanako Suzuki\r\n") == [
        PastedRequest("山田 太郎"),
        PastedRequest("Hanako Suzuki"),
    ]


def test_pasted_text_with_tabs_uses_the_tab_format() -> None:
    assert parse_pasted("山田\tOC-7K3M9Q") == [PastedRequest("山田", "OC-7K3M9Q")]


def test_nothing_pasted() -> None:
    assert parse_pasted("\n  \n3日前\n") == []


QUESTION = "申込番号（例：OC-XXXX）を入力してください"


def test_an_answer_containing_the_word_申込番号_stays_that_persons_answer() -> None:
    text = (
        f"山田 太郎\n3時間前\n{QUESTION}\n申込番号を忘れました\n承認\n拒否\n"
        f"鈴木 花子\n5時間前\n{QUESTION}\n申込番号はOC-AB12CDです\n承認\n拒否\n"
    )
    assert parse_pasted(text) == [
        PastedRequest("山田 太郎", "申込番号を忘れました"),
        PastedRequest("鈴木 花子", "申込番号はOC-AB12CDです"),
    ]


def test_the_next_persons_name_is_never_an_unanswered_question_s_answer() -> None:
    text = f"山田 太郎\n1日前\n{QUESTION}\n鈴木 花子\n2日前\n{QUESTION}\nOC-AB12CD\n"
    assert parse_pasted(text) == [
        PastedRequest("山田 太郎", ""),
        PastedRequest("鈴木 花子", "OC-AB12CD"),
    ]


def test_header_and_profile_lines_are_not_requests() -> None:
    text = (
        "5 requests\nNewest first\nメンバーリクエスト\n並べ替え\nすべて承認\nApprove all\n"
        "山田 太郎\nRequested 3 hours ago\n東京都 在住\n厚生労働省で働いています\n"
        "グループのルールに同意しました\nFacebookに2010年に登録\nWorks at 富山市役所\n"
        f"{QUESTION}\nOC-7K3M9Q\nApprove\nDecline\n"
    )
    reading = read_paste(text)
    assert [r.name for r in reading.requests] == ["山田 太郎"]
    assert [e.kind for e in reading.requests[0].evidence] == [
        "lives",
        "works",
        "rules",
        "joined",
        "works",
    ]


def test_a_question_quoting_an_example_code_is_not_an_answer() -> None:
    question = "申込番号（例：OC-7K3M9Q）を入力してください"
    text = f"山田 太郎\n3時間前\n{question}\nわかりません\n鈴木 花子\n4時間前\n{question}\n"
    assert [find_code(r.answer) for r in parse_pasted(text)] == [None, None]


def test_lines_above_the_first_request_are_kept_apart() -> None:
    reading = read_paste("オンライン市役所\nメンバーリクエスト\n山田 太郎\n3時間前\n")
    assert reading.unplaced == ["オンライン市役所"]
    assert reading.requests == [PastedRequest("山田 太郎")]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Works at 富山市役所", "works"),
        ("厚生労働省で働いています", "works"),
        ("東京都 在住", "lives"),
        ("Lives in Toyama", "lives"),
        ("Studied at 東北大学", "studied"),
        ("Facebookに2010年に登録", "joined"),
        ("Joined Facebook in 2009", "joined"),
        ("共通の友達12人", "mutual"),
        ("8 mutual friends", "mutual"),
        ("グループのルールに同意しました", "rules"),
        ("Agreed to group rules", "rules"),
        ("went to my personal address", None),
        ("申込番号を忘れました", None),
    ],
)
def test_profile_line_kinds(line: str, kind: str | None) -> None:
    assert profile_kind(line) == kind


def test_a_code_inside_an_english_sentence_is_found() -> None:
    assert find_code("my code is oc 7k3 m9q thanks") == "OC-7K3M9Q"


def test_corrections_merge_into_the_previous_request_and_drop_junk() -> None:
    requests = [
        PastedRequest("山田 太郎", "OC-7K3M9Q", (Evidence("lives", "東京都 在住"),)),
        PastedRequest("山田 太郎", "", (Evidence("works", "総務省で働いています"),)),
        PastedRequest("総務省 自治行政局", "（出向中）"),
        PastedRequest("5 requests"),
        PastedRequest("鈴木 花子", "OC-AB12CD"),
    ]
    corrected = apply_corrections(requests, merge={1, 2}, drop={3})
    assert [c.sources for c in corrected] == [(0, 1, 2), (4,)]
    first = corrected[0].request
    assert first.name == "山田 太郎"
    assert first.answer == "OC-7K3M9Q 総務省 自治行政局 （出向中）"
    assert [e.kind for e in first.evidence] == ["lives", "works"]
    assert apply_corrections(requests, merge={0})[0].sources == (0,)  # nothing before the first


def test_one_request_form() -> None:
    assert one_request(
        "  山田 太郎 ", "OC-7K3M9Q\nよろしく", "Works at 富山市役所\n\n趣味は登山"
    ) == [
        PastedRequest(
            "山田 太郎",
            "OC-7K3M9Q よろしく",
            (Evidence("works", "Works at 富山市役所"), Evidence("other", "趣味は登山")),
        )
    ]
    assert one_request(" ", "OC-7K3M9Q") == []
