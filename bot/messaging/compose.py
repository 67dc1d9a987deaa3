"""Build Send API ``message`` objects and check them against Meta's limits (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class MessageLimitError(ValueError):
    """A message breaks one of Meta's Send API limits; `field` names where, `limit` which."""

    def __init__(self, field: str, limit: str) -> None:
        super().__init__(f"{field}: {limit}")
        self.field = field
        self.limit = limit


def text_message(
    text: str, quick_replies: Sequence[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Return a text message, optionally with (title, payload) quick replies."""
    message: dict[str, Any] = {"text": text}
    if quick_replies is not None:
        message["quick_replies"] = [
            {"content_type": "text", "title": title, "payload": payload}
            for title, payload in quick_replies
        ]
    validate_message(message)
    return message


def url_button(title: str, url: str) -> dict[str, Any]:
    """Return a web_url button opening `url` (https only, checked by validate_message)."""
    return {"type": "web_url", "url": url, "title": title}


def postback_button(title: str, payload: str) -> dict[str, Any]:
    """Return a postback button sending `payload` back to the webhook."""
    return {"type": "postback", "title": title, "payload": payload}


def button_template(text: str, buttons: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a button-template message with 1-3 ready-made buttons."""
    message: dict[str, Any] = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": text,
                "buttons": [dict(button) for button in buttons],
            },
        }
    }
    validate_message(message)
    return message


def url_buttons(text: str, buttons: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Return a button template whose buttons are (title, https URL) links."""
    return button_template(text, [url_button(title, url) for title, url in buttons])


def postback_buttons(text: str, buttons: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Return a button template whose buttons are (title, payload) postbacks."""
    return button_template(text, [postback_button(title, payload) for title, payload in buttons])


def utility_template_message(
    name: str,
    language: str,
    body_params: Mapping[str, str],
    url_suffix: str | None = None,
) -> dict[str, Any]:
    """Return a Page utility template message (send it with ``messaging_type: UTILITY``).

    Shape as documented in "Send a utility message" (Page-owned template, Step 2: "Sending with
    Named Parameters"; "Use a Template with Customizable URL Button" for the button):
    https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/utility-messages
    Named body parameters carry ``parameter_name``; a URL button's parameter is its URL suffix.
    """
    components: list[dict[str, Any]] = []
    if body_params:
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": key, "text": value}
                    for key, value in body_params.items()
                ],
            }
        )
    if url_suffix is not None:
        components.append({"type": "buttons", "parameters": [{"type": "URL", "url": url_suffix}]})
    return {"template": {"name": name, "language": {"code": language}, "components": components}}


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
