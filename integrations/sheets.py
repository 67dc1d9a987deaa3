"""Read the form's response sheet through gspread with a read-only service account.

One `fetch()` is one `values.get` (one read of the 60/min quota) of the whole worksheet, with
unformatted values and serial-number dates, so "0901234" stays text and nothing is numericised.
The spreadsheet's metadata (worksheet title, time zone) is read once, on the first fetch.
Transient failures (429, 5xx, timeouts, connection errors, and a 200 whose body is cut short or
garbled: not JSON, or JSON of the wrong shape) are retried with bounded exponential backoff and
full jitter; past the bound, or on a permanent error, `FormSourceError` is raised with one
English line that never contains a cell value.

Every request goes through one `AuthorizedSession` made here, so each one (token refresh
included) carries the configured timeout. google-auth's Regional Access Boundary lookup, which
would run in a background thread with no timeout, is opt-in by environment variable in the
locked google-auth; `SheetsFormSource` warns when it is switched on.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from google.auth import environment_vars
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from gspread import Client
from gspread.exceptions import APIError

from integrations.ports import SheetSnapshot

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/spreadsheets.readonly",)
SHEETS_API_BASE = "https://sheets.googleapis.com"  # what gspread's URLs start with
_BOUNDARY_LOOKUP_ENV = getattr(
    environment_vars,
    "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED",
    "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED",
)
_METADATA_FIELDS = "properties(title,timeZone),sheets(properties(sheetId,title,index))"
_VALUES_PARAMS = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "SERIAL_NUMBER",
    "majorDimension": "ROWS",
}
_QUOTA_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED")
_TRANSIENT_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    auth_exceptions.TransportError,
)
# What decoding a 200's body raises when it is not JSON (requests' error is both of these).
_UNDECODABLE = (json.JSONDecodeError, requests.exceptions.InvalidJSONError)
UNREADABLE_ANSWER = "Google Sheets returned an unreadable answer"
_NOT_JSON = "HTTP 200, not valid JSON (cut short or garbled)"
_WRONG_SHAPE = "HTTP 200, JSON of an unexpected shape"
_NOT_A_TOKEN = "the token endpoint's HTTP 200 held no readable token"

T = TypeVar("T")


class FormSourceError(Exception):
    """The form responses could not be read; the message is one English line, no personal data."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # True when retries ran out on 429/5xx/timeouts


