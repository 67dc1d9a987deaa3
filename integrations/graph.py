"""Meta Graph API adapter: Send, User Profile, Messenger Profile and Page message templates APIs.

Every call carries ``access_token`` and ``appsecret_proof`` (HMAC-SHA256 of the page token
keyed with the app secret) as query parameters and an explicit timeout. Failures become
``DeliveryError`` with a ``FailureKind`` from ``classify_graph_error``; their messages and the
log lines here never contain the token, the app secret, the proof, a PSID or message text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from integrations.ports import DeliveryError, FailureKind, SendResult, UserProfile
from integrations.send_api_limits import MessageLimitError, validate_message

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
# Retired by Meta on 2026-04-27; calls using them fail with error 100.
RETIRED_TAGS = frozenset({"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"})

SUBCODE_OUTSIDE_WINDOW = 2018278


@dataclass(frozen=True)
class ErrorClass:
    """What a documented Graph error means for the outbox, and its cause in a few words."""

    kind: FailureKind
    cause: str


def _c(kind: FailureKind, cause: str) -> ErrorClass:
    return ErrorClass(kind, cause)


R, U, W, A, I = (  # noqa: E741 - one letter each keeps the table below readable
    FailureKind.RETRY,
    FailureKind.UNREACHABLE,
    FailureKind.OUTSIDE_WINDOW,
    FailureKind.AUTH,
    FailureKind.INVALID,
)
# Meta's documented (code, subcode) pairs (Messenger Platform "Common Error Codes" and the Send
# API error reference). A pair is looked up first, then its code with subcode None. Only App- or
# Page-level conditions are AUTH (pause everybody's sending); per-person conditions are
# UNREACHABLE or OUTSIDE_WINDOW and concern that person alone.
ERROR_CLASSES: dict[tuple[int, int | None], ErrorClass] = {
    (1, None): _c(R, "unknown error"),
    (2, None): _c(R, "temporary service error (or the person blocked the Page)"),
    (4, None): _c(R, "application request limit reached"),
    (4, 2018022): _c(R, "too many send requests"),
    (17, None): _c(R, "user request limit reached"),
    (32, None): _c(R, "Page request limit reached"),
    (613, None): _c(R, "rate limit exceeded"),
    (1200, None): _c(R, "temporary send message failure"),
    (10, 2018278): _c(W, "outside the 24-hour window"),
    (10, 2018065): _c(W, "outside the allowed window"),
    (10, 2534022): _c(W, "outside the allowed window (thread)"),
    (10, 2018108): _c(U, "this person isn't receiving messages from the Page right now"),
    (100, 2018001): _c(U, "no matching user found"),
    (551, None): _c(U, "this person isn't available right now"),
    (551, 1545041): _c(U, "this person isn't available right now"),
    (200, 1545041): _c(U, "this person isn't available right now"),
    (10, None): _c(A, "the app lacks a permission for the Send API"),
    (10, 1893063): _c(A, "the Page is temporarily restricted from messaging"),
    (190, None): _c(A, "the Page access token is invalid or expired"),
    (200, None): _c(A, "a permission is missing"),
    (200, 2018027): _c(A, "the app is not live: pages_messaging is not approved"),
    (200, 2018028): _c(A, "the app is not live: pages_messaging is not approved"),
    (230, None): _c(A, "pages_messaging permission missing for the Page"),
    (100, None): _c(I, "invalid parameter"),
    (100, 2018109): _c(I, "attachment size exceeds the limit"),
}
# A subcode nobody documented under these codes is not trusted to be App-wide: it fails only
# its own row and is alerted once per pair (the per-person 10/2018108 once paused everybody).
_UNTRUSTED_SUBCODES_OF = frozenset({10, 200, 230}) | frozenset(range(201, 300))

USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")
PROFILE_FIELDS = "first_name,last_name,name"
GET_STARTED_PAYLOAD_MAX = 1000
GREETING_TEXT_MAX = 160
_ERROR_MESSAGE_MAX = 200

_NOT_RETRYABLE_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


def appsecret_proof(page_token: str, app_secret: str) -> str:
    """Return the hex HMAC-SHA256 of the access token keyed with the app secret."""
    return hmac.new(
        app_secret.encode("utf-8"), page_token.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def classify_graph_error(
    status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> DeliveryError:
    """Turn a failed Graph response into a DeliveryError whose kind tells the outbox what to do.

    `ERROR_CLASSES` decides by (code, subcode), then by code; the HTTP status decides only when
    the body carries no code. A pair nobody documented fails its own row only (`unknown`).
    """
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        error = {}
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    found = error_class(status, code, subcode)
    kind = found.kind if found else FailureKind.INVALID
    retry_after = _retry_after_seconds(headers) if kind is FailureKind.RETRY else None
    detail = error.get("message")
    text = f"Graph API error: HTTP {status}, code {code}, subcode {subcode}"
    if isinstance(detail, str) and detail:
        text += f": {detail[:_ERROR_MESSAGE_MAX]}"
    return DeliveryError(
        kind,
        text,
        code=code,
        subcode=subcode,
        retry_after=retry_after,
        cause=found.cause if found else f"undocumented Graph error {code}/{subcode}",
        unknown=found is None,
    )


def error_class(status: int, code: int | None, subcode: int | None) -> ErrorClass | None:
    """The documented class of an error, or None when nobody documented it."""
    if code is not None:
        exact = ERROR_CLASSES.get((code, subcode))
        if exact is not None:
            return exact
        if code == 190:  # every invalid-token subcode means the same: a new token is needed
            return ERROR_CLASSES[(190, None)]
        by_code = ERROR_CLASSES.get((code, None))
        if by_code is None and 200 <= code <= 299:
            by_code = ERROR_CLASSES[(200, None)]
        if by_code is not None and (subcode is None or code not in _UNTRUSTED_SUBCODES_OF):
            return by_code
        if by_code is not None:
            return None  # e.g. 10/<new subcode>: documented code, undocumented condition
    if status >= 500 or status == 429:
        return ErrorClass(FailureKind.RETRY, f"HTTP {status}")
    if code is None and status in (401, 403):
        return ErrorClass(FailureKind.AUTH, f"HTTP {status} without an error code")
    if code is None:
        return ErrorClass(FailureKind.INVALID, f"HTTP {status} without an error code")
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Read the longest wait Meta announces in its usage headers (minutes) or Retry-After."""
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    waits: list[float] = []
    for name in USAGE_HEADERS:
        raw = lowered.get(name.lower())
        if raw:
            waits.extend(60.0 * minutes for minutes in _regain_minutes(raw))
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            waits.append(float(retry_after))
        except ValueError:
            pass
    positive = [wait for wait in waits if wait > 0]
    return max(positive) if positive else None


