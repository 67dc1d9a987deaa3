"""Parsing what reviewers paste: TAB lines and text copied from Facebook's request list."""

from __future__ import annotations

import pytest

from bot.onboarding.join_request_parsing import (
    JoinRequestFormatError,
    PastedRequest,
    parse_pasted,
    parse_tab_separated,
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
        PastedRequest("山田 太郎", "ｏｃ－７ｋ３ｍ９ｑ"),
        PastedRequest("鈴木 花子", "同僚の紹介"),
        PastedRequest("佐藤 一郎", ""),
    ]


def test_facebook_list_in_english() -> None:
    assert parse_pasted(ENGLISH_LIST) == [
        PastedRequest("Taro Yamada", "OC-7K3M9Q"),
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
