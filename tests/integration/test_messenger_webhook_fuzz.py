"""Hypothesis fuzzing of POST /webhooks/messenger: hostile bodies and signatures, never a 5xx.

Properties, on every database engine:

* the endpoint never answers 5xx, whatever the body, the signature or its size;
* without a valid signature nothing is stored (403, or 413 for an oversized body);
* with a valid signature any body is answered 200 (413 when oversized), and what is stored is
  exactly what the parser made of it: one row per distinct event key, each either a parsed
  event (``pending``) or an ``invalid`` row that keeps its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot import create_app
from bot.messaging.events import EventKind, WebhookPayloadError, parse_webhook
from bot.messaging.rate import RateLimiter
from bot.messaging.worker import Worker
from bot.models import InboundEvent, MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from bot.webhooks.signature import sign

SECRET = "app-secret"  # tests/conftest.py settings
PAGE = "1000"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- bodies ---------------------------------------------------------------------------------------
# Characters Meta may well send and the database may well choke on: NUL, controls, astral planes.
tricky_text = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "\u2028", "😀", "申", "\ufeff"]),
    max_size=24,
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=12,
)
timestamps = st.integers(min_value=0, max_value=2_000_000_000_000)
ids = st.text("0123456789", min_size=1, max_size=20)


@st.composite
def messaging_items(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed item of any kind Meta sends (and one kind nobody knows)."""
    item: dict[str, Any] = {
        "sender": {"id": draw(ids)},
        "recipient": {"id": PAGE},
        "timestamp": draw(timestamps),
    }
    kind = draw(
        st.sampled_from(["message", "postback", "referral", "read", "delivery", "echo", "other"])
    )
    if kind == "message":
        item["message"] = {"mid": "m_" + draw(ids), "text": draw(tricky_text)}
        if draw(st.booleans()):
            item["message"]["quick_reply"] = {"payload": draw(tricky_text)}
    elif kind == "echo":
        item["message"] = {"mid": "m_" + draw(ids), "text": draw(tricky_text), "is_echo": True}
    elif kind == "postback":
        item["postback"] = {"title": draw(tricky_text), "payload": draw(tricky_text)}
        if draw(st.booleans()):
            item["postback"]["referral"] = {"ref": draw(tricky_text), "source": "SHORTLINK"}
    elif kind == "referral":
        item["referral"] = {"ref": draw(tricky_text), "source": "SHORTLINK", "type": "OPEN_THREAD"}
    elif kind == "read":
        item["read"] = {"watermark": draw(timestamps)}
    elif kind == "delivery":
        item["delivery"] = {"watermark": draw(timestamps), "mids": [draw(ids)]}
    else:
        item["reaction"] = {"reaction": "love", "emoji": "❤"}
    return item


@st.composite
def webhook_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed batch: several entries, several items each."""
    entries = [
        {
            "id": PAGE,
            "time": draw(timestamps),
            "messaging": draw(st.lists(messaging_items(), min_size=1, max_size=3)),
        }
        for _ in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    return {"object": "page", "entry": entries}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (dict keys / list indexes) into a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mistyped_bodies(draw: st.DrawFn) -> dict[str, Any] | Any:
    """A well-formed batch with wrong types (or missing keys) dropped in anywhere."""
    body: Any = draw(webhook_bodies())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(body)))
        replacement = draw(json_values)
        if not path:
            body = replacement
            continue
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    return body


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


# Raw texts the JSON encoder would never write: broken syntax, non-standard constants, escapes
# that are valid JSON but hard to store (NUL, lone surrogates), numbers beyond float and int.
RAW_SNIPPETS = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'{"object": "page"}',
    b'{"object": "page", "entry": {}}',
    b'{"object": "page", "entry": [NaN]}',
    b'{"object": "page", "entry": [{"id": "1000", "messaging": [Infinity]}]}',
    b"\xff\xfe{}",
    b'{"object": "page", "entry": [{"id": "1000", "time": 1e400, "messaging": [{}]}]}',
]
TRICKY_ITEMS = [
    '{"sender": {"id": "p\\u0000"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "message": {"mid": "m_nul\\u0000", "text": "a\\u0000b"}}',
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "message": {"mid": "m_sur", "text": "\\ud800 alone"}}',
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "postback": {"payload": "X", "big": 1e400, "neg": -1e400}}',
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "message": {"mid": "m_' + "x" * 400 + '", "text": "long mid"}}',
    '{"sender": {"id": "' + "9" * 300 + '"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "read": {"watermark": 1}}',
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "referral": {"ref": "' + "r" * 5000 + '"}}',
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "message": {"mid": "m_deep", "text": "x", "nested": ' + "[" * 200 + "]" * 200 + "}}",
    '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
    ' "message": {"mid": "m_int", "text": "x", "n": ' + "7" * 400 + "}}",
    '"just a string"',
    '{"sender": {"id": 5}, "timestamp": "soon"}',
]


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes that are malformed, or valid JSON that is awkward to keep."""
    choice = draw(st.integers(min_value=0, max_value=4))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        return draw(st.sampled_from(RAW_SNIPPETS))
    if choice == 2:  # a well-formed batch cut short (a truncated delivery)
        raw = _encode(draw(webhook_bodies()))
        return raw[: draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))]
    if choice == 3:  # tricky items spliced into a valid envelope
        items = draw(st.lists(st.sampled_from(TRICKY_ITEMS), min_size=1, max_size=3))
        good = [json.dumps(i) for i in draw(webhook_bodies())["entry"][0]["messaging"]]
        mixed = draw(st.permutations(items + good))
        return (
            '{"object": "page", "entry": [{"id": "1000", "time": 1, "messaging": ['
            + ", ".join(mixed)
            + "]}]}"
        ).encode("utf-8", "surrogatepass")
    return ("[" * 5000 + "]" * 5000).encode()  # nesting beyond the parser's recursion limit


