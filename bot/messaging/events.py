"""Translate Messenger webhook bodies into plain event values (no I/O, no database).

Shape handled: ``{"object": "page", "entry": [{"id", "time", "messaging": [...],
"standby": [...]}, ...]}``. Every entry and every item is read (Meta batches them).

Failure policy:

* The envelope itself is wrong (not UTF-8 JSON, not an object, ``object`` is not ``"page"``,
  ``entry`` missing or not a list): ``WebhookPayloadError`` is raised; nothing is usable.
* One entry or item inside a valid envelope is wrong (missing ``sender.id``, wrong types, no
  usable timestamp...): it becomes an ``ItemError`` in ``ParsedWebhook.errors`` with its reason
  and raw value, and the good items of the same batch are still returned. The webhook stores
  both; nothing is dropped silently.
* A message echo names the app that sent it (``app_id``): this app's own sends, or another
  app's, or none (a person answering from the Page inbox); see ``bot.messaging.quiet``.
* ``entry.changes[]`` with ``field: "message_template_status_update"`` (a Page utility template's
  review status) becomes an event of kind ``template_status`` whose ``raw`` is the change; the
  sender and recipient are the Page. Other ``changes`` fields beside it are kept as errors; an
  entry with only other fields is an error as before.
* An item of a kind this module does not know (reactions, handover, account linking...) is a
  normal event with ``kind=EventKind.UNKNOWN``.

Event keys (for deduplicating Meta's redeliveries):

* messages and echoes: ``mid:<mid>``;
* everything else: ``<kind>:<sender>:<timestamp ms>:<16 hex of sha256(canonical JSON of item)>``
  so a redelivered item maps to the same key while two different events of the same person
  in the same millisecond do not collide.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Latest instant a datetime can hold; larger "timestamps" are garbage, not events.
_MAX_MS = int((datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
_HASH_CHARS = 16


class WebhookPayloadError(ValueError):
    """The webhook body as a whole cannot be read as a Messenger page webhook."""


class EventKind(enum.StrEnum):
    """What a messaging item is about."""

    MESSAGE = "message"
    POSTBACK = "postback"
    REFERRAL = "referral"
    READ = "read"
    DELIVERY = "delivery"
    ECHO = "echo"
    OPTIN = "optin"
    TEMPLATE_STATUS = "template_status"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MessengerEvent:
    """One messaging item of a webhook, with the fields the bot acts on pulled out.

    ``sender_psid`` and ``recipient_id`` are as Meta sent them: for an echo the sender is the
    Page and the recipient the person; use ``person_psid`` for "who is this about".
    """

    kind: EventKind
    sender_psid: str
    recipient_id: str
    timestamp: datetime
    event_key: str
    raw: dict[str, Any] = field(hash=False, repr=False)
    page_id: str | None = None
    mid: str | None = None
    text: str | None = None
    quick_reply_payload: str | None = None
    postback_payload: str | None = None
    postback_title: str | None = None
    ref: str | None = None
    referral_source: str | None = None
    watermark: datetime | None = None
    delivered_mids: tuple[str, ...] = ()
    standby: bool = False
    app_id: str | None = None  # echoes: the app that sent the message (None: no app named)

    @property
    def person_psid(self) -> str:
        """Return the PSID of the person the event concerns (the recipient for echoes)."""
        return self.recipient_id if self.kind is EventKind.ECHO else self.sender_psid


@dataclass(frozen=True)
class ItemError:
    """An entry or messaging item that could not be read, kept with its reason."""

    reason: str
    location: str
    raw: Any = field(hash=False, repr=False)
    event_key: str = ""


@dataclass(frozen=True)
class ParsedWebhook:
    """The readable events of a webhook body and the items that were not readable."""

    events: tuple[MessengerEvent, ...] = ()
    errors: tuple[ItemError, ...] = ()


class _ItemProblem(Exception):
    """Internal: one item is malformed; becomes an ItemError."""


def parse_webhook(body: bytes | str) -> ParsedWebhook:
    """Parse a Messenger webhook body into events plus per-item errors.

    Raises:
        WebhookPayloadError: the envelope itself is malformed (see the module docstring).
    """
    payload = _load_json(body)
    if not isinstance(payload, dict):
        raise WebhookPayloadError("top level is not a JSON object")
    if payload.get("object") != "page":
        raise WebhookPayloadError("object is not 'page'")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise WebhookPayloadError("entry is missing or not a list")

    events: list[MessengerEvent] = []
    errors: list[ItemError] = []
    for e_index, entry in enumerate(entries):
        where = f"entry[{e_index}]"
        if not isinstance(entry, dict):
            errors.append(_item_error("entry is not an object", where, entry))
            continue
        page_id = entry.get("id")
        if page_id is not None and not isinstance(page_id, str):
            errors.append(_item_error("entry id is not a string", where, entry))
            continue
        entry_time = entry.get("time")
        found_channel = False
        for channel in ("messaging", "standby"):
            if channel not in entry:
                continue
            found_channel = True
            items = entry[channel]
            if not isinstance(items, list):
                errors.append(_item_error(f"{channel} is not a list", f"{where}.{channel}", items))
                continue
            for i_index, item in enumerate(items):
                item_where = f"{where}.{channel}[{i_index}]"
                try:
                    events.append(
                        _parse_item(item, page_id, entry_time, standby=channel == "standby")
                    )
                except _ItemProblem as problem:
                    errors.append(_item_error(str(problem), item_where, item))
        if _has_template_status(entry.get("changes")):
            found_channel = True
            _parse_changes(
                entry["changes"], page_id, entry_time, f"{where}.changes", events, errors
            )
        if not found_channel:
            errors.append(_item_error("entry has no messaging or standby list", where, entry))
    return ParsedWebhook(events=tuple(events), errors=tuple(errors))


def _has_template_status(changes: Any) -> bool:
    return isinstance(changes, list) and any(
        isinstance(c, dict) and c.get("field") == "message_template_status_update" for c in changes
    )


def _parse_changes(
    changes: Any,
    page_id: str | None,
    entry_time: Any,
    where: str,
    events: list[MessengerEvent],
    errors: list[ItemError],
) -> None:
    """Read ``message_template_status_update`` changes of a Page entry.

    Meta documents the change's ``value`` (event, message_template_id, message_template_name,
    message_template_language, reason) for WhatsApp's webhook; the Messenger utility messages
    guide names the same field for Pages without showing a payload, so that shape is assumed.
    """
    if not isinstance(changes, list):
        errors.append(_item_error("changes is not a list", where, changes))
        return
    for index, change in enumerate(changes):
        at = f"{where}[{index}]"
        if not isinstance(change, dict) or change.get("field") != "message_template_status_update":
            errors.append(_item_error("change of an unhandled field", at, change))
            continue
        value = change.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("event"), str):
            errors.append(_item_error("template status change without value.event", at, change))
            continue
        try:
            ms = _ms(entry_time, "entry time") if entry_time is not None else 0
        except _ItemProblem as problem:
            errors.append(_item_error(str(problem), at, change))
            continue
        if ms and ms < 10**11:  # seconds, as WhatsApp's entry.time is documented
            ms *= 1000
        template_id = value.get("message_template_id")
        events.append(
            MessengerEvent(
                kind=EventKind.TEMPLATE_STATUS,
                sender_psid=page_id or "",
                recipient_id=page_id or "",
                timestamp=_to_datetime(min(ms, _MAX_MS)),
                event_key=f"template_status:{template_id}:{value['event']}:{ms}:{_digest(change)}",
                raw=change,
                page_id=page_id,
            )
        )


def _load_json(body: bytes | str) -> Any:
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookPayloadError("body is not UTF-8") from None
    elif isinstance(body, str):
        text = body
    else:
        raise WebhookPayloadError("body is neither bytes nor str")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise WebhookPayloadError("body is not valid JSON") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _parse_item(
    item: Any, page_id: str | None, entry_time: Any, *, standby: bool
) -> MessengerEvent:
    if not isinstance(item, dict):
        raise _ItemProblem("messaging item is not an object")
    sender_psid = _required_id(item, "sender")
    recipient_id = _optional_id(item, "recipient") or page_id
    if recipient_id is None:
        raise _ItemProblem("recipient.id is missing and the entry has no id")

    fields: dict[str, Any] = {}
    kind = _classify(item, fields)
    timestamp_ms = _timestamp_ms(item, fields, entry_time)

    mid = fields.get("mid")
    if kind in (EventKind.MESSAGE, EventKind.ECHO) and mid:
        event_key = f"mid:{mid}"
    else:
        event_key = f"{kind}:{sender_psid}:{timestamp_ms}:{_digest(item)}"

    return MessengerEvent(
        kind=kind,
        sender_psid=sender_psid,
        recipient_id=recipient_id,
        timestamp=_to_datetime(timestamp_ms),
        event_key=event_key,
        raw=item,
        page_id=page_id,
        standby=standby,
        **fields,
    )


def _classify(item: dict[str, Any], fields: dict[str, Any]) -> EventKind:
    """Pick the event kind from the item's keys and fill the kind's fields."""
    if "message" in item:
        message = _object(item["message"], "message")
        fields["mid"] = _string(message, "mid", "message")
        fields["text"] = _string(message, "text", "message")
        quick_reply = message.get("quick_reply")
        if quick_reply is not None:
            quick_reply = _object(quick_reply, "message.quick_reply")
            fields["quick_reply_payload"] = _string(quick_reply, "payload", "message.quick_reply")
        is_echo = message.get("is_echo", False)
        if not isinstance(is_echo, bool):
            raise _ItemProblem("message.is_echo is not a boolean")
        if not is_echo:
            return EventKind.MESSAGE
        fields["app_id"] = _app_id(message.get("app_id"))
        return EventKind.ECHO
    if "postback" in item:
        postback = _object(item["postback"], "postback")
        fields["mid"] = _string(postback, "mid", "postback")
        fields["postback_payload"] = _string(postback, "payload", "postback")
        fields["postback_title"] = _string(postback, "title", "postback")
        if postback.get("referral") is not None:
            _read_referral(postback["referral"], "postback.referral", fields)
        return EventKind.POSTBACK
    if "referral" in item:
        _read_referral(item["referral"], "referral", fields)
        return EventKind.REFERRAL
    if "read" in item:
        read = _object(item["read"], "read")
        fields["watermark"] = _optional_ms(read, "watermark", "read")
        return EventKind.READ
    if "delivery" in item:
        delivery = _object(item["delivery"], "delivery")
        fields["watermark"] = _optional_ms(delivery, "watermark", "delivery")
        mids = delivery.get("mids")
        if mids is not None:
            if not isinstance(mids, list) or not all(isinstance(m, str) for m in mids):
                raise _ItemProblem("delivery.mids is not a list of strings")
            fields["delivered_mids"] = tuple(mids)
        return EventKind.DELIVERY
    if "optin" in item:
        optin = _object(item["optin"], "optin")
        fields["ref"] = _string(optin, "ref", "optin")
        return EventKind.OPTIN
    return EventKind.UNKNOWN


def _app_id(value: Any) -> str | None:
    """An echo's `app_id` (a number in Meta's examples, a string in some) as text."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    raise _ItemProblem("message.app_id is not an id")


