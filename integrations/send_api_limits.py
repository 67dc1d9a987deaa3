"""Meta's Send API limits on a ``message`` object, checked before a call (pure functions).

The Graph adapter refuses a message that breaks them without calling Meta (the row goes dead
with the reason); the builders in `bot/messaging/compose.py` check what they build.
Limits as documented for the Send API, quick replies, the button and generic templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

TEXT_MAX = 2000
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_MAX = 20
PAYLOAD_MAX = 1000
METADATA_MAX = 1000
BUTTON_TEXT_MAX = 640
BUTTONS_MIN = 1
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
GENERIC_ELEMENTS_MAX = 10
GENERIC_TITLE_MAX = 80
GENERIC_SUBTITLE_MAX = 80

_QUICK_REPLY_TYPES = frozenset({"text", "user_phone_number", "user_email"})
_GENERIC_MORE_THAN_TITLE = ("subtitle", "image_url", "default_action", "buttons")


class MessageLimitError(ValueError):
    """A message breaks one of Meta's Send API limits; `field` names where, `limit` which."""

    def __init__(self, field: str, limit: str) -> None:
        super().__init__(f"{field}: {limit}")
        self.field = field
        self.limit = limit


def validate_message(message: Any) -> None:
    """Raise MessageLimitError if `message` is not a Send API message within Meta's limits."""
    if not isinstance(message, Mapping):
        raise MessageLimitError("message", "must be an object")
    has_text = "text" in message
    has_attachment = "attachment" in message
    if has_text == has_attachment:
        raise MessageLimitError("message", "needs exactly one of text or attachment")
    if has_text:
        _check_text(message["text"], "text", TEXT_MAX)
    else:
        _check_attachment(message["attachment"])
    if "quick_replies" in message:
        _check_quick_replies(message["quick_replies"])
    if "metadata" in message:
        _check_text(message["metadata"], "metadata", METADATA_MAX)


def _check_text(value: Any, field: str, maximum: int) -> None:
    if not isinstance(value, str):
        raise MessageLimitError(field, "must be a string")
    if not value.strip():
        raise MessageLimitError(field, "must not be empty")
    if len(value) > maximum:
        raise MessageLimitError(field, f"at most {maximum} characters (got {len(value)})")


def _check_list(value: Any, field: str, minimum: int, maximum: int) -> list[Any]:
    if not isinstance(value, list):
        raise MessageLimitError(field, "must be a list")
    if not minimum <= len(value) <= maximum:
        raise MessageLimitError(field, f"{minimum} to {maximum} items (got {len(value)})")
    return value


def _check_quick_replies(value: Any) -> None:
    replies = _check_list(value, "quick_replies", 1, QUICK_REPLIES_MAX)
    for index, reply in enumerate(replies):
        where = f"quick_replies[{index}]"
        if not isinstance(reply, Mapping):
            raise MessageLimitError(where, "must be an object")
        content_type = reply.get("content_type")
        if content_type not in _QUICK_REPLY_TYPES:
            raise MessageLimitError(
                f"{where}.content_type", "must be text, user_phone_number or user_email"
            )
        if content_type == "text":
            _check_text(reply.get("title"), f"{where}.title", QUICK_REPLY_TITLE_MAX)
            _check_text(reply.get("payload"), f"{where}.payload", PAYLOAD_MAX)


def _check_attachment(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise MessageLimitError("attachment", "must be an object")
    if not isinstance(value.get("type"), str):
        raise MessageLimitError("attachment.type", "must be a string")
    payload = value.get("payload")
    if not isinstance(payload, Mapping):
        raise MessageLimitError("attachment.payload", "must be an object")
    if value["type"] != "template":
        return
    template_type = payload.get("template_type")
    if template_type == "button":
        _check_text(payload.get("text"), "attachment.payload.text", BUTTON_TEXT_MAX)
        _check_buttons(payload.get("buttons"), "attachment.payload.buttons", BUTTONS_MIN)
    elif template_type == "generic":
        elements = _check_list(
            payload.get("elements"), "attachment.payload.elements", 1, GENERIC_ELEMENTS_MAX
        )
        for index, element in enumerate(elements):
            where = f"attachment.payload.elements[{index}]"
            if not isinstance(element, Mapping):
                raise MessageLimitError(where, "must be an object")
            _check_text(element.get("title"), f"{where}.title", GENERIC_TITLE_MAX)
            if "subtitle" in element:
                _check_text(element["subtitle"], f"{where}.subtitle", GENERIC_SUBTITLE_MAX)
            if "buttons" in element:
                _check_buttons(element["buttons"], f"{where}.buttons", 0)
            # "At least one property must be set in addition to title" (generic template).
            if not any(element.get(key) for key in _GENERIC_MORE_THAN_TITLE):
                raise MessageLimitError(where, "needs a subtitle, image, default action or button")
    elif not isinstance(template_type, str):
        raise MessageLimitError("attachment.payload.template_type", "must be a string")


def _check_buttons(value: Any, field: str, minimum: int) -> None:
    buttons = _check_list(value, field, minimum, BUTTONS_MAX)
    for index, button in enumerate(buttons):
        where = f"{field}[{index}]"
        if not isinstance(button, Mapping):
            raise MessageLimitError(where, "must be an object")
        _check_text(button.get("title"), f"{where}.title", BUTTON_TITLE_MAX)
        kind = button.get("type")
        if kind == "web_url":
            _check_https_url(button.get("url"), f"{where}.url")
        elif kind == "postback":
            _check_text(button.get("payload"), f"{where}.payload", PAYLOAD_MAX)
        elif not isinstance(kind, str):
            raise MessageLimitError(f"{where}.type", "must be a string")


def _check_https_url(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise MessageLimitError(field, "must be a string")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise MessageLimitError(field, "must be a valid URL") from None
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise MessageLimitError(field, "must be an https:// URL")
