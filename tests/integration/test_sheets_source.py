"""SheetsFormSource through the real gspread + google-auth stack, Google answered by `responses`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses

from bot.onboarding.form_mapping import parse_snapshot
from integrations.sheets import SCOPES, FormSourceError, SheetsFormSource
from tests import google_fakes
from tests.google_fakes import (
    BOUNDARY_URL,
    META_URL,
    SA_EMAIL,
    SHEET_ID,
    TOKEN_URL,
    VALUES_URL,
    calls_to,
    google_error,
    metadata,
)

SERIAL = 46346 + (21 * 3600 + 3 * 60 + 11) / 86400  # 2026-11-20 21:03:11 local
VALUES: list[list[Any]] = [
    ["タイムスタンプ", "メールアドレス", "電話番号", "ご意見"],
    [SERIAL, "taro@example.jp", "0901234", "=1+1"],
    [SERIAL + 1, "hanako@example.jp", 1234],
]


@pytest.fixture(scope="module")
def service_account_info() -> dict[str, str]:
    return google_fakes.service_account_info()


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    with google_fakes.google_mock() as mock:
        yield mock


def values_body(values: list[list[Any]] = VALUES, title: str = "フォームの回答 1") -> Any:
    return google_fakes.values_body(values, title)


def source(info: dict[str, str], **kwargs: Any) -> SheetsFormSource:
    return google_fakes.sheets_source(info, **kwargs)


def test_fetch_returns_header_rows_and_sheet_timezone(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata(time_zone="Asia/Tokyo"))
    google.get(VALUES_URL, json=values_body())
    snapshot = source(service_account_info).fetch()
    assert snapshot.header == VALUES[0]
    assert snapshot.rows == VALUES[1:]
    assert snapshot.timezone == "Asia/Tokyo"


def test_serial_timestamps_convert_in_the_sheet_time_zone(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata(time_zone="Europe/London"))
    google.get(VALUES_URL, json=values_body())
    snapshot = source(service_account_info).fetch()
    columns = {"タイムスタンプ": "timestamp", "メールアドレス": "email", "電話番号": "referrer"}
    first, second = parse_snapshot(snapshot, columns).responses
    assert first.answers.submitted_at.isoformat() == "2026-11-20T21:03:11+00:00"
    assert first.answers.referrer == "0901234"
    assert first.answers.extra == {"ご意見": "=1+1"}
    assert second.answers.referrer == "1234"


def test_values_request_reads_the_whole_sheet_unformatted_with_serial_dates(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata(titles=("Form Responses 1", "O'Brien")))
    google.get(VALUES_URL, json=values_body(title="O'Brien"))
    source(service_account_info, worksheet="O'Brien").fetch()
    [call] = calls_to(google, VALUES_URL)
    url = urlsplit(call.request.url)
    assert unquote(url.path).endswith("/values/'O''Brien'")
    query = parse_qs(url.query)
    assert query["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert query["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    assert call.request.headers["Authorization"] == "Bearer ya29.test-token"


def test_each_fetch_is_one_values_request_and_metadata_is_read_once(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    form = source(service_account_info)
    for _ in range(3):
        form.fetch()
    assert len(calls_to(google, VALUES_URL)) == 3
    assert len(calls_to(google, META_URL)) == 1
    assert len(calls_to(google, TOKEN_URL)) == 1


def test_token_is_requested_with_the_read_only_scope(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    source(service_account_info).fetch()
    [token_call] = calls_to(google, TOKEN_URL)
    assertion = parse_qs(token_call.request.body.decode())["assertion"][0]
    claims = json.loads(_b64decode(assertion.split(".")[1]))
    assert claims["scope"] == " ".join(SCOPES)
    assert claims["scope"] == "https://www.googleapis.com/auth/spreadsheets.readonly"


def test_every_request_carries_the_timeout(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    source(service_account_info, timeout=7).fetch()
    ours = [c for c in google.calls if not BOUNDARY_URL.fullmatch(c.request.url.split("?")[0])]
    assert len(ours) == 3
    for call in ours:
        assert call.request.req_kwargs["timeout"] == 7, call.request.url


def test_a_poll_is_bounded_and_leaves_no_thread_behind(
    google: responses.RequestsMock,
    service_account_info: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever google-auth does on its own (token, boundary lookups), every request it makes
    carries a timeout and no thread it starts outlives the poll."""
    monkeypatch.delenv(
        "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", raising=False
    )
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    before = set(threading.enumerate())
    form = source(service_account_info, timeout=4)
    form.fetch()
    form.fetch()
    assert set(threading.enumerate()) - before == set()
    assert google.calls, "nothing was requested"
    for call in google.calls:
        assert call.request.req_kwargs["timeout"] is not None, call.request.url


