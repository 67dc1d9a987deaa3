"""Logs without personal data or secrets, whatever the library that writes them.

Our own log lines name codes, counts and error classes, never values. Libraries word theirs: a
request line carries the query string (console searches hold names and emails, the webhook
handshake its verify token, Graph calls the page access token); a database error carries the
driver's DETAIL and CONTEXT lines (`Key (email)=(…) already exists`, a COPY row's value) and,
unless an engine hides them, the statement's parameters. So every log record is redacted as it
is made (`install` sets a log record factory), before any handler, filter or test sees it; and
SQLAlchemy's statement and row logging stays off whatever `log_level` says.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "…"
# "GET /console/?q=…" in request lines (werkzeug, gunicorn, urllib3): the query goes entirely,
# and so do long numbers in the path (the User Profile API is called at /<version>/<PSID>).
_REQUEST_LINE = re.compile(
    r"\b((?:GET|POST|HEAD|PUT|PATCH|DELETE|OPTIONS) )([^\s?\"]*)(\?[^\s\"]*)?"
)
_LONG_NUMBER_SEGMENT = re.compile(r"(?<=/)\d{8,}(?=/|$)")
# A full URL's query (a Referer, an exception naming the URL it called).
_URL_QUERY = re.compile(r"((?:https?://|/)[^\s?\"'<>]*)\?[^\s\"'<>]*")
# Secrets passed as parameters, wherever they appear (a URL in an exception message).
_SECRET_PARAMETERS = re.compile(
    r"((?:access_token|appsecret_proof|hub\.verify_token|client_secret|password|token)=)"
    r"[^&\s\"']*",
    re.IGNORECASE,
)
# psycopg's message lines that quote values: DETAIL (a duplicate key, a failing row), CONTEXT
# (the COPY line and column with its value), and the statement echo with a caret.
_DRIVER_LINES = re.compile(
    r"^[ \t]*(?:DETAIL|CONTEXT|HINT|LINE \d+|WHERE):.*(?:\n[ \t]+\^.*)?$", re.M
)
_KEY_VALUES = re.compile(r"(Key \([^)]*\))=\((?:[^()]|\([^()]*\))*\)")
_FAILING_ROW = re.compile(r"Failing row contains \(.*?\)(?=\.?$|\n)", re.M)
_TYPED_INPUT = re.compile(r"((?:invalid input (?:syntax|value) for (?:type )?[\w ]+)): .*$", re.M)
# SQLAlchemy's statement parameters (shown unless the engine hides them).
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|\Z|\s*\(Background)", re.S)


def redact(text: str) -> str:
    """`text` without query strings, secret parameters, driver values or SQL parameters."""
    if not text:
        return text
    text = _REQUEST_LINE.sub(_request_line, text)
    text = _SECRET_PARAMETERS.sub(rf"\1{REDACTED}", text)
    text = _URL_QUERY.sub(r"\1", text)
    text = _DRIVER_LINES.sub(f"[driver detail {REDACTED}]", text)
    text = _KEY_VALUES.sub(rf"\1=({REDACTED})", text)
    text = _FAILING_ROW.sub(f"Failing row contains ({REDACTED})", text)
    text = _TYPED_INPUT.sub(rf"\1: {REDACTED}", text)
    return _PARAMETERS.sub(f"[parameters: {REDACTED}]", text)


def _request_line(match: re.Match[str]) -> str:
    return match.group(1) + _LONG_NUMBER_SEGMENT.sub(REDACTED, match.group(2))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message and its exception text in place (and return it)."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it when the record is handled
        return record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


# Loggers that would write statements, parameters and result rows at INFO and DEBUG.
QUIET_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.orm")


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