any_body = st.one_of(
    webhook_bodies().map(_encode),
    mistyped_bodies().map(_encode),
    json_values.map(_encode),
    raw_bodies(),
)

# -- signatures -----------------------------------------------------------------------------------
# Each maker returns (header value or None for no header, whether it is a valid signature).
SignatureMaker = Callable[[bytes, Any], tuple[str | None, bool]]


def _flip_one_hex_digit(sig: str, position: int) -> str:
    index = len("sha256=") + position % 64
    digit = "0" if sig[index] != "0" else "1"
    return sig[:index] + digit + sig[index + 1 :]


BAD_SIGNATURES: dict[str, SignatureMaker] = {
    "missing": lambda raw, draw: (None, False),
    "empty": lambda raw, draw: ("", False),
    "other secret": lambda raw, draw: (sign(raw, "not-the-secret"), False),
    "other body": lambda raw, draw: (sign(raw + b" ", SECRET), False),
    "one digit flipped": lambda raw, draw: (
        _flip_one_hex_digit(sign(raw, SECRET), draw(st.integers(0, 63))),
        False,
    ),
    "truncated": lambda raw, draw: (sign(raw, SECRET)[: draw(st.integers(0, 70))], False),
    "sha1 scheme": lambda raw, draw: ("sha1=" + sign(raw, SECRET)[7:47], False),
    "no scheme": lambda raw, draw: (sign(raw, SECRET)[7:], False),
    "garbage": lambda raw, draw: (
        draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)),
        False,
    ),
    "non-hex of the right length": lambda raw, draw: ("sha256=" + "z" * 64, False),
}
GOOD_SIGNATURES: dict[str, SignatureMaker] = {
    "exact": lambda raw, draw: (sign(raw, SECRET), True),
    "upper-case hex": lambda raw, draw: ("sha256=" + sign(raw, SECRET)[7:].upper(), True),
    "padded": lambda raw, draw: ("  " + sign(raw, SECRET) + " ", True),
}


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime=runtime).test_client()