class _Transient(Exception):
    """A failure worth retrying; `reason` is short and safe to log."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, unreadable: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unreadable = unreadable  # what was wrong with a 200's body, if that was the failure


def _unreadable(detail: str) -> _Transient:
    return _Transient(f"unreadable answer: {detail}", unreadable=detail)


@dataclass(frozen=True)
class _Opened:
    client: Client
    worksheet_title: str
    timezone: str | None


class SheetsFormSource:
    """FormSource over a Google Sheet linked to the form (Sheets API v4 via gspread)."""

    def __init__(
        self,
        spreadsheet_id: str,
        worksheet: str | None,
        credentials_info: Mapping[str, Any] | None = None,
        credentials_file: str | None = None,
        *,
        timeout: float = 20,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 8,
        sleep: Callable[[float], None] = time.sleep,
        http_session: requests.Session | None = None,
        api_base: str = SHEETS_API_BASE,
    ) -> None:
        """Load the service account (no network yet); `http_session` replaces it if given.

        Args:
            spreadsheet_id: the key in the sheet's URL.
            worksheet: the tab holding the responses; None means the first tab.
            credentials_info: the service-account JSON, parsed.
            credentials_file: path to the service-account JSON (when no info is given).
            timeout: seconds for each HTTP request (connect and read).
            max_attempts: tries per request before giving up (at least 1).
            base_delay: first backoff bound in seconds; doubled per attempt.
            max_delay: cap on any single backoff.
            sleep: how to wait between attempts (tests pass a no-op).
            http_session: an already authorised requests.Session, used instead of credentials.
            api_base: where the Sheets API answers (a local stand-in in acceptance tests).
        """
        if not spreadsheet_id:
            raise FormSourceError("forms.spreadsheet_id is empty")
        self.spreadsheet_id = spreadsheet_id
        self.worksheet = worksheet or None
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._credentials = (
            None if http_session else _load_credentials(credentials_info, credentials_file)
        )
        self._session = http_session or AuthorizedSession(
            self._credentials, refresh_timeout=timeout
        )
        api_base = api_base.rstrip("/")
        if api_base != SHEETS_API_BASE:
            self._session.mount(SHEETS_API_BASE + "/", _Rebased(SHEETS_API_BASE, api_base))
        _warn_if_boundary_lookup_enabled()
        self._opened: _Opened | None = None

    @property
    def service_account_email(self) -> str:
        """Return the service account's address (share the sheet with it), or '' if unknown."""
        return getattr(self._credentials, "service_account_email", "") or ""

    def fetch(self) -> SheetSnapshot:
        """Read the whole response worksheet in one values.get request."""
        opened = self._open()
        quoted = "'" + opened.worksheet_title.replace("'", "''") + "'"
        try:
            body = self._with_retries(
                "values.get",
                lambda: opened.client.http_client.values_get(
                    self.spreadsheet_id, quoted, params=dict(_VALUES_PARAMS)
                ),
                readable=_is_values_body,
            )
        except FormSourceError as error:
            if not error.transient:
                # The worksheet may have been renamed or deleted: look it up afresh next time.
                self._opened = None
            raise
        values = body.get("values") or []
        header = [_header_text(cell) for cell in values[0]] if values else []
        rows = [list(row) for row in values[1:]]
        log.info("read %s data rows from the form sheet", len(rows))
        return SheetSnapshot(header=header, rows=rows, timezone=opened.timezone)

    def _open(self) -> _Opened:
        if self._opened is not None:
            return self._opened
        client = Client(auth=self._credentials, session=self._session)  # type: ignore[arg-type]
        client.set_timeout(self.timeout)
        metadata = self._with_retries(
            "spreadsheet metadata",
            lambda: client.http_client.fetch_sheet_metadata(
                self.spreadsheet_id,
                params={"includeGridData": "false", "fields": _METADATA_FIELDS},
            ),
            readable=_is_metadata,
        )
        titles = [
            sheet.get("properties", {}).get("title", "") for sheet in metadata.get("sheets", [])
        ]
        if self.worksheet is None:
            if not titles:
                raise FormSourceError("the spreadsheet has no worksheet")
            title = titles[0]
        elif self.worksheet in titles:
            title = self.worksheet
        else:
            raise FormSourceError(
                f"worksheet {self.worksheet!r} not found in the spreadsheet "
                f"(it has: {', '.join(repr(t) for t in titles)}); check forms.worksheet"
            )
        timezone = metadata.get("properties", {}).get("timeZone") or None
        self._opened = _Opened(client=client, worksheet_title=title, timezone=timezone)
        log.info("opened form spreadsheet, worksheet %r, time zone %s", title, timezone)
        return self._opened

    def _with_retries(
        self, what: str, call: Callable[[], T], *, readable: Callable[[Any], bool]
    ) -> T:
        """Call until it answers readably, at most `max_attempts` times."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._classified(call, readable)
            except _Transient as failure:
                if attempt == self.max_attempts:
                    raise FormSourceError(
                        _giving_up(what, attempt, failure), transient=True
                    ) from None
                delay = self._backoff(attempt, failure.retry_after)
                log.warning(
                    "Google Sheets %s failed (%s), attempt %s/%s, retrying in %.2fs",
                    what,
                    failure.reason,
                    attempt,
                    self.max_attempts,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Return a full-jitter delay: uniform in [0, min(max_delay, base * 2**(attempt-1))]."""
        bound = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        delay = random.uniform(0, bound)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay

    def _classified(self, call: Callable[[], T], readable: Callable[[Any], bool]) -> T:
        try:
            answer = call()
        except _UNDECODABLE:
            raise _unreadable(_NOT_JSON) from None
        except APIError as error:
            raise self._api_failure(error) from None
        except auth_exceptions.RefreshError as error:
            if getattr(error, "retryable", False):
                raise _Transient("token endpoint unavailable") from None
            raise FormSourceError(
                "Google rejected the service account credentials (token refresh failed); "
                "check the service account key"
            ) from None
        except _TRANSIENT_EXCEPTIONS as error:
            raise _Transient(type(error).__name__) from None
        except (TypeError, KeyError, ValueError) as error:
            # google-auth reads a garbled token answer as a string and indexes it
            if not _raised_in_google_auth(error):
                raise
            raise _unreadable(_NOT_A_TOKEN) from None
        if not readable(answer):
            raise _unreadable(_WRONG_SHAPE)
        return answer

    def _api_failure(self, error: APIError) -> Exception:
        status = error.response.status_code
        reasons = _error_reasons(error)
        if status == 429 or status >= 500 or (status == 403 and reasons & set(_QUOTA_REASONS)):
            return _Transient(f"HTTP {status}", _retry_after(error.response))
        share = (
            f"share the spreadsheet with {self.service_account_email} (Viewer is enough)"
            if self.service_account_email
            else "share the spreadsheet with the service account (Viewer is enough)"
        )
        if status == 403 and reasons & {"SERVICE_DISABLED", "accessNotConfigured"}:
            return FormSourceError(
                "HTTP 403: the Google Sheets API is not enabled in the service account's project"
            )
        if status in (401, 403):
            return FormSourceError(f"HTTP {status}: no permission to read the spreadsheet; {share}")
        if status == 404:
            return FormSourceError(
                "HTTP 404: spreadsheet not found; check forms.spreadsheet_id, and " + share
            )
        return FormSourceError(f"HTTP {status}: Google Sheets refused the request")