def test_switching_on_the_boundary_lookup_is_warned_about(
    service_account_info: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", "true"
    )
    source(service_account_info)
    assert "unset it for bounded form polls" in caplog.text


def test_api_base_sends_every_sheets_request_to_a_stand_in(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    base = "http://127.0.0.1:9/sheets-stand-in"
    google.get(META_URL.replace("https://sheets.googleapis.com", base), json=metadata())
    google.get(
        re.compile(re.escape(base) + r"/v4/spreadsheets/[^/]+/values/.+"), json=values_body()
    )
    snapshot = source(service_account_info, api_base=base + "/").fetch()
    assert snapshot.rows == VALUES[1:]
    hosts = {urlsplit(c.request.url).netloc for c in google.calls}
    assert "sheets.googleapis.com" not in hosts


def test_worksheet_is_chosen_by_title(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata(titles=("集計", "フォームの回答 1")))
    google.get(VALUES_URL, json=values_body())
    source(service_account_info, worksheet="フォームの回答 1").fetch()
    [call] = calls_to(google, VALUES_URL)
    assert unquote(urlsplit(call.request.url).path).endswith("/values/'フォームの回答 1'")


def test_unknown_worksheet_title_is_a_clear_error(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata(titles=("集計",)))
    with pytest.raises(
        FormSourceError, match=r"worksheet '回答' not found .* check forms.worksheet"
    ):
        source(service_account_info, worksheet="回答").fetch()


def test_empty_sheet_gives_an_empty_snapshot(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json={"range": "'フォームの回答 1'!A1:Z1000", "majorDimension": "ROWS"})
    snapshot = source(service_account_info).fetch()
    assert snapshot.header == [] and snapshot.rows == []


def test_429_storm_then_success(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    for _ in range(3):
        google.get(
            VALUES_URL,
            status=429,
            json=google_error(429, "Quota exceeded", "RESOURCE_EXHAUSTED"),
        )
    google.get(VALUES_URL, json=values_body())
    delays: list[float] = []
    snapshot = source(service_account_info, sleep=delays.append).fetch()
    assert snapshot.rows == VALUES[1:]
    assert len(calls_to(google, VALUES_URL)) == 4
    assert len(delays) == 3


def test_429_forever_gives_up_after_bounded_attempts(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, status=429, json=google_error(429, "Quota", "RESOURCE_EXHAUSTED"))
    delays: list[float] = []
    form = source(
        service_account_info, max_attempts=4, base_delay=1, max_delay=3, sleep=delays.append
    )
    with pytest.raises(
        FormSourceError, match=r"values\.get failed 4 times, last: HTTP 429"
    ) as caught:
        form.fetch()
    assert caught.value.transient
    assert len(calls_to(google, VALUES_URL)) == 4
    assert len(delays) == 3
    bounds = [1, 2, 3]  # full jitter: uniform in [0, min(max_delay, base * 2**n)]
    assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))


def test_next_poll_after_giving_up_starts_afresh_without_rereading_metadata(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, status=503, json=google_error(503, "unavailable", "UNAVAILABLE"))
    form = source(service_account_info, max_attempts=2)
    with pytest.raises(FormSourceError):
        form.fetch()
    google.replace(responses.GET, VALUES_URL, json=values_body())
    assert form.fetch().rows == VALUES[1:]
    assert len(calls_to(google, META_URL)) == 1


def test_retry_after_header_is_respected_within_max_delay(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, status=429, headers={"Retry-After": "5"}, json={})
    google.get(VALUES_URL, json=values_body())
    delays: list[float] = []
    source(service_account_info, max_delay=4, sleep=delays.append).fetch()
    assert delays == [4]


