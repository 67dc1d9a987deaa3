"""Build Send API ``message`` objects (pure functions); each is checked against Meta's limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from integrations.send_api_limits import validate_message


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


def generic_element(
    title: str, subtitle: str = "", buttons: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Return one element (card) of a generic template; an empty subtitle is left out."""
    element: dict[str, Any] = {"title": title}
    if subtitle:
        element["subtitle"] = subtitle
    if buttons:
        element["buttons"] = [dict(button) for button in buttons]
    return element


def generic_template(
    elements: Sequence[Mapping[str, Any]],
    quick_replies: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Return a generic-template message (1-10 cards), optionally with quick replies."""
    message: dict[str, Any] = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [dict(element) for element in elements],
            },
        }
    }
    if quick_replies is not None:
        message["quick_replies"] = [
            {"content_type": "text", "title": title, "payload": payload}
            for title, payload in quick_replies
        ]
    validate_message(message)
    return message