def _post(client: FlaskClient, raw: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhooks/messenger", data=raw, headers=headers).status_code


def _empty_inbox(rt: Runtime) -> None:
    with rt.db.transaction() as s:
        s.execute(delete(InboundEvent))


def _stored(rt: Runtime) -> list[InboundEvent]:
    with rt.db.transaction() as s:
        return list(s.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def _expected_rows(raw: bytes) -> list[tuple[str, str]]:
    """(kind, status) of each row the webhook should store for a signed body, key order."""
    try:
        parsed = parse_webhook(raw)
    except WebhookPayloadError:
        return [("invalid", "invalid")]
    rows: dict[str, tuple[str, str]] = {}
    for event in parsed.events:
        rows.setdefault(event.event_key, (str(event.kind), "pending"))
    for error in parsed.errors:
        rows.setdefault(error.event_key, ("invalid", "invalid"))
    return sorted(rows.values())


def _assert_well_formed(row: InboundEvent) -> None:
    assert row.source == "messenger"
    assert 0 < len(row.event_key) <= 200
    if row.status == "invalid":
        assert row.kind == "invalid" and row.last_error, "an invalid row keeps its reason"
    else:
        assert row.status == "pending" and row.kind in set(EventKind)
        assert row.payload["sender_psid"] and row.payload["timestamp"]


# -- properties -----------------------------------------------------------------------------------
@FUZZ
@given(raw=any_body, data=st.data())
def test_unsigned_or_badly_signed_bodies_are_refused_and_never_stored(
    client: FlaskClient, runtime: Runtime, raw: bytes, data: st.DataObject
) -> None:
    _empty_inbox(runtime)
    how = data.draw(st.sampled_from(sorted(BAD_SIGNATURES)), label="signature")
    signature, valid = BAD_SIGNATURES[how](raw, data.draw)
    assert not valid
    assert _post(client, raw, signature) == 403
    assert _stored(runtime) == []


@FUZZ
@given(raw=any_body, data=st.data())
def test_signed_bodies_are_accepted_and_stored_as_events_or_invalid_rows_with_reasons(
    client: FlaskClient, runtime: Runtime, raw: bytes, data: st.DataObject
) -> None:
    _empty_inbox(runtime)
    how = data.draw(st.sampled_from(sorted(GOOD_SIGNATURES)), label="signature")
    signature, _ = GOOD_SIGNATURES[how](raw, data.draw)
    assert _post(client, raw, signature) == 200
    stored = _stored(runtime)
    for row in stored:
        _assert_well_formed(row)
    assert sorted((r.kind, r.status) for r in stored) == _expected_rows(raw)
    # a redelivery of the same body changes nothing
    assert _post(client, raw, signature) == 200
    assert len(_stored(runtime)) == len(stored)


def test_deeply_nested_signed_bodies_are_kept_without_a_server_error(
    client: FlaskClient, runtime: Runtime
) -> None:
    # Around the interpreter's recursion limit the parser may succeed while an encoder fails.
    for depth in (200, 500, *range(900, 1001, 4), 5000):
        _empty_inbox(runtime)
        nested = "[" * depth + "]" * depth
        item = (
            '{"sender": {"id": "p1"}, "recipient": {"id": "1000"}, "timestamp": 1,'
            ' "message": {"mid": "m_deep", "text": "x", "nested": ' + nested + "}}"
        )
        raw = f'{{"object": "page", "entry": [{{"id": "1000", "messaging": [{item}]}}]}}'.encode()
        assert _post(client, raw, sign(raw, SECRET)) == 200, depth
        stored = _stored(runtime)
        assert len(stored) == 1, depth
        _assert_well_formed(stored[0])


@settings(FUZZ, max_examples=8)
@given(
    body=webhook_bodies(),
    extra=st.integers(min_value=1, max_value=4096),
    signed=st.booleans(),
)
def test_oversized_bodies_are_refused_with_413_whatever_their_signature(
    client: FlaskClient, runtime: Runtime, body: dict[str, Any], extra: int, signed: bool
) -> None:
    _empty_inbox(runtime)
    limit = runtime.settings.app.max_webhook_bytes
    raw = _encode(body)
    raw = raw[:-1] + b" " * (limit - len(raw) + extra) + raw[-1:]  # still valid JSON
    assert len(raw) > limit
    assert _post(client, raw, sign(raw, SECRET) if signed else "sha256=" + "0" * 64) == 413
    assert _stored(runtime) == []


@settings(FUZZ, max_examples=25)
@given(bodies=st.lists(st.one_of(webhook_bodies(), mistyped_bodies()), min_size=1, max_size=3))
def test_worker_processes_whatever_a_signed_webhook_stored_without_dead_events(
    client: FlaskClient, runtime: Runtime, bodies: list[Any]
) -> None:
    with runtime.db.transaction() as s:
        for model in (OutboundMessage, InboundEvent, MessengerIdentity):
            s.execute(delete(model))
    for body in bodies:
        raw = _encode(body)
        assert _post(client, raw, sign(raw, SECRET)) == 200
    worker = Worker(runtime)
    worker.limiter = RateLimiter(0)  # the local transport needs no pacing
    worker.run(once=True)
    with runtime.db.transaction() as s:
        statuses = set(s.scalars(select(InboundEvent.status)))
        assert statuses <= {"done", "ignored", "invalid"}, statuses
        assert "dead" not in set(s.scalars(select(OutboundMessage.status)))