# A 200 whose body is cut short or garbled (a proxy, a dropped connection): the first cell
# values of the sheet are in some of them, and must never reach a message or a log line.
UNREADABLE_BODIES = {
    "truncated": '{"values": [["タイムスタンプ", "メールアドレス"], [46346.5, "taro@exam',
    "cut_after_bracket": '{"values": [[',
    "html": "<html><body>taro@example.jp: Service temporarily unavailable</body></html>",
    "binary": b"\x1f\x8b\x08\x00taro@example.jp\xff\xfe",
    "empty": "",
    "null": "null",
    "not_an_object": '[["taro@example.jp"]]',
    "values_not_rows": '{"values": "taro@example.jp"}',
}


@pytest.mark.parametrize("body", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES.keys())
def test_an_unreadable_answer_is_retried_then_read(
    google: responses.RequestsMock,
    service_account_info: dict[str, str],
    body: str | bytes,
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, body=body, content_type="application/json")
    google.get(VALUES_URL, json=values_body())
    delays: list[float] = []
    snapshot = source(service_account_info, sleep=delays.append).fetch()
    assert snapshot.rows == VALUES[1:]
    assert len(calls_to(google, VALUES_URL)) == 2
    assert len(delays) == 1


@pytest.mark.parametrize("body", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES.keys())
def test_unreadable_answers_forever_end_in_one_clear_line(
    google: responses.RequestsMock,
    service_account_info: dict[str, str],
    body: str | bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="integrations")
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, body=body, content_type="application/json")
    delays: list[float] = []
    form = source(service_account_info, max_attempts=4, sleep=delays.append)
    with pytest.raises(FormSourceError) as caught:
        form.fetch()
    message = str(caught.value)
    assert message.startswith("Google Sheets returned an unreadable answer to values.get: HTTP 200")
    assert message.endswith("; 4 attempts, giving up until the next poll")
    assert "\n" not in message
    assert caught.value.transient  # like 429/5xx: the next poll starts afresh
    assert len(calls_to(google, VALUES_URL)) == 4  # bounded like the other retries
    assert len(delays) == 3
    for text in (message, caplog.text):
        assert "taro" not in text and "タイムスタンプ" not in text
        assert "decoder" not in text and "Expecting" not in text and "line 1 column" not in text
    # the spreadsheet was read fine: the next poll does not read its metadata again
    google.replace(responses.GET, VALUES_URL, json=values_body())
    assert form.fetch().rows == VALUES[1:]
    assert len(calls_to(google, META_URL)) == 1


def test_an_unreadable_metadata_answer_is_retried(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, body='{"spreadsheetId": "1AbC", "sheets": [{"prop')
    google.get(META_URL, body='{"sheets": "フォームの回答 1"}')
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    assert source(service_account_info).fetch().header == VALUES[0]
    assert len(calls_to(google, META_URL)) == 3


def test_unreadable_metadata_forever_is_one_clear_line(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, body='{"spreadsheetId": ')
    with pytest.raises(FormSourceError) as caught:
        source(service_account_info, max_attempts=2).fetch()
    assert str(caught.value) == (
        "Google Sheets returned an unreadable answer to spreadsheet metadata: HTTP 200, not valid"
        " JSON (cut short or garbled); 2 attempts, giving up until the next poll"
    )
    assert caught.value.transient


def test_an_unreadable_token_answer_is_retried_not_a_traceback(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.replace(responses.POST, TOKEN_URL, body='{"access_token": "ya29.', status=200)
    google.add(
        responses.POST,
        TOKEN_URL,
        json={"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"},
    )
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    assert source(service_account_info).fetch().rows == VALUES[1:]
    assert len(calls_to(google, TOKEN_URL)) == 2
    google.replace(responses.POST, TOKEN_URL, body="<html>", status=200)
    with pytest.raises(FormSourceError, match="unreadable answer to spreadsheet metadata: the tok"):
        source(service_account_info, max_attempts=2).fetch()


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("connection reset"),
    ],
    ids=["connect_timeout", "read_timeout", "connection_error"],
)
def test_timeouts_and_connection_errors_are_retried(
    google: responses.RequestsMock, service_account_info: dict[str, str], error: Exception
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, body=error)
    google.get(VALUES_URL, json=values_body())
    assert source(service_account_info).fetch().rows == VALUES[1:]
    assert len(calls_to(google, VALUES_URL)) == 2


