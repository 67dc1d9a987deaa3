"""The labelled applications of tests/data (one row per case, with the expected outcome),
read by the verification tests and by the benchmarks that build workloads from them."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from bot.onboarding.answers import FormAnswers

DATA = Path(__file__).resolve().parent / "data" / "labelled_applications.csv"


def load_rows() -> list[dict[str, str]]:
    """Read the labelled applications."""
    with DATA.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def answers_of(row: dict[str, str]) -> FormAnswers:
    """Turn a labelled row into form answers."""
    return FormAnswers(
        submitted_at=datetime(2026, 11, 1, tzinfo=UTC),
        email=row["email"],
        full_name=row["full_name"],
        facebook_name=row["facebook_name"],
        service_type=row["service_type"],
        organization=row["organization"],
        prefecture=row["prefecture"],
        employment_status=row["employment_status"],
        consent=row["consent"],
    )
