"""Google's endpoints answered by `responses`, for the real gspread + google-auth stack.

Used by the Sheets adapter tests, the intake tests and bench/bench_form_sync.py: a generated RSA
service-account key, the token endpoint, spreadsheet metadata and `values.get` bodies.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.sheets import SheetsFormSource

SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
WORKSHEET = "フォームの回答 1"
TOKEN_URL = "https://oauth2.googleapis.com/token"
META_URL = f"https://sheets.googleapis.com/v4/spreadsheets/{SHEET_ID}"
VALUES_URL = re.compile(rf"https://sheets\.googleapis\.com/v4/spreadsheets/{SHEET_ID}/values/.+")
SA_EMAIL = "cityhall-forms@cityhall-test.iam.gserviceaccount.com"
# google-auth >= 2.55 asks IAM for the service account's Regional Access Boundary.
BOUNDARY_URL = re.compile(r"https://iamcredentials\.googleapis\.com/v1/.+/allowedLocations")


@lru_cache(maxsize=1)
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_info() -> dict[str, str]:
    """A service-account key JSON with a freshly generated (per process) RSA key."""
    return {
        "type": "service_account",
        "project_id": "cityhall-test",
        "private_key_id": "0123456789abcdef",
        "private_key": _private_key_pem(),
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": TOKEN_URL,
    }


@contextmanager
def google_mock() -> Iterator[responses.RequestsMock]:
    """Answer the token endpoint and the boundary lookup; tests add metadata and values."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.POST,
            TOKEN_URL,
            json={"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"},
        )
        mock.get(BOUNDARY_URL, json={"locations": ["asia-northeast1"], "encodedLocations": "0x1"})
        yield mock
        # Never let a google-auth background thread outlive the mock and reach the network.
        for thread in threading.enumerate():
            if "RegionalAccessBoundary" in type(thread).__name__:
                thread.join(timeout=10)


def metadata(time_zone: str = "Asia/Tokyo", titles: tuple[str, ...] = (WORKSHEET,)) -> Any:
    """A spreadsheet metadata body (properties and sheet titles)."""
    return {
        "spreadsheetId": SHEET_ID,
        "properties": {"title": "オンライン市役所 申込", "timeZone": time_zone},
        "sheets": [
            {"properties": {"sheetId": i, "title": t, "index": i}} for i, t in enumerate(titles)
        ],
    }


def values_body(values: list[list[Any]], title: str = WORKSHEET) -> Any:
    """A `values.get` body holding `values` (header row first)."""
    return {"range": f"'{title}'!A1:Z1000", "majorDimension": "ROWS", "values": values}


def google_error(status: int, message: str, state: str) -> Any:
    """A Google API error body."""
    return {"error": {"code": status, "message": message, "status": state}}


def sheets_source(info: dict[str, str], **kwargs: Any) -> SheetsFormSource:
    """A SheetsFormSource on SHEET_ID that does not sleep between retries."""
    kwargs.setdefault("sleep", lambda _: None)
    return SheetsFormSource(SHEET_ID, kwargs.pop("worksheet", None), info, **kwargs)


def calls_to(mock: responses.RequestsMock, url: str | re.Pattern[str]) -> list[Any]:
    """The calls `mock` answered for `url` (query string ignored)."""
    match = url.fullmatch if isinstance(url, re.Pattern) else url.__eq__
    return [c for c in mock.calls if match(c.request.url.split("?")[0])]


def serial(local: datetime) -> float:
    """The Sheets serial number of a naive local date-time (day 0 = 1899-12-30)."""
    delta = local - datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400
