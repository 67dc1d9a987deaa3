"""A job failure names the outside system it came from and a place in our code, never a decoder's
line: "Google Sheets: JSONDecodeError at …", not "JSONDecodeError at models.py:1120"."""

from __future__ import annotations

import re
import smtplib

import pytest
import requests
import responses
from gspread.http_client import HTTPClient
from sqlalchemy import create_engine, text

from bot.error_source import error_source, source_of_module
from integrations.ports import DeliveryError
from integrations.sheets import FormSourceError
from jobs.runner import describe_error

HERE = "test_error_source.py"


def caught(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def garbled_sheets_answer() -> None:
    with responses.RequestsMock() as mock:
        mock.get(re.compile(r"https://sheets\.googleapis\.com/.*"), body='{"values": [[')
        HTTPClient(auth=None, session=requests.Session()).values_get("1AbC", "A1:Z")  # type: ignore[arg-type]


def database_refuses() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(text("SELECT email FROM applications WHERE email = 'taro@example.jp'"))


def smtp_drops() -> None:
    raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed: taro@example.jp")


def graph_refuses() -> None:
    """A DeliveryError (a port's error class) raised inside the Graph adapter's module."""
    namespace = {"__name__": "integrations.graph", "DeliveryError": DeliveryError}
    source = "def send():\n    raise DeliveryError('invalid', '(#100) taro', code=100)\n"
    code = compile(source, "graph.py", "exec")
    exec(code, namespace)
    namespace["send"]()  # type: ignore[operator]


def a_bug() -> None:
    raise KeyError("taro@example.jp")


def bug_while_the_database_was_down() -> None:
    try:
        database_refuses()
    except Exception:
        raise RuntimeError("cleanup failed") from None  # the context is gone: a bug of ours


def sheets_gave_up() -> None:
    raise FormSourceError(
        "Google Sheets returned an unreadable answer to values.get", transient=True
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            garbled_sheets_answer,
            rf"Google Sheets: JSONDecodeError at {HERE}:\d+ in garbled_sheets_answer",
        ),
        (
            database_refuses,
            rf"database: OperationalError \(OperationalError\) at {HERE}:\d+ in database_refuses",
        ),
        (smtp_drops, rf"SMTP: SMTPServerDisconnected at {HERE}:\d+ in smtp_drops"),
        (graph_refuses, r"Graph API: DeliveryError at graph.py:2 in send"),
        (a_bug, rf"KeyError at {HERE}:\d+ in a_bug"),
        (
            bug_while_the_database_was_down,
            rf"RuntimeError at {HERE}:\d+ in bug_while_the_database_was_down",
        ),
        (
            sheets_gave_up,
            rf"Google Sheets: FormSourceError: Google Sheets returned an unreadable answer to "
            rf"values\.get at {HERE}:\d+ in sheets_gave_up",
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_failure_names_its_source_and_a_place_in_our_code(action: object, expected: str) -> None:
    detail = describe_error(caught(action))
    assert re.fullmatch(expected, detail), detail
    assert "taro" not in detail  # messages that may hold personal data stay out
    assert "decoder.py" not in detail and "models.py" not in detail


def test_a_json_error_chained_under_ours_still_names_google_sheets() -> None:
    def wrapped() -> None:
        try:
            garbled_sheets_answer()
        except ValueError as exc:
            raise LookupError("no answer") from exc

    assert error_source(caught(wrapped)) == "Google Sheets"


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("integrations.sheets", "Google Sheets"),
        ("gspread.http_client", "Google Sheets"),
        ("google.oauth2._client", "Google Sheets"),
        ("integrations.graph", "Graph API"),
        ("integrations.mail", "SMTP"),
        ("smtplib", "SMTP"),
        ("sqlalchemy.engine.base", "database"),
        ("psycopg.errors", "database"),
        ("integrations.sheetsy", None),
        ("requests.models", None),  # both Sheets and Graph use requests: the frames above decide
        ("json.decoder", None),
    ],
)
def test_modules_map_to_sources_by_name(module: str, source: str | None) -> None:
    assert source_of_module(module) == source
