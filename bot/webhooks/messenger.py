"""GET/POST /webhooks/messenger: verify Meta's signature, store every event, answer fast.

Events are only stored here (the inbox); the worker processes them after the commit, so the
answer goes back within Meta's 20 seconds whatever the processing costs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from dataclasses import fields
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from bot.config import DEMO_APP_SECRET, DEMO_VERIFY_TOKEN, is_embedded_demo
from bot.messaging.events import MessengerEvent, WebhookPayloadError, parse_webhook
from bot.messaging.inbox import inbound_row, store_events
from bot.models import QueueStatus
from bot.web import current_runtime
from bot.webhooks.database import DATABASE_ERRORS, database_unavailable, webhook_transaction
from bot.webhooks.signature import verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("messenger_webhook", __name__, url_prefix="/webhooks")
for _error in DATABASE_ERRORS:
    bp.register_error_handler(_error, database_unavailable)
# In the embedded demo (every transport local) and with no configured secret, the demo's public
# values (DEMO_APP_SECRET, DEMO_VERIFY_TOKEN) sign the simulator's events; anywhere else an
# unset secret means the webhook is not configured and answers 503.
EVENT_KEY_MAX = 200  # inbound_events.event_key
MAX_STORED_DEPTH = 64


def app_secret() -> str:
    """The secret that signs webhook bodies ("" when none is configured outside the demo)."""
    settings = current_runtime().settings
    demo = is_embedded_demo(settings)
    return settings.messenger.app_secret or (DEMO_APP_SECRET if demo else "")


def verify_token() -> str:
    """The subscription handshake's token ("" when none is configured outside the demo)."""
    settings = current_runtime().settings
    demo = is_embedded_demo(settings)
    return settings.messenger.verify_token or (DEMO_VERIFY_TOKEN if demo else "")


def _not_configured(what: str) -> Response:
    log.error("messenger webhook refused: [messenger] %s is not configured", what)
    return Response("webhook is not configured", status=503, mimetype="text/plain")


def _payload(event: MessengerEvent) -> dict[str, Any]:
    # Shallow on purpose: `raw` may nest deeper than asdict's recursive copy can go.
    data = {f.name: getattr(event, f.name) for f in fields(event)}
    data["timestamp"] = event.timestamp.isoformat()
    data["watermark"] = event.watermark.isoformat() if event.watermark else None
    data["kind"] = str(event.kind)
    data["person_psid"] = event.person_psid
    return data


def storable(value: Any, depth: int = 0) -> Any:
    """Return a JSON value every engine can keep.

    Valid JSON text can carry what PostgreSQL's jsonb refuses (NUL characters, lone surrogates,
    numbers beyond a float such as 1e400) and nesting deep enough to break the encoder: those
    are replaced (U+FFFD, the number's text, a marker) rather than failing the whole batch.
    """
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict | list | tuple) and depth >= MAX_STORED_DEPTH:
        return f"[nested deeper than {MAX_STORED_DEPTH} levels]"
    if isinstance(value, dict):
        return {_storable_text(str(k)): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v, depth + 1) for v in value]
    return value


def _storable_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def storable_key(key: str) -> str:
    """The event key as stored: a key longer than the column keeps its start plus a digest."""
    key = _storable_text(key)
    if len(key) <= EVENT_KEY_MAX:
        return key
    return f"{key[: EVENT_KEY_MAX - 34]}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


@bp.get("/messenger")
def verify_subscription() -> ResponseReturnValue:
    """The subscription handshake: echo hub.challenge when the verify token matches."""
    expected = verify_token()
    if not expected:
        return _not_configured("verify_token")
    given = request.args.get("hub.verify_token", "")
    if request.args.get("hub.mode") == "subscribe" and hmac.compare_digest(
        given.encode(), expected.encode()
    ):
        return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")
    log.warning("messenger webhook: verification handshake refused")
    return Response("forbidden", status=403, mimetype="text/plain")


@bp.post("/messenger")
def receive() -> ResponseReturnValue:
    """Store each event of a signed batch once (redeliveries change nothing)."""
    secret = app_secret()
    if not secret:
        return _not_configured("app_secret")
    raw = request.get_data(cache=False)
    if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), secret):
        log.warning("messenger webhook: missing or bad signature (%d bytes)", len(raw))
        return Response("forbidden", status=403, mimetype="text/plain")
    rt = current_runtime()
    now = rt.now()
    try:
        parsed = parse_webhook(raw)
    except (WebhookPayloadError, RecursionError) as exc:
        # Signed by Meta yet unreadable: keep it with the reason rather than make Meta retry.
        body = {"body": raw[:65536].decode("utf-8", "replace")}
        reason = str(exc) or type(exc).__name__
        with webhook_transaction(rt) as session:
            store_events(
                session,
                [_row(f"invalid-body:{hash_of(raw)}", QueueStatus.INVALID, body, now, reason)],
            )
        log.warning("messenger webhook: unreadable body kept (%s)", reason)
        return Response("EVENT_RECEIVED", mimetype="text/plain")
    rows = [_row(e.event_key, str(e.kind), _payload(e), now) for e in parsed.events]
    rows += [
        _row(
            e.event_key, QueueStatus.INVALID, {"raw": e.raw, "location": e.location}, now, e.reason
        )
        for e in parsed.errors
    ]
    with webhook_transaction(rt) as session:
        stored = store_events(session, rows)
    log.info(
        "messenger webhook: %d event(s), %d new, %d invalid",
        len(parsed.events),
        stored,
        len(parsed.errors),
    )
    return Response("EVENT_RECEIVED", mimetype="text/plain")


def _row(
    key: str, kind: str, payload: dict[str, Any], now: datetime, error: str = ""
) -> dict[str, Any]:
    """An inbox row of this webhook, made storable on every engine."""
    return inbound_row(
        source="messenger",
        event_key=storable_key(key),
        kind=kind,
        payload=storable(payload),
        now=now,
        error=error,
    )


def hash_of(raw: bytes) -> str:
    """A short content hash (the key of an unreadable body)."""
    return hashlib.sha256(raw).hexdigest()[:32]
