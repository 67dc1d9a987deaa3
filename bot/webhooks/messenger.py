"""GET/POST /webhooks/messenger: verify Meta's signature, store every event, answer fast.

Events are only stored here (the inbox); the worker processes them after the commit, so the
answer goes back within Meta's 20 seconds whatever the processing costs.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from bot import current_runtime
from bot.messaging.events import MessengerEvent, WebhookPayloadError, parse_webhook
from bot.messaging.inbox import store_event
from bot.webhooks.signature import verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("messenger_webhook", __name__, url_prefix="/webhooks")
# With the local outbox transport (the demo) and no configured secret, this one signs the
# simulator's events; a real (graph) transport cannot start without its own app secret.
DEMO_APP_SECRET = "cityhall-demo-app-secret"
DEMO_VERIFY_TOKEN = "cityhall-demo-verify-token"


def app_secret() -> str:
    """The secret that signs webhook bodies."""
    m = current_runtime().settings.messenger
    return m.app_secret or (DEMO_APP_SECRET if m.transport == "outbox" else "")


def _payload(event: MessengerEvent) -> dict[str, Any]:
    data = asdict(event)
    data["timestamp"] = event.timestamp.isoformat()
    data["kind"] = str(event.kind)
    data["person_psid"] = event.person_psid
    return data


@bp.get("/messenger")
def verify_subscription() -> ResponseReturnValue:
    """The subscription handshake: echo hub.challenge when the verify token matches."""
    m = current_runtime().settings.messenger
    expected = m.verify_token or (DEMO_VERIFY_TOKEN if m.transport == "outbox" else "")
    given = request.args.get("hub.verify_token", "")
    if (
        request.args.get("hub.mode") == "subscribe"
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")
    log.warning("messenger webhook: verification handshake refused")
    return Response("forbidden", status=403, mimetype="text/plain")


@bp.post("/messenger")
def receive() -> ResponseReturnValue:
    """Store each event of a signed batch once (redeliveries change nothing)."""
    raw = request.get_data(cache=False)
    if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), app_secret()):
        log.warning("messenger webhook: missing or bad signature (%d bytes)", len(raw))
        return Response("forbidden", status=403, mimetype="text/plain")
    rt = current_runtime()
    now = rt.now()
    try:
        parsed = parse_webhook(raw)
    except WebhookPayloadError as exc:
        # Signed by Meta yet unreadable: keep it with the reason rather than make Meta retry.
        with rt.db.transaction() as session:
            store_event(
                session,
                source="messenger",
                event_key=f"invalid-body:{hash_of(raw)}",
                kind="invalid",
                payload={"body": raw[:65536].decode("utf-8", "replace")},
                now=now,
                status="invalid",
                error=str(exc),
            )
        log.warning("messenger webhook: unreadable body kept (%s)", exc)
        return Response("EVENT_RECEIVED", mimetype="text/plain")
    stored = 0
    with rt.db.transaction() as session:
        for event in parsed.events:
            stored += store_event(
                session,
                source="messenger",
                event_key=event.event_key,
                kind=str(event.kind),
                payload=_payload(event),
                now=now,
            )
        for error in parsed.errors:
            store_event(
                session,
                source="messenger",
                event_key=error.event_key,
                kind="invalid",
                payload={"raw": error.raw, "location": error.location},
                now=now,
                status="invalid",
                error=error.reason,
            )
    log.info(
        "messenger webhook: %d event(s), %d new, %d invalid",
        len(parsed.events),
        stored,
        len(parsed.errors),
    )
    return Response("EVENT_RECEIVED", mimetype="text/plain")


def hash_of(raw: bytes) -> str:
    """A short content hash (the key of an unreadable body)."""
    import hashlib

    return hashlib.sha256(raw).hexdigest()[:32]
