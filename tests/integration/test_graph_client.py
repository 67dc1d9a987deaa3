"""GraphClient against a fake Graph API at the HTTP boundary (`responses`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from bench.fake_graph import serve
from integrations.graph import (
    GraphClient,
    UserProfile,
    appsecret_proof,
    classify_graph_error,
)
from integrations.ports import DeliveryError, FailureKind, MessengerSender

TOKEN = "EAAG-page-token-SECRET-123"
APP_SECRET = "app-secret-456"
BASE = "https://graph.test"
SEND_URL = f"{BASE}/v25.0/me/messages"
PROFILE_URL = f"{BASE}/v25.0/me/messenger_profile"
PSID = "24680"
TEXT = "招待リンクです"
MESSAGE = {"text": TEXT}


@pytest.fixture
def fake_graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> GraphClient:
    return GraphClient(TOKEN, APP_SECRET, base_url=BASE, timeout=3.5)


def graph_error(code: int, subcode: int | None = None, message: str = "boom") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AbC"
    return {"error": error}


def assert_no_secret(text: str) -> None:
    expected_proof = appsecret_proof(TOKEN, APP_SECRET)
    for secret in (TOKEN, APP_SECRET, expected_proof, TEXT):
        assert secret not in text


# --- classification table -------------------------------------------------------------------

# Labelled from Meta's published tables (Messenger Platform "Common Error Codes", Send API
# error reference) and DESIGN.md, not from the classifier: (status, code, subcode, kind).
CLASSIFICATION = [
    # outside the window: the person's messages wait for their next interaction
    (400, 10, 2018278, FailureKind.OUTSIDE_WINDOW),
    (400, 10, 2018065, FailureKind.OUTSIDE_WINDOW),
    (400, 10, 2534022, FailureKind.OUTSIDE_WINDOW),
    # one person cannot be messaged: never pauses anybody else
    (400, 10, 2018108, FailureKind.UNREACHABLE),
    (400, 100, 2018001, FailureKind.UNREACHABLE),
    (400, 551, 1545041, FailureKind.UNREACHABLE),
    (400, 551, None, FailureKind.UNREACHABLE),
    (400, 200, 1545041, FailureKind.UNREACHABLE),
    # the app or the Page: pause everybody's sending, alert
    (400, 10, None, FailureKind.AUTH),
    (400, 10, 1893063, FailureKind.AUTH),
    (400, 190, None, FailureKind.AUTH),
    (400, 190, 463, FailureKind.AUTH),
    (400, 190, 460, FailureKind.AUTH),
    (403, 200, None, FailureKind.AUTH),
    (400, 200, 2018028, FailureKind.AUTH),
    (400, 200, 2018027, FailureKind.AUTH),
    (400, 230, None, FailureKind.AUTH),
    (400, 299, None, FailureKind.AUTH),
    # the request itself
    (400, 100, None, FailureKind.INVALID),
    (400, 100, 2018109, FailureKind.INVALID),
    (400, None, None, FailureKind.INVALID),
    # transient: back off and retry (code 2 may also be a block: bounded retries, this row only)
    (400, 1, None, FailureKind.RETRY),
    (500, 2, None, FailureKind.RETRY),
    (400, 4, None, FailureKind.RETRY),
    (400, 4, 2018022, FailureKind.RETRY),
    (400, 17, None, FailureKind.RETRY),
    (400, 32, None, FailureKind.RETRY),
    (400, 613, None, FailureKind.RETRY),
    (400, 1200, None, FailureKind.RETRY),
    (500, None, None, FailureKind.RETRY),
    (502, None, None, FailureKind.RETRY),
    (503, 12345, None, FailureKind.RETRY),
    (429, None, None, FailureKind.RETRY),
    (401, None, None, FailureKind.AUTH),
]
UNDOCUMENTED = [(400, 10, 9999999), (400, 200, 7777777), (400, 803, None), (404, 12345, 1)]


@pytest.mark.parametrize(("status", "code", "subcode"), UNDOCUMENTED)
def test_an_undocumented_pair_fails_only_its_row_and_is_marked_unknown(
    status: int, code: int, subcode: int | None
) -> None:
    error = classify_graph_error(status, graph_error(code, subcode), {})
    assert error.kind is FailureKind.INVALID and error.unknown
    assert f"{code}/{subcode}" in error.cause


def test_documented_pairs_carry_their_cause() -> None:
    error = classify_graph_error(400, graph_error(10, 1893063), {})
    assert error.cause == "the Page is temporarily restricted from messaging"
    assert not error.unknown


@pytest.mark.parametrize(("status", "code", "subcode", "kind"), CLASSIFICATION)
def test_graph_errors_are_classified_with_subcodes_before_bare_codes(
    status: int, code: int | None, subcode: int | None, kind: FailureKind
) -> None:
    body = graph_error(code, subcode) if code is not None else None
    error = classify_graph_error(status, body, {})
    assert error.kind is kind
    assert (error.code, error.subcode) == (code, subcode)


def test_classification_reads_string_codes_and_ignores_junk_bodies() -> None:
    assert classify_graph_error(
        400, {"error": {"code": "10", "error_subcode": "2018278"}}
    ).kind is (FailureKind.OUTSIDE_WINDOW)
    assert classify_graph_error(400, {"error": "nope"}).kind is FailureKind.INVALID
    assert classify_graph_error(502, {"error": {"code": True}}).kind is FailureKind.RETRY


# --- rate-limit headers → retry_after ----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "112233": [
                            {
                                "type": "pages",
                                "call_count": 100,
                                "total_cputime": 30,
                                "total_time": 40,
                                "estimated_time_to_regain_access": 5,
                            }
                        ]
                    }
                )
            },
            300.0,
        ),
        (
            {
                "x-page-usage": json.dumps(
                    {"call_count": 100, "total_time": 1, "estimated_time_to_regain_access": 2}
                )
            },
            120.0,
        ),
        (
            {
                "X-App-Usage": json.dumps({"estimated_time_to_regain_access": 1}),
                "X-Page-Usage": json.dumps({"estimated_time_to_regain_access": 3}),
            },
            180.0,
        ),
        ({"Retry-After": "7"}, 7.0),
        (
            {"X-App-Usage": json.dumps({"call_count": 99, "estimated_time_to_regain_access": 0})},
            None,
        ),
        ({"X-Page-Usage": "not json"}, None),
        ({}, None),
    ],
)
def test_rate_limit_headers_become_retry_after_seconds(
    fake_graph: responses.RequestsMock,
    client: GraphClient,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    fake_graph.post(SEND_URL, json=graph_error(32), status=400, headers=headers)
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is FailureKind.RETRY
    assert caught.value.retry_after == retry_after


def test_retry_after_is_not_set_on_errors_that_are_not_retried() -> None:
    headers = {"X-Page-Usage": json.dumps({"estimated_time_to_regain_access": 3})}
    assert classify_graph_error(400, graph_error(190), headers).retry_after is None


# --- sending ---------------------------------------------------------------------------------


def test_send_posts_recipient_type_and_message_and_returns_message_id(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_abc"})
    result = client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert result.message_id == "m_abc"
    (call,) = fake_graph.calls
    assert json.loads(call.request.body) == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": MESSAGE,
    }


def test_every_call_carries_token_and_correct_appsecret_proof(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_1"})
    fake_graph.get(f"{BASE}/v25.0/{PSID}", json={"name": "山田 太郎"})
    fake_graph.post(PROFILE_URL, json={"result": "success"})
    client.send(PSID, MESSAGE, messaging_type="UPDATE")
    client.user_profile(PSID)
    client.set_messenger_profile("GET_STARTED", [], [])
    expected = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert len(fake_graph.calls) == 3
    for call in fake_graph.calls:
        assert call.request.params["access_token"] == TOKEN
        assert call.request.params["appsecret_proof"] == expected


def test_every_call_applies_the_timeout(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_1"})
    fake_graph.get(f"{BASE}/v25.0/{PSID}", json={})
    fake_graph.post(PROFILE_URL, json={"result": "success"})
    client.send(PSID, MESSAGE, messaging_type="UPDATE")
    client.user_profile(PSID)
    client.set_messenger_profile("GET_STARTED", [], [])
    assert [call.request.req_kwargs["timeout"] for call in fake_graph.calls] == [3.5] * 3


def test_human_agent_tag_is_sent_with_message_tag_type(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_1"})
    client.send(PSID, MESSAGE, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    sent = json.loads(fake_graph.calls[0].request.body)
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_custom_base_url_and_version_are_used(fake_graph: responses.RequestsMock) -> None:
    fake_graph.post("http://127.0.0.1:9/v99.0/me/messages", json={"message_id": "m_1"})
    sender = GraphClient(TOKEN, APP_SECRET, base_url="http://127.0.0.1:9/", version="v99.0")
    assert sender.send(PSID, MESSAGE, messaging_type="RESPONSE").message_id == "m_1"


def test_graph_client_satisfies_the_messenger_sender_port(client: GraphClient) -> None:
    sender: MessengerSender = client
    assert callable(sender.send)


@pytest.mark.parametrize(
    ("messaging_type", "tag", "message", "reason"),
    [
        ("MESSAGE_TAG", "ACCOUNT_UPDATE", MESSAGE, "retired"),
        ("MESSAGE_TAG", "CONFIRMED_EVENT_UPDATE", MESSAGE, "retired"),
        ("MESSAGE_TAG", "POST_PURCHASE_UPDATE", MESSAGE, "retired"),
        ("UPDATE", "ACCOUNT_UPDATE", MESSAGE, "retired"),
        ("MESSAGE_TAG", None, MESSAGE, "needs a tag"),
        ("MESSAGE_TAG", "", MESSAGE, "needs a tag"),
        ("NON_PROMOTIONAL_SUBSCRIPTION", None, MESSAGE, "unknown messaging_type"),
        ("response", None, MESSAGE, "unknown messaging_type"),
        ("RESPONSE", "HUMAN_AGENT", MESSAGE, "only allowed with"),
        ("RESPONSE", None, {"text": "あ" * 2001}, "text"),
        ("RESPONSE", None, {"text": "q", "quick_replies": [{}] * 14}, "quick_replies"),
    ],
)
def test_invalid_sends_are_refused_without_any_http_call(
    fake_graph: responses.RequestsMock,
    client: GraphClient,
    messaging_type: str,
    tag: str | None,
    message: dict[str, Any],
    reason: str,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, message, messaging_type=messaging_type, tag=tag)
    assert caught.value.kind is FailureKind.INVALID
    assert reason in str(caught.value)
    assert len(fake_graph.calls) == 0


def test_empty_psid_is_refused_without_any_http_call(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    with pytest.raises(DeliveryError) as caught:
        client.send("", MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is FailureKind.INVALID
    assert len(fake_graph.calls) == 0


@pytest.mark.parametrize(("status", "code", "subcode", "kind"), CLASSIFICATION)
def test_send_failures_over_http_raise_the_classified_delivery_error(
    fake_graph: responses.RequestsMock,
    client: GraphClient,
    status: int,
    code: int | None,
    subcode: int | None,
    kind: FailureKind,
) -> None:
    body = graph_error(code, subcode) if code is not None else {}
    fake_graph.post(SEND_URL, json=body, status=status)
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is kind
    assert (caught.value.code, caught.value.subcode) == (code, subcode)


def test_5xx_with_html_body_is_retried(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, body="<html>Bad Gateway</html>", status=502)
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is FailureKind.RETRY


@pytest.mark.parametrize(
    "exc_type",
    [
        requests.exceptions.ReadTimeout,
        requests.exceptions.ConnectTimeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_timeouts_and_connection_errors_are_retried_without_leaking_the_url(
    fake_graph: responses.RequestsMock, client: GraphClient, exc_type: type[Exception]
) -> None:
    leaky = f"Max retries exceeded with url: /v25.0/me/messages?access_token={TOKEN}"
    fake_graph.post(SEND_URL, body=exc_type(leaky))
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is FailureKind.RETRY
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_no_secret(str(caught.value))


def test_success_without_message_id_is_not_retried_blindly(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(SEND_URL, json={"recipient_id": PSID})
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    assert caught.value.kind is FailureKind.INVALID


def test_token_never_appears_in_errors_or_logs(
    fake_graph: responses.RequestsMock, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echoing = graph_error(190, message=f"Invalid OAuth access token {TOKEN} / {APP_SECRET}")
    fake_graph.post(SEND_URL, json=echoing, status=400)
    errors: list[DeliveryError] = []
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="RESPONSE")
    errors.append(caught.value)
    with pytest.raises(DeliveryError) as caught:
        client.send(PSID, MESSAGE, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    errors.append(caught.value)
    for error in errors:
        assert_no_secret(str(error))
        assert_no_secret(repr(error.args))
    assert_no_secret(caplog.text)
    assert PSID not in caplog.text
    assert_no_secret(repr(client))


def test_client_refuses_to_start_without_credentials() -> None:
    with pytest.raises(ValueError):
        GraphClient("", APP_SECRET)


# --- user profile ------------------------------------------------------------------------------


def test_user_profile_asks_for_names_and_returns_them(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.get(
        f"{BASE}/v25.0/{PSID}",
        json={"first_name": "太郎", "last_name": "山田", "name": "山田 太郎", "id": PSID},
    )
    assert client.user_profile(PSID) == UserProfile(
        name="山田 太郎", first_name="太郎", last_name="山田"
    )
    assert fake_graph.calls[0].request.params["fields"] == "first_name,last_name,name"


def test_user_profile_tolerates_withheld_fields(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.get(f"{BASE}/v25.0/{PSID}", json={"id": PSID})
    assert client.user_profile(PSID) == UserProfile(name=None, first_name=None, last_name=None)


def test_user_profile_psid_is_escaped_into_the_path(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.get(f"{BASE}/v25.0/..%2Fme", json={})
    client.user_profile("../me")
    assert fake_graph.calls[0].request.path_url.startswith("/v25.0/..%2Fme?")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, graph_error(100, 2018001), FailureKind.UNREACHABLE),
        (400, graph_error(190), FailureKind.AUTH),
        (400, graph_error(4), FailureKind.RETRY),
        (503, None, FailureKind.RETRY),
    ],
)
def test_user_profile_errors_are_classified_like_sends(
    fake_graph: responses.RequestsMock,
    client: GraphClient,
    status: int,
    body: dict[str, Any] | None,
    kind: FailureKind,
) -> None:
    fake_graph.get(f"{BASE}/v25.0/{PSID}", json=body, status=status)
    with pytest.raises(DeliveryError) as caught:
        client.user_profile(PSID)
    assert caught.value.kind is kind


# --- messenger profile -------------------------------------------------------------------------


def test_messenger_profile_posts_get_started_greeting_and_menu(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(PROFILE_URL, json={"result": "success"})
    greeting = [{"locale": "default", "text": "オンライン市役所へようこそ"}]
    menu = [
        {
            "locale": "default",
            "composer_input_disabled": False,
            "call_to_actions": [{"type": "postback", "title": "申込状況", "payload": "STATUS"}],
        }
    ]
    client.set_messenger_profile("GET_STARTED", greeting, menu)
    (call,) = fake_graph.calls
    assert call.request.method == "POST"
    assert json.loads(call.request.body) == {
        "get_started": {"payload": "GET_STARTED"},
        "greeting": greeting,
        "persistent_menu": menu,
    }


def test_messenger_profile_errors_are_classified(
    fake_graph: responses.RequestsMock, client: GraphClient
) -> None:
    fake_graph.post(PROFILE_URL, json=graph_error(200), status=403)
    with pytest.raises(DeliveryError) as caught:
        client.set_messenger_profile("GET_STARTED", [], [])
    assert caught.value.kind is FailureKind.AUTH


@pytest.mark.parametrize(
    ("payload", "greeting"),
    [
        ("", []),
        ("p" * 1001, []),
        ("GET_STARTED", [{"locale": "default", "text": "あ" * 161}]),
        ("GET_STARTED", [{"locale": "default"}]),
    ],
)
def test_messenger_profile_over_limits_is_refused_without_any_http_call(
    fake_graph: responses.RequestsMock,
    client: GraphClient,
    payload: str,
    greeting: list[dict[str, Any]],
) -> None:
    with pytest.raises(DeliveryError) as caught:
        client.set_messenger_profile(payload, greeting, [])
    assert caught.value.kind is FailureKind.INVALID
    assert len(fake_graph.calls) == 0


# --- against the local fake Graph server used by the benchmark ---------------------------------


def test_client_sends_to_the_local_fake_graph_server_and_it_counts() -> None:
    server, send_log = serve()
    try:
        host, port = server.server_address[:2]
        sender = GraphClient(TOKEN, APP_SECRET, base_url=f"http://{host}:{port}", timeout=5)
        ids = [sender.send(PSID, MESSAGE, messaging_type="UPDATE").message_id for _ in range(3)]
        assert ids == ["m_1", "m_2", "m_3"]
        stats = send_log.stats()
        assert stats["count"] == 3
        assert stats["peak_per_1s"] >= 1
    finally:
        server.shutdown()
        server.server_close()
