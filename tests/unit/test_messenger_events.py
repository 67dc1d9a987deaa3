"""Messenger webhook JSON → MessengerEvent values (pure translation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.messaging.events import (
    EventKind,
    MessengerEvent,
    ParsedWebhook,
    WebhookPayloadError,
    parse_webhook,
)

PAGE = "1234567890"
PSID = "9876543210"
TS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


def body(*items: dict[str, Any], page: str = PAGE) -> str:
    """Wrap messaging items in one page entry."""
    return json.dumps(
        {"object": "page", "entry": [{"id": page, "time": TS, "messaging": list(items)}]}
    )


def item(**fields: Any) -> dict[str, Any]:
    """Return a messaging item from PSID to the page at TS with extra fields."""
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": TS, **fields}


def only_event(raw: str) -> MessengerEvent:
    parsed = parse_webhook(raw)
    assert parsed.errors == ()
    assert len(parsed.events) == 1
    return parsed.events[0]


# --- one case per kind: (item fields, expected attributes) -----------------------------------

KIND_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text message",
        {"message": {"mid": "m_1", "text": "こんにちは"}},
        {"kind": EventKind.MESSAGE, "mid": "m_1", "text": "こんにちは", "event_key": "mid:m_1"},
    ),
    (
        "quick reply",
        {"message": {"mid": "m_2", "text": "はい", "quick_reply": {"payload": "CONSENT_YES"}}},
        {"kind": EventKind.MESSAGE, "quick_reply_payload": "CONSENT_YES", "text": "はい"},
    ),
    (
        "get started postback with ref",
        {
            "postback": {
                "mid": "m_3",
                "title": "はじめる",
                "payload": "GET_STARTED",
                "referral": {"ref": "tok_abc", "source": "SHORTLINK", "type": "OPEN_THREAD"},
            }
        },
        {
            "kind": EventKind.POSTBACK,
            "postback_payload": "GET_STARTED",
            "postback_title": "はじめる",
            "ref": "tok_abc",
            "referral_source": "SHORTLINK",
            "mid": "m_3",
        },
    ),
    (
        "postback button without referral",
        {"postback": {"title": "申込状況", "payload": "STATUS"}},
        {"kind": EventKind.POSTBACK, "postback_payload": "STATUS", "ref": None},
    ),
    (
        "messaging_referrals on an existing thread",
        {"referral": {"ref": "tok_xyz", "source": "SHORTLINK", "type": "OPEN_THREAD"}},
        {"kind": EventKind.REFERRAL, "ref": "tok_xyz", "referral_source": "SHORTLINK"},
    ),
    (
        "message read",
        {"read": {"watermark": TS - 5}},
        {"kind": EventKind.READ, "watermark": datetime(2026, 1, 1, 0, 0, 0, 118000, tzinfo=UTC)},
    ),
    (
        "message delivered",
        {"delivery": {"mids": ["m_a", "m_b"], "watermark": TS}},
        {"kind": EventKind.DELIVERY, "delivered_mids": ("m_a", "m_b")},
    ),
    (
        "optin",
        {"optin": {"ref": "notify_me"}},
        {"kind": EventKind.OPTIN, "ref": "notify_me"},
    ),
    (
        "reaction is an unknown kind",
        {"reaction": {"mid": "m_9", "action": "react", "reaction": "love"}},
        {"kind": EventKind.UNKNOWN, "mid": None},
    ),
    (
        "handover pass_thread_control is an unknown kind",
        {"pass_thread_control": {"new_owner_app_id": "1", "metadata": ""}},
        {"kind": EventKind.UNKNOWN},
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in KIND_CASES], ids=[c[0] for c in KIND_CASES]
)
def test_each_event_kind_is_translated(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    event = only_event(body(item(**fields)))
    assert event.sender_psid == PSID
    assert event.recipient_id == PAGE
    assert event.page_id == PAGE
    assert event.timestamp == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert event.raw == item(**fields)
    for name, value in expected.items():
        assert getattr(event, name) == value, name


def test_echo_is_its_own_kind_and_points_at_the_person() -> None:
    echo = {
        "sender": {"id": PAGE},
        "recipient": {"id": PSID},
        "timestamp": TS,
        "message": {"is_echo": True, "app_id": 42, "mid": "m_echo", "text": "招待リンク"},
    }
    event = only_event(body(echo))
    assert event.kind is EventKind.ECHO
    assert event.event_key == "mid:m_echo"
    assert event.person_psid == PSID
    assert event.sender_psid == PAGE


@pytest.mark.parametrize(
    ("app_id", "expected"),
    [(263902037430900, "263902037430900"), ("1517776481860111", "1517776481860111"), (None, None)],
)
def test_echo_names_the_app_that_sent_it(app_id: Any, expected: str | None) -> None:
    message: dict[str, Any] = {"is_echo": True, "mid": "m_echo", "text": "担当の山田です"}
    if app_id is not None:
        message["app_id"] = app_id
    echo = {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": TS, "message": message}
    assert only_event(body(echo)).app_id == expected


@pytest.mark.parametrize("app_id", [True, -1, "abc", 1.5, {"id": 1}])
def test_echo_with_an_unreadable_app_id_is_reported(app_id: Any) -> None:
    echo = item(message={"is_echo": True, "mid": "m_echo", "app_id": app_id})
    parsed = parse_webhook(body(echo))
    assert parsed.events == ()
    assert [e.reason for e in parsed.errors] == ["message.app_id is not an id"]


def test_echo_under_standby_is_flagged_as_standby() -> None:
    # Meta's message_echoes reference, example 2: a Page inbox reply while another app owns it
    raw = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": TS,
                "standby": [
                    {
                        "sender": {"id": PAGE},
                        "recipient": {"id": PSID},
                        "timestamp": TS,
                        "message": {"mid": "m_s", "is_echo": True, "app_id": 263902037430900},
                    }
                ],
            }
        ],
    }
    event = only_event(json.dumps(raw))
    assert (event.kind, event.standby, event.person_psid) == (EventKind.ECHO, True, PSID)


def test_person_psid_is_sender_for_inbound_events() -> None:
    assert only_event(body(item(read={"watermark": TS}))).person_psid == PSID


def test_timestamp_is_aware_utc_with_milliseconds() -> None:
    event = only_event(body(item(message={"mid": "m", "text": "x"})))
    assert event.timestamp.tzinfo is UTC
    assert event.timestamp.isoformat() == "2026-01-01T00:00:00.123000+00:00"


def test_delivery_without_timestamp_uses_its_watermark() -> None:
    raw = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "delivery": {"watermark": TS}}
    assert only_event(body(raw)).timestamp == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_item_without_timestamp_or_watermark_uses_entry_time() -> None:
    raw = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "reaction": {}}
    assert only_event(body(raw)).timestamp == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_missing_recipient_falls_back_to_entry_page_id() -> None:
    raw = {"sender": {"id": PSID}, "timestamp": TS, "message": {"mid": "m", "text": "x"}}
    assert only_event(body(raw)).recipient_id == PAGE


def test_batch_of_several_entries_and_items_keeps_every_event_in_order() -> None:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": TS,
                "messaging": [
                    item(message={"mid": "m_1", "text": "1"}),
                    item(message={"mid": "m_2", "text": "2"}),
                    item(read={"watermark": TS}),
                ],
            },
            {
                "id": PAGE,
                "time": TS + 1,
                "messaging": [
                    item(postback={"payload": "GET_STARTED", "referral": {"ref": "r1"}}),
                    {**item(referral={"ref": "r2"}), "sender": {"id": "111"}},
                ],
            },
        ],
    }
    parsed = parse_webhook(json.dumps(payload).encode())
    assert parsed.errors == ()
    assert [e.kind for e in parsed.events] == [
        EventKind.MESSAGE,
        EventKind.MESSAGE,
        EventKind.READ,
        EventKind.POSTBACK,
        EventKind.REFERRAL,
    ]
    assert [e.ref for e in parsed.events[3:]] == ["r1", "r2"]
    assert parsed.events[4].sender_psid == "111"
    assert len({e.event_key for e in parsed.events}) == 5


def test_standby_items_are_events_flagged_as_standby() -> None:
    payload = {
        "object": "page",
        "entry": [{"id": PAGE, "time": TS, "standby": [item(message={"mid": "m_s", "text": "y"})]}],
    }
    event = only_event(json.dumps(payload))
    assert event.kind is EventKind.MESSAGE
    assert event.standby is True


def test_redelivered_webhook_gives_the_same_event_keys() -> None:
    items = [
        item(message={"mid": "m_1", "text": "x"}),
        item(postback={"payload": "GET_STARTED", "referral": {"ref": "tok"}}),
        item(referral={"ref": "tok"}),
        item(read={"watermark": TS}),
        item(reaction={"reaction": "like"}),
    ]
    first = parse_webhook(body(*items))
    # Meta may re-serialise with other key order and whitespace.
    again = parse_webhook(json.dumps(json.loads(body(*items)), indent=2, sort_keys=True))
    assert [e.event_key for e in first.events] == [e.event_key for e in again.events]


def test_non_message_event_key_names_kind_sender_and_millisecond() -> None:
    key = only_event(body(item(referral={"ref": "tok"}))).event_key
    kind, sender, ms, digest = key.split(":")
    assert (kind, sender, ms) == ("referral", PSID, str(TS))
    assert len(digest) == 16


def test_two_different_events_in_the_same_millisecond_get_different_keys() -> None:
    parsed = parse_webhook(body(item(referral={"ref": "a"}), item(referral={"ref": "b"})))
    first, second = parsed.events
    assert first.event_key != second.event_key


def test_message_without_mid_still_gets_a_stable_key() -> None:
    key = only_event(body(item(message={"text": "x"}))).event_key
    assert key.startswith(f"message:{PSID}:{TS}:")


def test_string_timestamp_is_accepted() -> None:
    event = only_event(body(item(timestamp=str(TS), read={"watermark": TS})))
    assert event.timestamp == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


# --- malformed envelopes raise ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('"page"', "not a JSON object"),
        ('{"entry": []}', "object is not 'page'"),
        ('{"object": "instagram", "entry": []}', "object is not 'page'"),
        ('{"object": "page"}', "entry is missing"),
        ('{"object": "page", "entry": {}}', "entry is missing or not a list"),
        ('{"object": "page", "entry": [], "x": NaN}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_malformed_envelope_raises_with_a_short_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason):
        parse_webhook(raw)


def test_non_text_body_raises() -> None:
    with pytest.raises(WebhookPayloadError):
        parse_webhook(123)  # type: ignore[arg-type]


def test_empty_entry_list_gives_nothing() -> None:
    assert parse_webhook('{"object": "page", "entry": []}') == ParsedWebhook()


# --- a bad item inside a valid batch is kept as an error, the rest survives ---------------------

BAD_ITEMS: list[tuple[str, Any, str]] = [
    ("not an object", "oops", "messaging item is not an object"),
    (
        "no sender",
        {"recipient": {"id": PAGE}, "timestamp": TS, "message": {}},
        "sender.id is missing",
    ),
    ("sender without id", item(sender={"user_ref": "u"}, optin={}), "sender.id is missing"),
    ("numeric sender id", item(sender={"id": 5}), "sender.id is not a non-empty string"),
    ("sender not an object", item(sender="x"), "sender is not an object"),
    ("message not an object", item(message="hi"), "message is not an object"),
    ("text not a string", item(message={"mid": "m", "text": 5}), "message.text is not a string"),
    ("is_echo not a boolean", item(message={"is_echo": "yes"}), "is_echo is not a boolean"),
    (
        "quick reply not an object",
        item(message={"quick_reply": []}),
        "quick_reply is not an object",
    ),
    ("postback ref not a string", item(postback={"referral": {"ref": 1}}), "ref is not a string"),
    ("referral not an object", item(referral="tok"), "referral is not an object"),
    ("bool timestamp", item(timestamp=True, read={}), "timestamp is not an integer"),
    ("negative timestamp", item(timestamp=-1, read={}), "timestamp is out of range"),
    ("huge timestamp", item(timestamp=10**20, read={}), "timestamp is out of range"),
    ("float timestamp", item(timestamp=1.5, read={}), "timestamp is not an integer"),
    ("delivery mids not strings", item(delivery={"mids": [1]}), "mids is not a list of strings"),
]


@pytest.mark.parametrize(
    ("bad", "reason"), [c[1:] for c in BAD_ITEMS], ids=[c[0] for c in BAD_ITEMS]
)
def test_bad_item_is_reported_and_good_items_of_the_batch_survive(bad: Any, reason: str) -> None:
    good = item(message={"mid": "m_ok", "text": "ok"})
    parsed = parse_webhook(body(good, bad))
    assert [e.event_key for e in parsed.events] == ["mid:m_ok"]
    (error,) = parsed.errors
    assert reason in error.reason
    assert error.location == "entry[0].messaging[1]"
    assert error.raw == bad
    assert error.event_key.startswith("invalid:")


def test_bad_entries_are_reported_and_other_entries_survive() -> None:
    payload = {
        "object": "page",
        "entry": [
            "junk",
            {"id": PAGE, "time": TS, "messaging": {"not": "a list"}},
            {"id": PAGE, "time": TS, "changes": [{"field": "feed"}]},
            {"id": 5, "messaging": []},
            {"id": PAGE, "time": TS, "messaging": [item(message={"mid": "m_ok", "text": "ok"})]},
        ],
    }
    parsed = parse_webhook(json.dumps(payload))
    assert [e.mid for e in parsed.events] == ["m_ok"]
    assert [(e.location, e.reason) for e in parsed.errors] == [
        ("entry[0]", "entry is not an object"),
        ("entry[1].messaging", "messaging is not a list"),
        ("entry[2]", "entry has no messaging or standby list"),
        ("entry[3]", "entry id is not a string"),
    ]


def test_same_bad_item_redelivered_gets_the_same_error_key() -> None:
    bad = item(sender={"id": 5})
    first, again = parse_webhook(body(bad)), parse_webhook(body(bad))
    assert first.errors[0].event_key == again.errors[0].event_key


# --- property: any JSON-ish input either parses or raises WebhookPayloadError ------------------

WEBHOOK_KEYS = (
    "object entry id time messaging standby sender recipient timestamp message mid text is_echo "
    "quick_reply payload postback title referral ref source read delivery mids watermark optin x"
).split()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["page", PSID, PAGE, "m_1", str(TS)]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(WEBHOOK_KEYS) | st.text(max_size=4),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)

plausible_items = st.fixed_dictionaries(
    {"sender": st.just({"id": PSID})},
    optional={
        "recipient": st.just({"id": PAGE}) | json_values,
        "timestamp": st.integers(min_value=0, max_value=2**45) | json_values,
        "message": st.fixed_dictionaries(
            {}, optional={k: json_values for k in ("mid", "text", "is_echo", "quick_reply")}
        )
        | json_values,
        "postback": st.fixed_dictionaries(
            {}, optional={k: json_values for k in ("payload", "title", "referral")}
        ),
        "referral": st.fixed_dictionaries({}, optional={"ref": json_values}) | json_values,
        "read": st.fixed_dictionaries({}, optional={"watermark": json_values}),
        "delivery": st.fixed_dictionaries({}, optional={"mids": json_values}),
    },
)

envelopes = st.builds(
    lambda entries: {"object": "page", "entry": entries},
    st.lists(
        st.fixed_dictionaries(
            {"id": st.just(PAGE), "messaging": st.lists(plausible_items | json_values, max_size=4)},
            optional={"time": json_values, "standby": json_values},
        )
        | json_values,
        max_size=3,
    ),
)


def _check_never_raises_anything_else(payload: str | bytes) -> None:
    try:
        parsed = parse_webhook(payload)
    except WebhookPayloadError:
        return
    assert isinstance(parsed, ParsedWebhook)
    for event in parsed.events:
        assert isinstance(event.kind, EventKind)
        assert event.timestamp.tzinfo is UTC
        assert event.event_key


@settings(max_examples=300)
@given(st.one_of(json_values, envelopes))
def test_any_json_either_parses_or_raises_payload_error(value: Any) -> None:
    _check_never_raises_anything_else(json.dumps(value))


@given(st.binary(max_size=64) | st.text(max_size=64))
def test_any_bytes_or_text_either_parses_or_raises_payload_error(raw: bytes | str) -> None:
    _check_never_raises_anything_else(raw)