def _giving_up(what: str, attempts: int, last: _Transient) -> str:
    """The one line a poll ends with when retries ran out."""
    if last.unreadable:
        return (
            f"{UNREADABLE_ANSWER} to {what}: {last.unreadable}; "
            f"{attempts} attempts, giving up until the next poll"
        )
    return (
        f"Google Sheets {what} failed {attempts} times, last: {last.reason}; "
        "giving up until the next poll"
    )


def _raised_in_google_auth(error: BaseException) -> bool:
    """Whether the error was raised by google-auth's own code (reading a token answer)."""
    module = ""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
    return module.startswith(("google.auth.", "google.oauth2."))


def _is_values_body(body: Any) -> bool:
    """A `values.get` answer: an object whose `values`, if any, is a list of rows (lists)."""
    if not isinstance(body, dict):
        return False
    values = body.get("values", [])
    return isinstance(values, list) and all(isinstance(row, list) for row in values)


def _is_metadata(body: Any) -> bool:
    """A spreadsheet metadata answer: an object with `properties` and a list of `sheets`."""
    if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
        return False
    sheets = body.get("sheets", [])
    return isinstance(sheets, list) and all(
        isinstance(sheet, dict) and isinstance(sheet.get("properties", {}), dict)
        for sheet in sheets
    )


def _load_credentials(
    info: Mapping[str, Any] | None, file: str | None
) -> service_account.Credentials:
    try:
        if info:
            return service_account.Credentials.from_service_account_info(
                dict(info), scopes=list(SCOPES)
            )
        if file:
            return service_account.Credentials.from_service_account_file(file, scopes=list(SCOPES))
    except (ValueError, KeyError, OSError) as error:
        raise FormSourceError(
            f"the Google service account key could not be loaded ({type(error).__name__})"
        ) from None
    raise FormSourceError(
        "no Google service account configured: set google.service_account_file "
        "or CITYHALL_GOOGLE_SERVICE_ACCOUNT_JSON"
    )


class _Rebased(requests.adapters.HTTPAdapter):
    """Send requests for `prefix` to `base` instead (gspread's URLs are fixed constants)."""

    def __init__(self, prefix: str, base: str) -> None:
        super().__init__()
        self.prefix, self.base = prefix, base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url and request.url.startswith(self.prefix):
            request.url = self.base + request.url[len(self.prefix) :]
        return super().send(request, **kwargs)


def _warn_if_boundary_lookup_enabled() -> None:
    """Say so when google-auth's experimental boundary lookup is switched on by environment.

    It then runs in a background thread per token with no timeout of ours
    (googleapis/google-cloud-python#17653), which a poll cannot bound; it is off by default.
    """
    if os.environ.get(_BOUNDARY_LOOKUP_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        log.warning(
            "%s is set: google-auth looks up access boundaries in background threads "
            "without a timeout; unset it for bounded form polls",
            _BOUNDARY_LOOKUP_ENV,
        )


def _header_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell)


def _error_reasons(error: APIError) -> set[str]:
    """Collect the machine-readable reasons Google attached to an error body."""
    reasons: set[str] = set()
    status = error.error.get("status")
    if isinstance(status, str):
        reasons.add(status)
    for item in error.error.get("errors", []) or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.add(item["reason"])
    for item in error.error.get("details", []) or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.add(item["reason"])
    return reasons


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
