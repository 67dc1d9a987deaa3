"""Send API message builders and Meta's limits."""

from __future__ import annotations

from typing import Any

import pytest

from bot.messaging.compose import (
    button_template,
    postback_button,
    postback_buttons,
    text_message,
    url_button,
    url_buttons,
)
from integrations.send_api_limits import MessageLimitError, validate_message

INVITE = "https://m.me/j/AbCdEf123/"


def test_text_message_is_a_plain_text_object() -> None:
    assert text_message("ようこそ") == {"text": "ようこそ"}


def test_text_message_with_quick_replies_uses_text_content_type() -> None:
    message = text_message("同意しますか？", [("はい", "YES"), ("いいえ", "NO")])
    assert message["quick_replies"] == [
        {"content_type": "text", "title": "はい", "payload": "YES"},
        {"content_type": "text", "title": "いいえ", "payload": "NO"},
    ]


def test_text_of_exactly_2000_characters_is_allowed() -> None:
    assert text_message("あ" * 2000)["text"] == "あ" * 2000


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: text_message("あ" * 2001), "text"),
        (lambda: text_message(""), "text"),
        (lambda: text_message("   "), "text"),
        (lambda: text_message("q", [("t", "p")] * 14), "quick_replies"),
        (lambda: text_message("q", []), "quick_replies"),
        (lambda: text_message("q", [("あ" * 21, "p")]), "quick_replies[0].title"),
        (lambda: text_message("q", [("ok", "p" * 1001)]), "quick_replies[0].payload"),
        (lambda: url_buttons("あ" * 641, [("参加", INVITE)]), "attachment.payload.text"),
        (lambda: url_buttons("参加", []), "attachment.payload.buttons"),
        (lambda: url_buttons("参加", [("a", INVITE)] * 4), "attachment.payload.buttons"),
        (lambda: url_buttons("参加", [("あ" * 21, INVITE)]), "attachment.payload.buttons[0].title"),
        (
            lambda: url_buttons("参加", [("参加", "http://m.me/j/x")]),
            "attachment.payload.buttons[0].url",
        ),
        (
            lambda: url_buttons("参加", [("参加", "javascript:alert(1)")]),
            "attachment.payload.buttons[0].url",
        ),
        (lambda: url_buttons("参加", [("参加", "https://")]), "attachment.payload.buttons[0].url"),
        (
            lambda: url_buttons("参加", [("参加", "https://m.me/j/a b")]),
            "attachment.payload.buttons[0].url",
        ),
        (
            lambda: postback_buttons("選択", [("ok", "p" * 1001)]),
            "attachment.payload.buttons[0].payload",
        ),
    ],
)
def test_builders_refuse_messages_over_the_limits_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(MessageLimitError) as caught:
        build()
    assert caught.value.field == field
    assert field in str(caught.value)


def test_thirteen_quick_replies_of_twenty_characters_are_allowed() -> None:
    replies = [("あ" * 20, f"P{i}") for i in range(13)]
    assert len(text_message("選んでください", replies)["quick_replies"]) == 13


def test_url_buttons_build_a_button_template_with_web_url_buttons() -> None:
    message = url_buttons("富山県のグループに参加してください", [("参加する", INVITE)])
    assert message == {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "富山県のグループに参加してください",
                "buttons": [{"type": "web_url", "url": INVITE, "title": "参加する"}],
            },
        }
    }


def test_button_template_of_640_characters_and_three_buttons_is_allowed() -> None:
    message = url_buttons("あ" * 640, [("a", INVITE), ("b", INVITE), ("c", INVITE)])
    assert len(message["attachment"]["payload"]["buttons"]) == 3


def test_postback_buttons_carry_their_payloads() -> None:
    message = postback_buttons("申込状況", [("確認する", "STATUS")])
    assert message["attachment"]["payload"]["buttons"] == [
        {"type": "postback", "title": "確認する", "payload": "STATUS"}
    ]


def test_button_template_mixes_url_and_postback_buttons() -> None:
    message = button_template(
        "次の一歩", [url_button("参加", INVITE), postback_button("あとで", "LATER")]
    )
    assert [b["type"] for b in message["attachment"]["payload"]["buttons"]] == [
        "web_url",
        "postback",
    ]


@pytest.mark.parametrize(
    "message",
    [
        {"text": "hi", "metadata": "outbox:42"},
        {"text": "hi", "quick_replies": [{"content_type": "user_email"}]},
        {"attachment": {"type": "image", "payload": {"url": "https://example.jp/a.png"}}},
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "generic",
                    "elements": [{"title": "説明会", "subtitle": "金曜21時", "buttons": []}],
                },
            }
        },
    ],
)
def test_validate_message_accepts_other_valid_messages(message: dict[str, Any]) -> None:
    validate_message(message)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("text", "message"),
        ({}, "message"),
        ({"text": "a", "attachment": {}}, "message"),
        ({"text": 5}, "text"),
        ({"text": "hi", "metadata": "m" * 1001}, "metadata"),
        ({"text": "hi", "quick_replies": "x"}, "quick_replies"),
        ({"text": "hi", "quick_replies": ["x"]}, "quick_replies[0]"),
        (
            {"text": "hi", "quick_replies": [{"content_type": "location"}]},
            "quick_replies[0].content_type",
        ),
        (
            {"text": "hi", "quick_replies": [{"content_type": "text", "title": "t"}]},
            "quick_replies[0].payload",
        ),
        ({"attachment": "x"}, "attachment"),
        ({"attachment": {"payload": {}}}, "attachment.type"),
        ({"attachment": {"type": "template"}}, "attachment.payload"),
        ({"attachment": {"type": "template", "payload": {}}}, "attachment.payload.template_type"),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "t",
                        "buttons": [{"type": "web_url", "title": "t"}],
                    },
                }
            },
            "attachment.payload.buttons[0].url",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "t",
                        "buttons": [{"title": "t"}],
                    },
                }
            },
            "attachment.payload.buttons[0].type",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [{"title": "あ" * 81}]},
                }
            },
            "attachment.payload.elements[0].title",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [{"title": "t"}] * 11},
                }
            },
            "attachment.payload.elements",
        ),
    ],
)
def test_validate_message_names_the_broken_limit(message: Any, field: str) -> None:
    with pytest.raises(MessageLimitError) as caught:
        validate_message(message)
    assert caught.value.field == field


def test_message_limit_error_is_a_value_error() -> None:
    assert issubclass(MessageLimitError, ValueError)
