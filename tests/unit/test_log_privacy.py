"""Log redaction: query strings, tokens, driver values and SQL parameters never reach a log."""

from __future__ import annotations

import logging

import pytest

from bot.log_privacy import install, redact, redact_record


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        (
            '127.0.0.1 - - [02/Dec/2026 18:00:00] "GET /console/?q=%E9%AB%98 HTTP/1.1" 200 -',
            '127.0.0.1 - - [02/Dec/2026 18:00:00] "GET /console/ HTTP/1.1" 200 -',
        ),
        (
            'http://127.0.0.1:5555 "POST /v25.0/me/messages?access_token=EAAG&appsecret_proof=a'
            ' HTTP/1.1" 200 52',
            'http://127.0.0.1:5555 "POST /v25.0/me/messages HTTP/1.1" 200 52',
        ),
        (
            'http://127.0.0.1:5555 "GET /v25.0/7310000000000042?fields=name HTTP/1.1" 200 9',
            'http://127.0.0.1:5555 "GET /v25.0/… HTTP/1.1" 200 9',
        ),
        (
            "Max retries exceeded with url: /v25.0/me/messages?access_token=EAAG (Caused by X)",
            "Max retries exceeded with url: /v25.0/me/messages (Caused by X)",
        ),
        ("token in text access_token=EAAG&x=1", "token in text access_token=…&x=1"),
        ("Referer http://host/console/?q=ichiro%40x.jp", "Referer http://host/console/"),
        (
            'duplicate key value violates unique constraint "users_name_key"\n'
            "DETAIL:  Key (name)=(boss) already exists.\n[SQL: INSERT INTO users]\n"
            "[parameters: {'name': 'boss', 'password_hash': 'scrypt:1$x'}]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)",
            'duplicate key value violates unique constraint "users_name_key"\n'
            "[driver detail …]\n[SQL: INSERT INTO users]\n[parameters: …]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)",
        ),
        (
            "value too long for type character varying(16)\n"
            'CONTEXT:  COPY applications, line 1, column code: "高橋 一郎"',
            "value too long for type character varying(16)\n[driver detail …]",
        ),
        (
            "Key (email)=(a@b.jp) already exists",
            "Key (email)=(…) already exists",
        ),
        (
            'invalid input syntax for type integer: "a@b.jp"',
            "invalid input syntax for type integer: …",
        ),
        ("job retention ok (run 1): erased 1", "job retention ok (run 1): erased 1"),
        ("application OC-7K3M9Q approved", "application OC-7K3M9Q approved"),
    ],
)
def test_redact_removes_values_and_keeps_the_rest(logged: str, expected: str) -> None:
    assert redact(logged) == expected


def test_record_with_arguments_and_traceback_is_redacted() -> None:
    try:
        raise ValueError("DETAIL:  Key (email)=(a@b.jp) already exists.")
    except ValueError as exc:
        error = exc
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "GET %s",
        ("/console/?q=secret",),
        (type(error), error, None),
    )
    redact_record(record)
    assert record.getMessage() == "GET /console/"
    assert record.exc_text is not None and "a@b.jp" not in record.exc_text


def test_installed_factory_redacts_every_new_record_and_installs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install()
    factory = logging.getLogRecordFactory()
    install()
    assert logging.getLogRecordFactory() is factory
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s://%s:%s "%s %s %s" %s %s',
            "https",
            "graph.facebook.com",
            443,
            "POST",
            "/v25.0/me/messages?access_token=EAAG-secret",
            "HTTP/1.1",
            200,
            52,
        )
    assert "EAAG-secret" not in caplog.text and "/v25.0/me/messages" in caplog.text
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.WARNING