def _read_referral(value: Any, where: str, fields: dict[str, Any]) -> None:
    referral = _object(value, where)
    fields["ref"] = _string(referral, "ref", where)
    fields["referral_source"] = _string(referral, "source", where)


def _timestamp_ms(item: dict[str, Any], fields: dict[str, Any], entry_time: Any) -> int:
    """Return the item's time in ms: its own, else its watermark, else the entry's."""
    if item.get("timestamp") is not None:
        return _ms(item["timestamp"], "timestamp")
    watermark = fields.get("watermark")
    if isinstance(watermark, datetime):
        return (watermark - _EPOCH) // timedelta(milliseconds=1)
    if entry_time is not None:
        return _ms(entry_time, "entry time")
    raise _ItemProblem("item has no timestamp")


def _ms(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ItemProblem(f"{where} is not an integer")
    if not 0 <= value <= _MAX_MS:
        raise _ItemProblem(f"{where} is out of range")
    return value


def _optional_ms(obj: dict[str, Any], key: str, where: str) -> datetime | None:
    if obj.get(key) is None:
        return None
    return _to_datetime(_ms(obj[key], f"{where}.{key}"))


def _to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _required_id(item: dict[str, Any], key: str) -> str:
    value = _optional_id(item, key)
    if value is None:
        raise _ItemProblem(f"{key}.id is missing")
    return value


def _optional_id(item: dict[str, Any], key: str) -> str | None:
    party = item.get(key)
    if party is None:
        return None
    party = _object(party, key)
    value = party.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _ItemProblem(f"{key}.id is not a non-empty string")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _ItemProblem(f"{where} is not an object")
    return value


def _string(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _ItemProblem(f"{where}.{key} is not a string")


def _canonical(value: Any) -> str:
    # ASCII escapes keep lone surrogates (valid in JSON text) encodable.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("ascii")).hexdigest()[:_HASH_CHARS]


def _item_error(reason: str, location: str, raw: Any) -> ItemError:
    return ItemError(reason=reason, location=location, raw=raw, event_key=f"invalid:{_digest(raw)}")
