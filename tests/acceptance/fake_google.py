"""Google stand-ins on loopback: the OAuth token endpoint and the Sheets API v4 reads.

The service-account key is real (a fresh 2048-bit RSA key): the token endpoint checks the
JWT-bearer assertion's RS256 signature with the public key and its claims, as Google would,
and the Sheets endpoints only answer a bearer token it issued. The response sheet's rows can be
changed by the test at any time; `values.get` returns the header row plus the current rows.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.acceptance.fake_http import FakeServer, Recorded, Reply

SA_EMAIL = "cityhall-forms@cityhall-acceptance.iam.gserviceaccount.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def serial(local: datetime) -> float:
    """The Sheets serial number of a naive local date-time (day 0 = 1899-12-30)."""
    delta = local - datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400


def _google_error(status: int, message: str, state: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "status": state}})


@dataclass
class FakeGoogle(FakeServer):
    """Token endpoint + spreadsheet metadata + values.get for one spreadsheet."""

    name: str = "google"
    spreadsheet_id: str = "1AcceptanceTestSpreadsheet0123456789abcdef"
    worksheet: str = "フォームの回答 1"
    time_zone: str = "Asia/Tokyo"
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what a real Google would have refused
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _tokens: set[str] = field(default_factory=set)

    # -- the service account ---------------------------------------------------------------------
    def service_account_info(self) -> dict[str, str]:
        """A service-account key JSON whose token_uri is this fake."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "cityhall-acceptance",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": SA_EMAIL,
            "client_id": "109876543210987654321",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.base_url}/token",
            "universe_domain": "googleapis.com",
        }

    def write_service_account(self, path: Path) -> Path:
        """Write the key JSON to `path` (mode 600) and return it."""
        path.write_text(json.dumps(self.service_account_info(), indent=2), encoding="utf-8")
        path.chmod(0o600)
        return path

    # -- the sheet ------------------------------------------------------------------------------
    def add_row(self, row: list[Any]) -> int:
        """Append a response row; return its sheet row number (the header is row 1)."""
        with self.lock:
            self.rows.append(list(row))
            return len(self.rows) + 1

    def values_reads(self) -> int:
        """How many values.get requests were answered."""
        return sum(1 for r in self.recorded() if "/values/" in r.path and r.method == "GET")

    # -- HTTP -----------------------------------------------------------------------------------
    def answer(self, request: Recorded) -> Reply:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        prefix = f"/v4/spreadsheets/{self.spreadsheet_id}"
        if request.method == "GET" and request.path.startswith("/v4/spreadsheets/"):
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self._tokens:
                self.problems.append(f"Sheets request without a valid token: {request.path}")
                return _google_error(
                    401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
                )
            if request.path == prefix:
                return Reply(200, self._metadata())
            if request.path.startswith(prefix + "/values/"):
                return self._values(request.path[len(prefix + "/values/") :])
            return _google_error(404, "Requested entity was not found.", "NOT_FOUND")
        self.problems.append(f"unexpected request {request.method} {request.path}")
        return _google_error(404, "Not found (acceptance fake).", "NOT_FOUND")

    def _token(self, request: Recorded) -> Reply:
        form = {k: v[0] for k, v in _parse_form(request.body).items()}
        assertion = form.get("assertion", "")
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not assertion:
            self.problems.append("token request is not a JWT-bearer grant")
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            self._key.public_key().verify(
                _b64url_decode(sig_b64),
                f"{head_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, InvalidSignature) as exc:
            self.problems.append(f"token assertion not valid: {type(exc).__name__}")
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT"})
        wrong = []
        if header.get("alg") != "RS256":
            wrong.append(f"alg={header.get('alg')}")
        if claims.get("iss") != SA_EMAIL:
            wrong.append("iss")
        # google-auth addresses the assertion to Google's token URI whatever token_uri says.
        if claims.get("aud") not in (GOOGLE_TOKEN_URI, f"{self.base_url}/token"):
            wrong.append("aud")
        if SCOPE not in str(claims.get("scope", "")).split():
            wrong.append(f"scope={claims.get('scope')}")
        if not claims.get("iat", 0) - 300 <= time.time() <= claims.get("exp", 0) + 300:
            wrong.append("iat/exp")
        if wrong:
            self.problems.append(f"token assertion claims wrong: {', '.join(wrong)}")
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT"})
        token = "ya29.acceptance-" + secrets.token_urlsafe(16)
        with self.lock:
            self._tokens.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _metadata(self) -> Any:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {
                "title": "オンライン市役所 参加登録（回答）",
                "timeZone": self.time_zone,
            },
            "sheets": [{"properties": {"sheetId": 0, "title": self.worksheet, "index": 0}}],
        }

    def _values(self, a1_range: str) -> Reply:
        match = re.fullmatch(r"'((?:[^']|'')*)'(?:!.*)?|([^'!]+)(?:!.*)?", a1_range)
        title = (
            (match.group(1).replace("''", "'") if match.group(1) else match.group(2))
            if match
            else None
        )
        if title != self.worksheet:
            self.problems.append(f"values.get for an unknown range {a1_range!r}")
            return _google_error(400, f"Unable to parse range: {a1_range}", "INVALID_ARGUMENT")
        with self.lock:
            values = [list(self.header), *[list(r) for r in self.rows]]
        return Reply(
            200,
            {
                "range": f"'{self.worksheet}'!A1:Z{len(values)}",
                "majorDimension": "ROWS",
                "values": values,
            },
        )


def _parse_form(body: bytes) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    return parse_qs(body.decode("utf-8"), keep_blank_values=True)
