"""POST /webhooks/forms: the signed Apps Script push, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.models import Application, AuditEntry, OutboundMessage
from bot.onboarding.intake import sync_forms
from bot.runtime import Runtime
from bot.webhooks.signature import sign
from tests import google_fakes
from tests.form_sheet import FakeSheet, counting_writes, response_row, row_counts
from tests.google_fakes import META_URL, metadata, serial

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SECRET = "push-secret"  # the `settings` fixture's [forms] push_secret
EMAIL = "m.yashiki@city.toyama.lg.jp"


def named_values(email: str = EMAIL, **changes: str) -> dict[str, list[str]]:
    """What the Apps Script sends for one response (display values, sheet locale ja_JP)."""
    values = {
        "タイムスタンプ": ["2026/11/20 11:58:30"],
        "メールアドレス": [email],
        "氏名": ["屋敷 昌範"],
        "氏名（ふりがな）": ["やしき まさのり"],
        "Facebookでの登録名": ["Masanori Yashiki"],
        "国家公務員・地方公務員の別": ["地方公務員"],
        "所属団体名（例：富山市、国土交通省）": ["富山市"],
        "所属部署": ["企画管理部企画調整課"],
        "勤務地の都道府県": ["富山県"],
        "現在の勤務状況": ["在職中（正規職員）"],
        "興味のある分野（課）": ["ライティング課, 図解・グラレコ課"],
        "参加条件への同意": ["同意します"],
        "オンライン市役所を知ったきっかけ": ["同僚の紹介"],
        "事務局への連絡事項": [""],
    }
    values.update({title: [value] for title, value in changes.items()})
    return values


def body_of(values: Any = None, *, timestamp: Any = None) -> bytes:
    payload = {
        "namedValues": named_values() if values is None else values,
        "timestamp": int(NOW.timestamp()) if timestamp is None else timestamp,
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    runtime.now = lambda: NOW
    return create_app(runtime=runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def push(
    client: FlaskClient,
    raw: bytes,
    *,
    signature: str | None = "sign",
    secret: str = SECRET,
) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Cityhall-Signature"] = sign(raw, secret)
    elif signature is not None:
        headers["X-Cityhall-Signature"] = signature
    return client.post("/webhooks/forms", data=raw, headers=headers)


def tables(rt: Runtime) -> dict[str, int]:
    with rt.db.transaction() as session:
        return row_counts(session)


def applications(rt: Runtime) -> list[Application]:
    with rt.db.transaction() as session:
        return list(session.scalars(select(Application).order_by(Application.id)))


# -- accepted ----------------------------------------------------------------------------------
def test_signed_push_creates_the_application_at_once(client: FlaskClient, runtime: Runtime) -> None:
    answer = push(client, body_of())
    assert answer.status_code == 200
    assert answer.get_json() == {"new": 1, "updated": 0, "unchanged": 0, "quarantined": 0}
    [app] = applications(runtime)
    assert (app.email, app.status, app.full_name) == (EMAIL, "submitted", "屋敷 昌範")
    assert app.submitted_at.replace(tzinfo=UTC) == datetime(2026, 11, 20, 2, 58, 30, tzinfo=UTC)
    with runtime.db.transaction() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.application_id == app.id))
        [email] = session.scalars(select(OutboundMessage.idempotency_key))
    assert entry.detail == {"source": "push"}
    assert email == f"confirmation:{app.code}"


def test_replayed_push_within_the_window_writes_nothing(
    client: FlaskClient, runtime: Runtime
) -> None:
    raw = body_of()
    assert push(client, raw).status_code == 200
    with counting_writes(runtime.db.engine) as writes:
        again = push(client, raw)
    assert again.status_code == 200
    assert again.get_json() == {"new": 0, "updated": 0, "unchanged": 1, "quarantined": 0}
    assert writes == []
    assert len(applications(runtime)) == 1


def test_push_of_an_edited_response_updates_the_application(
    client: FlaskClient, runtime: Runtime
) -> None:
    push(client, body_of())
    edited = named_values(**{"所属部署": "総務部", "タイムスタンプ": "2026/11/20 11:59:00"})
    answer = push(client, body_of(edited))
    assert answer.get_json()["updated"] == 1
    [app] = applications(runtime)
    assert app.department == "総務部"


def test_timestamp_just_inside_the_window_is_accepted(client: FlaskClient) -> None:
    stamp = (NOW - timedelta(minutes=4, seconds=59)).timestamp()
    assert push(client, body_of(timestamp=stamp)).status_code == 200


def test_push_with_a_bad_email_is_quarantined_not_lost(
    client: FlaskClient, runtime: Runtime
) -> None:
    answer = push(client, body_of(named_values(email="not an address")))
    assert answer.get_json()["quarantined"] == 1
    assert tables(runtime).get("quarantined_rows") == 1
    assert applications(runtime) == []


def test_duplicated_question_titles_become_separate_columns(
    client: FlaskClient, runtime: Runtime
) -> None:
    values = named_values()
    values["氏名"] = ["", "屋敷 昌範"]  # the title occurs in two columns
    assert push(client, body_of(values)).status_code == 200
    [app] = applications(runtime)
    assert app.full_name == "屋敷 昌範"
    assert app.answers["氏名 (2)"] == "屋敷 昌範"


# -- the same response pushed, then polled ------------------------------------------------------
@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    with google_fakes.google_mock() as mock:
        mock.get(META_URL, json=metadata(time_zone="Asia/Tokyo"))
        yield mock


def test_pushed_then_polled_response_is_one_application(
    client: FlaskClient, runtime: Runtime, google: responses.RequestsMock
) -> None:
    assert push(client, body_of()).get_json()["new"] == 1
    runtime.form_source = google_fakes.sheets_source(google_fakes.service_account_info())
    FakeSheet(google, rows=[response_row(EMAIL, at=datetime(2026, 11, 20, 11, 58, 30))])
    with counting_writes(runtime.db.engine) as writes:
        counts = sync_forms(runtime)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 1)
    # Only the first poll's column report (an unmapped question) is written, nothing else.
    assert [w for w in writes if "applications" in w or "audit_log" in w] == []
    [app] = applications(runtime)
    with runtime.db.transaction() as session:
        keys = list(session.scalars(select(OutboundMessage.idempotency_key)))
    assert keys.count(f"confirmation:{app.code}") == 1
    assert serial(datetime(2026, 11, 20, 11, 58, 30)) > 46346


# -- refused: nothing changes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("signature", "secret"),
    [
        (None, SECRET),
        ("", SECRET),
        ("sign", "another-secret"),
        ("sha256=" + "0" * 64, SECRET),
        ("sha1=0123456789abcdef0123456789abcdef01234567", SECRET),
        ("sha256=not-hex", SECRET),
    ],
    ids=["missing", "empty", "wrong_secret", "wrong_digest", "wrong_scheme", "not_hex"],
)
def test_push_with_a_missing_or_bad_signature_is_refused(
    client: FlaskClient, runtime: Runtime, signature: str | None, secret: str
) -> None:
    before = tables(runtime)
    answer = push(client, body_of(), signature=signature, secret=secret)
    assert answer.status_code == 401
    assert tables(runtime) == before


def test_tampered_body_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    raw = body_of()
    tampered = raw.replace("富山市".encode(), "高岡市".encode())
    answer = push(client, tampered, signature=sign(raw, SECRET))
    assert answer.status_code == 401
    assert applications(runtime) == []


@pytest.mark.parametrize("offset", [timedelta(minutes=-5, seconds=-1), timedelta(minutes=6)])
def test_stale_or_future_push_is_refused_as_a_replay(
    client: FlaskClient, runtime: Runtime, offset: timedelta
) -> None:
    before = tables(runtime)
    answer = push(client, body_of(timestamp=(NOW + offset).timestamp()))
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "stale timestamp"}
    assert tables(runtime) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"timestamp": 1795143600}',
        b'{"namedValues": {}, "timestamp": 1795143600}',
        b'{"namedValues": [["a"]], "timestamp": 1795143600}',
        '{"namedValues": {"メールアドレス": "a@b.jp"}, "timestamp": 1795143600}'.encode(),
        '{"namedValues": {"メールアドレス": [1]}, "timestamp": 1795143600}'.encode(),
        '{"namedValues": {"メールアドレス": [null]}, "timestamp": 1795143600}'.encode(),
        '{"namedValues": {"メールアドレス": ["a@b.jp"]}}'.encode(),
        '{"namedValues": {"メールアドレス": ["a@b.jp"]}, "timestamp": "1795143600"}'.encode(),
        '{"namedValues": {"メールアドレス": ["a@b.jp"]}, "timestamp": true}'.encode(),
    ],
    ids=[
        "not_json",
        "not_utf8",
        "array",
        "no_named_values",
        "empty_named_values",
        "named_values_list",
        "value_not_list",
        "value_number",
        "value_null",
        "no_timestamp",
        "timestamp_text",
        "timestamp_bool",
    ],
)
def test_malformed_push_is_refused(client: FlaskClient, runtime: Runtime, raw: bytes) -> None:
    assert int(NOW.timestamp()) == 1795143600
    before = tables(runtime)
    answer = push(client, raw)
    assert answer.status_code == 400
    assert tables(runtime) == before


def test_push_without_the_email_question_is_refused_and_changes_nothing(
    client: FlaskClient, runtime: Runtime
) -> None:
    values = named_values()
    del values["メールアドレス"]
    before = tables(runtime)
    answer = push(client, body_of(values))
    assert answer.status_code == 422
    assert "email" in answer.get_json()["error"]
    assert tables(runtime) == before


def test_push_is_unavailable_without_a_configured_secret(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.settings = runtime.settings.replace(
        forms=runtime.settings.forms.__class__(push_secret="")
    )
    client = create_app(runtime=runtime).test_client()
    before = tables(runtime)
    with caplog.at_level(logging.ERROR, logger="bot.webhooks.forms"):
        answer = push(client, body_of())
    assert answer.status_code == 503
    assert "push_secret is not configured" in caplog.text
    assert tables(runtime) == before


def test_push_logs_no_personal_data(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    push(client, body_of())
    push(client, body_of(named_values(email="bad address 屋敷")))
    push(client, body_of(), signature="sha256=" + "0" * 64)
    push(client, body_of(timestamp=0))
    assert caplog.text
    for secret in (EMAIL, "屋敷", "富山市", "企画管理部"):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"namedValues": ' + b"[" * 100_000 + b"]" * 100_000 + b', "timestamp": 1795143600}',
        b'{"namedValues": {"a": ["x"]}, "timestamp": 1795143600, "x": '
        + b'{"a":' * 30_000
        + b"1"
        + b"}" * 30_000
        + b"}",
        b'{"namedValues": {"\\ud800": ["x"]}, "timestamp": 1795143600}',
        b'{"namedValues": {"\\udfff\\u6c0f\\u540d": ["x"]}, "timestamp": 1795143600}',
    ],
    ids=["nested_arrays", "nested_objects", "lone_surrogate_title", "low_surrogate_title"],
)
def test_deeply_nested_or_non_text_push_is_refused_with_400(
    client: FlaskClient, runtime: Runtime, raw: bytes
) -> None:
    before = tables(runtime)
    answer = push(client, raw)
    assert answer.status_code == 400
    assert answer.is_json and "error" in answer.get_json()
    assert tables(runtime) == before


def test_lone_surrogate_in_an_answer_is_quarantined_not_refused(
    client: FlaskClient, runtime: Runtime
) -> None:
    raw = body_of(named_values()).replace("屋敷 昌範".encode(), b"\\ud800")
    answer = push(client, raw)
    assert answer.status_code == 200
    assert answer.get_json()["quarantined"] == 1
