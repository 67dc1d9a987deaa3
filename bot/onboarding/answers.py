"""A form response as the domain sees it: the mapped fields, plus every other column verbatim."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.form_columns import FORM_FIELDS, REQUIRED_FIELDS

__all__ = ["FORM_FIELDS", "REQUIRED_FIELDS", "STORED_LENGTHS", "FormAnswers"]

# The most characters of each text field an application can store (its column's length). A
# longer answer is refused by PostgreSQL; it is quarantined instead, on every engine alike.
STORED_LENGTHS: dict[str, int] = {
    "email": 254,
    "full_name": 200,
    "kana": 200,
    "facebook_name": 200,
    "service_type": 40,
    "organization": 300,
    "department": 300,
    "prefecture": 8,
    "employment_status": 200,
    "consent": 200,
    "referrer": 300,
}


@dataclass(frozen=True)
class FormAnswers:
    """One respondent's answers; strings are stripped but otherwise as typed."""

    submitted_at: datetime  # timezone-aware, UTC
    email: str  # normalised (NFKC, stripped, lower-case)
    full_name: str = ""
    kana: str = ""
    facebook_name: str = ""
    service_type: str = ""
    organization: str = ""
    department: str = ""
    prefecture: str = ""
    employment_status: str = ""
    interests: tuple[str, ...] = ()
    consent: str = ""
    referrer: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # unmapped question title -> answer