def _regain_minutes(raw: str) -> list[float]:
    """Collect every estimated_time_to_regain_access found in one usage header."""
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    found: list[float] = []
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            value = node.get("estimated_time_to_regain_access")
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append(float(value))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class GraphClient:
    """The real Messenger transport: implements MessengerSender over the Graph API."""

    def __init__(
        self,
        page_token: str,
        app_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        timeout: float = 10,
        session: requests.Session | None = None,
    ) -> None:
        if not page_token or not app_secret:
            raise ValueError("page_token and app_secret are required")
        self._page_token = page_token
        self._app_secret = app_secret
        self._proof = appsecret_proof(page_token, app_secret)
        self._base = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"GraphClient(base={self._base!r})"

    def send(
        self,
        psid: str,
        message: dict[str, Any],
        *,
        messaging_type: str,
        tag: str | None = None,
    ) -> SendResult:
        """Send one message to a person and return Meta's message id.

        Raises:
            DeliveryError: INVALID before any HTTP call for a retired tag, a tag/type mismatch,
                an unknown messaging_type or a message over Meta's limits; otherwise the
                classified Graph failure.
        """
        self._refuse_invalid(psid, message, messaging_type, tag)
        body: dict[str, Any] = {
            "recipient": {"id": psid},
            "messaging_type": messaging_type,
            "message": message,
        }
        if tag is not None:
            body["tag"] = tag
        data = self._call("POST", "me/messages", operation="send", json_body=body)
        message_id = data.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            # The message may have gone out: do not retry blindly, keep it visible instead.
            raise DeliveryError(FailureKind.INVALID, "Graph send answered without a message_id")
        return SendResult(message_id=message_id)

    def user_profile(self, psid: str) -> UserProfile:
        """Return the person's names from the User Profile API."""
        if not isinstance(psid, str) or not psid:
            raise DeliveryError(FailureKind.INVALID, "psid must be a non-empty string")
        data = self._call(
            "GET",
            quote(psid, safe=""),
            operation="user_profile",
            params={"fields": PROFILE_FIELDS},
        )
        return UserProfile(
            name=_str_or_none(data.get("name")),
            first_name=_str_or_none(data.get("first_name")),
            last_name=_str_or_none(data.get("last_name")),
        )

    def set_messenger_profile(
        self,
        get_started_payload: str,
        greeting: list[dict[str, Any]],
        persistent_menu: list[dict[str, Any]],
    ) -> None:
        """Set the Page's Get Started button, greeting and persistent menu."""
        if not get_started_payload or len(get_started_payload) > GET_STARTED_PAYLOAD_MAX:
            raise DeliveryError(
                FailureKind.INVALID,
                f"get_started payload must be 1 to {GET_STARTED_PAYLOAD_MAX} characters",
            )
        for item in greeting:
            text = item.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= GREETING_TEXT_MAX:
                raise DeliveryError(
                    FailureKind.INVALID,
                    f"greeting text must be 1 to {GREETING_TEXT_MAX} characters",
                )
        body = {
            "get_started": {"payload": get_started_payload},
            "greeting": greeting,
            "persistent_menu": persistent_menu,
        }
        self._call("POST", "me/messenger_profile", operation="messenger_profile", json_body=body)

    def create_message_template(self, page_id: str, template: dict[str, Any]) -> dict[str, Any]:
        """Create a Page-owned utility template; return Meta's ``id``, ``status``, ``category``.

        ``POST /<PAGE_ID>/message_templates`` with ``name``, ``language``, ``category`` and
        ``components`` (needs ``page_utility_messaging``), as documented in
        https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/utility-messages
        ("Page-owned utility message template", "Use a Template with Customizable URL Button").
        """
        if not isinstance(page_id, str) or not page_id.isascii() or not page_id.isdigit():
            raise DeliveryError(FailureKind.INVALID, "page_id must be the Page's numeric id")
        for key in ("name", "language", "category", "components"):
            if not template.get(key):
                raise DeliveryError(FailureKind.INVALID, f"message template needs {key}")
        data = self._call(
            "POST",
            f"{page_id}/message_templates",
            operation="message_templates",
            json_body=template,
        )
        if not isinstance(data.get("id"), str | int) or not data.get("id"):
            raise DeliveryError(FailureKind.INVALID, "message_templates answered without an id")
        return {
            "id": str(data["id"]),
            "status": _str_or_none(data.get("status")) or "",
            "category": _str_or_none(data.get("category")) or "",
        }

    def _refuse_invalid(
        self, psid: str, message: dict[str, Any], messaging_type: str, tag: str | None
    ) -> None:
        problem: str | None = None
        if not isinstance(psid, str) or not psid:
            problem = "psid must be a non-empty string"
        elif messaging_type not in MESSAGING_TYPES:
            problem = f"unknown messaging_type {messaging_type!r}"
        elif tag in RETIRED_TAGS:
            problem = f"message tag {tag} was retired by Meta on 2026-04-27"
        elif messaging_type == "MESSAGE_TAG" and not tag:
            problem = "messaging_type MESSAGE_TAG needs a tag"
        elif tag is not None and messaging_type != "MESSAGE_TAG":
            problem = "a tag is only allowed with messaging_type MESSAGE_TAG"
        elif messaging_type == "UTILITY" or (
            isinstance(message, Mapping) and "template" in message
        ):
            problem = _utility_message_problem(message, messaging_type)
        else:
            try:
                validate_message(message)
            except MessageLimitError as exc:
                problem = f"message over Meta's limits: {exc}"
        if problem is not None:
            log.warning("graph send refused before sending: %s", problem)
            raise DeliveryError(FailureKind.INVALID, problem)

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        query = {
            **(params or {}),
            "access_token": self._page_token,
            "appsecret_proof": self._proof,
        }
        try:
            response = self._session.request(
                method,
                f"{self._base}/{path}",
                params=query,
                json=json_body,
                timeout=self._timeout,
            )
        except _NOT_RETRYABLE_REQUEST_ERRORS as exc:
            # The exception text holds the URL with the token: report only its type.
            log.error("graph %s not sent: %s", operation, type(exc).__name__)
            raise DeliveryError(
                FailureKind.INVALID, f"Graph request invalid: {type(exc).__name__}"
            ) from None
        except requests.RequestException as exc:
            unknown = _may_have_arrived(exc)
            log.warning(
                "graph %s failed in transport: %s%s",
                operation,
                type(exc).__name__,
                " (outcome unknown)" if unknown else "",
            )
            raise DeliveryError(
                FailureKind.RETRY,
                f"Graph request failed: {type(exc).__name__}"
                + (" after it was sent (outcome unknown)" if unknown else ""),
                outcome_unknown=unknown,
            ) from None

        data = _json_or_none(response)
        if 200 <= response.status_code < 300 and isinstance(data, dict):
            return data
        if 200 <= response.status_code < 300:
            raise DeliveryError(FailureKind.INVALID, "Graph answered with a body that is not JSON")
        error = classify_graph_error(response.status_code, data, response.headers)
        safe = self._scrub(str(error))
        log.warning(
            "graph %s failed: status=%s code=%s subcode=%s kind=%s retry_after=%s",
            operation,
            response.status_code,
            error.code,
            error.subcode,
            error.kind,
            error.retry_after,
        )
        raise DeliveryError(
            error.kind,
            safe,
            code=error.code,
            subcode=error.subcode,
            retry_after=error.retry_after,
            cause=error.cause,
            unknown=error.unknown,
        )

    def _scrub(self, text: str) -> str:
        for secret in (self._page_token, self._app_secret, self._proof):
            text = text.replace(secret, "***")
        return text