def test_timeouts_forever_give_up_with_the_error_kind(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(FormSourceError, match="metadata failed 3 times, last: ReadTimeout"):
        source(service_account_info, max_attempts=3).fetch()
    assert len(calls_to(google, META_URL)) == 3


def test_metadata_server_errors_are_retried(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, status=500, json=google_error(500, "internal", "INTERNAL"))
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    assert source(service_account_info).fetch().header == VALUES[0]


def test_403_tells_to_share_the_sheet_with_the_service_account(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(
        META_URL,
        status=403,
        json=google_error(403, "The caller does not have permission", "PERMISSION_DENIED"),
    )
    with pytest.raises(FormSourceError) as caught:
        source(service_account_info).fetch()
    assert str(caught.value) == (
        f"HTTP 403: no permission to read the spreadsheet; share the spreadsheet with {SA_EMAIL}"
        " (Viewer is enough)"
    )
    assert not caught.value.transient
    assert len(calls_to(google, META_URL)) == 1


def test_404_names_the_config_key_to_check(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(
        META_URL, status=404, json=google_error(404, "Requested entity was not found.", "NOT_FOUND")
    )
    with pytest.raises(
        FormSourceError, match=r"HTTP 404: spreadsheet not found; check forms\.spreadsheet_id"
    ):
        source(service_account_info).fetch()
    assert len(calls_to(google, META_URL)) == 1


def test_disabled_api_is_reported_as_such(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    body = google_error(403, "Google Sheets API has not been used in project", "PERMISSION_DENIED")
    body["error"]["details"] = [{"reason": "SERVICE_DISABLED"}]
    google.get(META_URL, status=403, json=body)
    with pytest.raises(FormSourceError, match="Google Sheets API is not enabled"):
        source(service_account_info).fetch()


def test_renamed_worksheet_is_looked_up_again_on_the_next_poll(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.get(META_URL, json=metadata())
    google.get(
        VALUES_URL, status=400, json=google_error(400, "Unable to parse range", "INVALID_ARGUMENT")
    )
    form = source(service_account_info)
    with pytest.raises(FormSourceError, match="HTTP 400"):
        form.fetch()
    google.replace(responses.GET, VALUES_URL, json=values_body())
    form.fetch()
    assert len(calls_to(google, META_URL)) == 2


def test_rejected_service_account_key_is_not_retried(
    google: responses.RequestsMock, service_account_info: dict[str, str]
) -> None:
    google.replace(
        responses.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    with pytest.raises(FormSourceError, match="rejected the service account credentials"):
        source(service_account_info).fetch()
    assert len(calls_to(google, TOKEN_URL)) == 1


def test_errors_never_carry_cell_values(
    google: responses.RequestsMock, service_account_info: dict[str, str], caplog: Any
) -> None:
    caplog.set_level("DEBUG", logger="integrations")
    google.get(META_URL, json=metadata())
    google.get(
        VALUES_URL, status=429, json=google_error(429, "taro@example.jp", "RESOURCE_EXHAUSTED")
    )
    with pytest.raises(FormSourceError) as caught:
        source(service_account_info, max_attempts=2).fetch()
    assert "taro@example.jp" not in str(caught.value)
    assert "taro@example.jp" not in caplog.text
    google.replace(responses.GET, VALUES_URL, json=values_body())
    source(service_account_info).fetch()
    assert "taro@example.jp" not in caplog.text


def test_missing_credentials_fail_at_construction() -> None:
    with pytest.raises(FormSourceError, match="no Google service account configured"):
        SheetsFormSource(SHEET_ID, None)


def test_malformed_credentials_fail_at_construction_without_echoing_them() -> None:
    with pytest.raises(FormSourceError, match="could not be loaded") as caught:
        SheetsFormSource(SHEET_ID, None, {"type": "service_account", "private_key": "secret"})
    assert "secret" not in str(caught.value)


def _b64decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_an_authorised_session_can_replace_the_service_account(
    google: responses.RequestsMock,
) -> None:
    google.get(META_URL, json=metadata())
    google.get(VALUES_URL, json=values_body())
    session = requests.Session()
    session.headers["Authorization"] = "Bearer from-the-caller"
    form = SheetsFormSource(SHEET_ID, None, http_session=session, sleep=lambda _: None)
    assert form.fetch().rows == VALUES[1:]
    assert calls_to(google, TOKEN_URL) == []
    [call] = calls_to(google, VALUES_URL)
    assert call.request.headers["Authorization"] == "Bearer from-the-caller"
