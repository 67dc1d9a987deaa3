"""POST /webhooks/forms: the Apps Script onFormSubmit push, taken in at once.

The body is `{"namedValues": {"<question title>": ["<answer>", ...]}, "timestamp": <unix s>}`,
signed with `X-Cityhall-Signature: sha256=<hex HMAC-SHA256 of the raw body, [forms] push_secret>`.
The signature is checked on the raw bytes before anything is parsed; a timestamp more than five
minutes from now is a replay. A valid push goes through the same intake as the poll, in one
transaction, so a replayed or later-polled response finds its unchanged fingerprint and writes
nothing. Pushes are hints: the poll reconciles whatever a push missed. Nothing personal is logged.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from bot.onboarding.intake import FormSyncError, ingest_snapshot, push_snapshot
from bot.web import current_runtime
from bot.webhooks.database import DATABASE_ERRORS, database_unavailable, webhook_transaction
from bot.webhooks.signature import verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("forms_webhook", __name__, url_prefix="/webhooks")
for _error in DATABASE_ERRORS:
    bp.register_error_handler(_error, database_unavailable)
SIGNATURE_HEADER = "X-Cityhall-Signature"
MAX_SKEW = timedelta(minutes=5)


class MalformedPush(ValueError):
    """The body is not a push; the message names the problem, never a value."""


@dataclass(frozen=True)
class FormPush:
    """One decoded push body."""

    named_values: dict[str, list[str]]
    timestamp: float


def parse_push(raw: bytes) -> FormPush:
    """Decode and type-check a push body (raises MalformedPush)."""
    try:
        body: Any = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise MalformedPush("body is not JSON") from None
    except RecursionError:  # thousands of nested arrays: no push looks like that
        raise MalformedPush("body is nested too deeply") from None
    if not isinstance(body, dict):
        raise MalformedPush("body is not a JSON object")
    named = body.get("namedValues")
    if not isinstance(named, dict) or not named:
        raise MalformedPush("namedValues is not a non-empty object")
    for values in named.values():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise MalformedPush("namedValues must map each question title to a list of strings")
    # An answer that is not text is the intake's to quarantine (kept, with its reason); a question
    # title that is not text names no column at all.
    if not all(_is_text(title) for title in named):
        raise MalformedPush("a question title holds an unpaired surrogate (not text)")
    stamp = body.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise MalformedPush("timestamp is not a number of seconds")
    return FormPush(named_values=named, timestamp=float(stamp))


def _is_text(value: str) -> bool:
    """Whether a JSON string is text: "\\ud800" alone decodes, but is no character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse(status: int, error: str) -> ResponseReturnValue:
    return jsonify(error=error), status


@bp.post("/forms")
def receive_push() -> ResponseReturnValue:
    """Verify, then take one form response in; answer with the intake counts."""
    rt = current_runtime()
    secret = rt.settings.forms.push_secret
    if not secret:
        log.error("forms push refused: [forms] push_secret is not configured")
        return _refuse(503, "push is not configured")
    raw = request.get_data(cache=False)
    if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER), secret):
        log.warning("forms push refused: missing or bad signature (%d bytes)", len(raw))
        return _refuse(401, "bad signature")
    try:
        push = parse_push(raw)
    except MalformedPush as exc:
        log.warning("forms push refused: %s", exc)
        return _refuse(400, str(exc))
    now = rt.now()
    skew = abs(now.timestamp() - push.timestamp)
    if skew > MAX_SKEW.total_seconds():
        log.warning("forms push refused: timestamp %.0f s away from now (replay?)", skew)
        return _refuse(401, "stale timestamp")
    try:
        with webhook_transaction(rt) as session:
            counts = ingest_snapshot(
                session,
                push_snapshot(push.named_values),
                settings=rt.settings,
                now=now,
                source="push",
            )
    except FormSyncError as exc:  # e.g. the email question is missing: titles only, no answers
        log.warning("forms push not taken in: %s", exc)
        return _refuse(422, str(exc))
    log.info("forms push: %s", counts)
    return jsonify(
        new=counts.new,
        updated=counts.updated,
        unchanged=counts.unchanged,
        quarantined=counts.quarantined,
    )