def _utility_message_problem(message: Any, messaging_type: str) -> str | None:
    """Check a utility template message against the documented send shape (None when fine).

    ``{"template": {"name", "language": {"code"}, "components": [...]}}`` sent with
    ``messaging_type: UTILITY`` (Messenger "Send a utility message", Step 2 of the Page-owned
    template flow); a template message with another messaging_type is refused.
    """
    if messaging_type != "UTILITY":
        return "a template message needs messaging_type UTILITY"
    template = message.get("template") if isinstance(message, Mapping) else None
    if not isinstance(message, Mapping) or set(message) != {"template"}:
        return "a UTILITY message must be exactly {template: ...}"
    if not isinstance(template, Mapping):
        return "message.template must be an object"
    if not isinstance(template.get("name"), str) or not template["name"]:
        return "message.template.name must be a non-empty string"
    language = template.get("language")
    if not isinstance(language, Mapping) or not isinstance(language.get("code"), str):
        return "message.template.language.code must be a string"
    components = template.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, Mapping) for c in components):
        return "message.template.components must be a list of objects"
    return None


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """Whether a failed request may have reached Meta (so a retry may send a second copy).

    Not when the connection was never made (refused, unknown host, connect timeout); yes after
    it was (a read timeout, a reset or an aborted answer).
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ReadTimeout | requests.exceptions.ChunkedEncodingError):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        cause = getattr(reason, "reason", reason)
        return not isinstance(cause, urllib3.exceptions.NewConnectionError)
    return False


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
