"""The small interfaces the domain talks to; concrete adapters live beside this module."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class FailureKind(enum.StrEnum):
    """How the outbox should treat a failed delivery."""

    RETRY = "retry"  # transient: back off and try again (rate limits, 5xx, timeouts)
    UNREACHABLE = "unreachable"  # the person cannot be messaged any more: stop for them
    OUTSIDE_WINDOW = "outside_window"  # 24-hour window closed: back to waiting
    AUTH = "auth"  # token or permission problem: pause all sending, alert the secretariat
    INVALID = "invalid"  # the request itself is wrong: dead, keep the error


class DeliveryError(Exception):
    """A transport could not deliver; `kind` tells the outbox what to do next."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        retry_after: float | None = None,
        cause: str = "",
        unknown: bool = False,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.retry_after = retry_after
        self.cause = cause  # what the condition is, in a few English words (no personal data)
        self.unknown = unknown  # no documented class: only this row fails, and it is alerted
        # the request may have reached the provider (a read timeout, a reset after sending): a
        # retry may deliver a second copy
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class SendResult:
    """What a successful send returned (Meta's message id, or a local one)."""

    message_id: str


@dataclass(frozen=True)
class UserProfile:
    """A person's name as the User Profile API returns it (fields may be withheld)."""

    name: str | None
    first_name: str | None
    last_name: str | None


@runtime_checkable
class ProfileLookup(Protocol):
    """Ask Messenger for a person's name (the User Profile API); raise DeliveryError."""

    def user_profile(self, psid: str) -> UserProfile: ...


class MessengerSender(Protocol):
    """Send one Send API message to a person (PSID)."""

    def send(
        self,
        psid: str,
        message: dict[str, Any],
        *,
        messaging_type: str,
        tag: str | None = None,
    ) -> SendResult: ...


@dataclass(frozen=True)
class EmailMessage:
    """One plain-text email."""

    to: str
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    """Deliver one email or raise DeliveryError."""

    def send(self, message: EmailMessage) -> SendResult: ...


@dataclass(frozen=True)
class SheetSnapshot:
    """One read of the form's response range: the header row and the data rows, verbatim."""

    header: list[str]
    rows: list[list[Any]]
    timezone: str | None = None  # the spreadsheet's time zone (IANA name), for serial dates


class FormSource(Protocol):
    """Read all form responses (header + rows) in one request."""

    def fetch(self) -> SheetSnapshot: ...
