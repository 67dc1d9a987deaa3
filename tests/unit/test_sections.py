"""The 課 directory's pure rules: matching keys, suggestion order, validation, Messenger shapes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.community import sections
from bot.community.sections import (
    KINDS,
    SEED_FILE,
    check_fields,
    directory_page,
    group_url_error,
    match_key,
    rank,
    read_seed,
    section_card,
    suggestion_message,
)
from bot.messaging.compose import generic_element, generic_template
from bot.models import Section
from integrations.send_api_limits import MessageLimitError, validate_message

_ids = iter(range(1, 10_000))


def section(name: str, kind: str = "work", **fields: Any) -> Section:
    values: dict[str, Any] = {
        "id": next(_ids),
        "name": name,
        "kind": kind,
        "description": "",
        "group_url": "",
        "leader_name": "",
        "keywords": "",
        "introduce_at_grand": False,
        "active": True,
        "position": 0,
    }
    values.update(fields)
    return Section(**values)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ライティング課", "ライティング"),
        ("ﾗｲﾃｨﾝｸﾞ課", "ライティング"),  # half-width kana
        ("ライティング 課", "ライティング"),
        ("　ライティング　", "ライティング"),  # ideographic spaces
        ("図解・グラレコ課", "図解グラレコ"),
        ("図解･グラレコ", "図解グラレコ"),  # half-width middle dot
        ("音楽サークル", "音楽"),
        ("ＳＤＧｓ×官民連携課", "sdgs×官民連携"),  # full-width letters, case
        ("SDGs×官民連携", "sdgs×官民連携"),
        ("課", "課"),  # a suffix alone is kept: nothing would be left
        ("", ""),
    ],
)
def test_match_key_ignores_width_case_spacing_punctuation_and_suffixes(text: str, key: str) -> None:
    assert match_key(text) == key


def test_rank_orders_name_then_keyword_then_partial_then_the_persons_order() -> None:
    writing = section("ライティング課", "skill", position=10)
    drawing = section("図解・グラレコ課", "skill", position=20)
    finance = section("みんなの財政課", keywords="財政\n予算")
    disaster = section("防災対策課", position=50)
    music = section("音楽サークル", "hobby")
    everything = [writing, drawing, finance, disaster, music]
    # 防災 is only a partial match; 予算 a keyword; 図解・グラレコ課 and 音楽 exact names.
    picked = rank(everything, ["防災", "予算", "図解グラレコ", "音楽"], limit=3)
    assert picked == [drawing, music, finance]
    assert rank(everything, ["防災"]) == [disaster]
    assert rank(everything, ["ﾗｲﾃｨﾝｸﾞ", "ライティング課"]) == [writing]  # one 課 once


def test_rank_is_deterministic_for_ties_by_position_then_name() -> None:
    b = section("B課", keywords="共通", position=1)
    a = section("A課", keywords="共通", position=1)
    first = section("Z課", keywords="共通", position=0)
    assert rank([b, a, first], ["共通"]) == [first, a, b]
    assert rank([a, first, b], ["共通"]) == [first, a, b]


def test_rank_needs_two_characters_for_a_partial_match_and_ignores_blank_interests() -> None:
    tax = section("税務課")
    assert rank([tax], ["税"]) == []  # one character: too loose
    assert rank([tax], ["", "  ", "課"]) == []
    assert rank([tax], ["税務"]) == [tax]


def test_check_fields_cleans_and_accepts_a_good_section() -> None:
    values, errors = check_fields(
        name=" ﾗｲﾃｨﾝｸﾞ課 ",
        kind="skill",
        description="伝わる  文章",
        group_url="https://www.facebook.com/groups/writing/",
        keywords=["文章", "文章", " 広報 ", ""],
        position=3,
    )
    assert errors == []
    assert values is not None
    assert (values.name, values.description, values.keywords) == (
        "ライティング課",
        "伝わる 文章",
        "文章\n広報",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "課の名前を入力"),
        ({"name": "あ" * 101}, "100文字以内"),
        ({"kind": "castle"}, "種類は"),
        ({"description": "あ" * 301}, "300文字以内"),
        ({"leader_name": "あ" * 101}, "課長の表示名"),
        ({"position": -1}, "表示順"),
        ({"keywords": "あ" * 2001}, "キーワード"),
        ({"name": "a\x00b"}, "NUL"),
    ],
)
def test_check_fields_refuses_bad_values_in_japanese(change: dict[str, Any], message: str) -> None:
    values, errors = check_fields(**{"name": "法規課", "kind": "work", **change})
    assert values is None
    assert any(message in e for e in errors)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/groups/houki",
        "https://facebook.com/groups/123456789/",
        "",
    ],
)
def test_facebook_group_urls_are_accepted(url: str) -> None:
    assert group_url_error(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://www.facebook.com/groups/houki",
        "https://m.facebook.com/groups/houki",
        "https://www.facebook.com/houki",
        "https://www.facebook.com/groups/",
        "https://evil.example/groups/houki",
        "https://www.facebook.com.evil.example/groups/x",
        "https://user@www.facebook.com/groups/x",
        "https://www.facebook.com:8443/groups/x",
        "javascript:alert(1)",
        "https://www.facebook.com/groups/a b",
        "https://www.facebook.com/groups/" + "x" * 500,
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    assert group_url_error(url) is not None


def test_the_shipped_seed_is_valid_and_names_the_public_pages_sections() -> None:
    entries = read_seed(SEED_FILE)
    names = [e["name"] for e in entries]
    for name in ("みんなの財政課", "法規課", "ライティング課", "動画課", "図書室", "子育てサロン"):
        assert name in names
    assert len(set(names)) == len(names)
    for entry in entries:
        values, errors = check_fields(**entry)
        assert errors == [], entry
        assert values is not None and values.kind in KINDS


def test_a_card_keeps_within_metas_limits_and_keeps_the_leaders_name() -> None:
    long = section(
        "あ" * 100,
        description="い" * 300,
        leader_name="山田 太郎",
        group_url="https://www.facebook.com/groups/x",
    )
    card = section_card(long)
    assert len(card["title"]) == 80 and card["title"].endswith("…")
    assert len(card["subtitle"]) <= 80 and card["subtitle"].endswith("課長: 山田 太郎")
    assert card["buttons"] == [
        {"type": "web_url", "url": "https://www.facebook.com/groups/x", "title": "参加リクエストへ"}
    ]
    bare = section_card(section("動画課", "skill"))
    assert bare == {"title": "動画課", "subtitle": "共通スキル育成型"}  # never a title alone


def test_directory_pages_hold_ten_cards_and_offer_the_next_page() -> None:
    many = [section(f"課{n:02d}", "hobby", position=n) for n in range(23)]
    first = directory_page(many, "hobby", 1)
    third = directory_page(many, "hobby", 3)
    assert first is not None and third is not None
    assert len(first["attachment"]["payload"]["elements"]) == 10
    assert first["quick_replies"][0] == {
        "content_type": "text",
        "title": "もっと見る",
        "payload": "SECTIONS_KIND:hobby:2",
    }
    assert [e["title"] for e in third["attachment"]["payload"]["elements"]] == [
        "課20",
        "課21",
        "課22",
    ]
    assert [q["payload"] for q in third["quick_replies"]] == ["SECTIONS"]
    assert directory_page(many, "hobby", 4) is None


def test_suggestion_message_has_a_button_per_section_with_a_url() -> None:
    picked = [
        section("ライティング課", "skill", group_url="https://www.facebook.com/groups/w"),
        section("図書室", "hobby"),
    ]
    message = suggestion_message(picked)
    payload = message["attachment"]["payload"]
    assert "ライティング課" in payload["text"] and "図書室" in payload["text"]
    assert "参加リクエスト" in payload["text"]
    assert payload["buttons"] == [
        {"type": "web_url", "url": "https://www.facebook.com/groups/w", "title": "ライティング課"},
        {"type": "postback", "title": "課をさがす", "payload": "SECTIONS"},
    ]
    nothing = suggestion_message([])["attachment"]["payload"]
    assert "課をさがす" in nothing["text"]
    assert nothing["buttons"] == [
        {"type": "postback", "title": "課をさがす", "payload": "SECTIONS"}
    ]


def test_a_generic_element_needs_more_than_a_title() -> None:
    with pytest.raises(MessageLimitError, match="subtitle"):
        generic_template([generic_element("題名")])
    validate_message(generic_template([generic_element("題名", "説明")], [("次", "NEXT")]))


def test_page_size_and_suggestions_fit_metas_templates() -> None:
    assert sections.PAGE_SIZE == 10 and sections.SUGGESTIONS <= 3


def test_the_suggestion_text_keeps_how_to_join_even_for_the_longest_sections() -> None:
    longest = [
        section(
            "あ" * 100,
            "skill",
            description="い" * 300,
            group_url=f"https://facebook.com/groups/{n}",
        )
        for n in range(3)
    ]
    text = suggestion_message(longest)["attachment"]["payload"]["text"]
    assert len(text) <= 640 and text.endswith("からさがせます。")
