"""The form's fields and the one check of a `[forms.columns]` table (pure, no project imports).

Configuration (`bot/config.py`) refuses a bad table at start-up with this check; the domain
(`bot/onboarding/form_mapping.py`) matches the sheet's header by the same title rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Application fields a `[forms.columns]` entry may map a question title to.
FORM_FIELDS: tuple[str, ...] = (
    "timestamp",
    "email",
    "full_name",
    "kana",
    "facebook_name",
    "service_type",  # 国家公務員 / 地方公務員
    "organization",
    "department",
    "prefecture",  # workplace prefecture (勤務地の都道府県)
    "employment_status",
    "interests",  # 課 checkboxes, comma separated in the sheet
    "consent",
    "referrer",
)
REQUIRED_FIELDS: tuple[str, ...] = ("timestamp", "email")
# A field several questions may feed (課 chosen in more than one checkbox question).
REPEATABLE_FIELDS = frozenset({"interests"})
_WHITESPACE = re.compile(r"\s+")


def normalise_title(title: str) -> str:
    """Return the form of a question title used to match it (NFKC, trimmed, single spaces)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", title)).strip()


def column_mapping_problems(columns: Mapping[str, str]) -> list[str]:
    """Check a `[forms.columns]` table; return one line per fault, naming its key.

    A required field that is not mapped is not a fault here: the poll reports it against the
    sheet's real header (`form_mapping.ColumnReport`), where it can be seen with the rest.
    """
    problems: list[str] = []
    seen_titles: dict[str, str] = {}
    mapped_from: dict[str, str] = {}
    for title, name in columns.items():
        key = normalise_title(title)
        if not key:
            problems.append(f"forms.columns: empty question title mapped to {name!r}")
        elif key in seen_titles:
            problems.append(
                f"forms.columns.{title}: {title!r} and {seen_titles[key]!r} "
                "are the same question title"
            )
        else:
            seen_titles[key] = title
        if name not in FORM_FIELDS:
            problems.append(
                f"forms.columns.{title}: unknown field {name!r} (one of {', '.join(FORM_FIELDS)})"
            )
        elif name in mapped_from and name not in REPEATABLE_FIELDS:
            problems.append(
                f"forms.columns.{title}: field {name!r} is already mapped from "
                f"{mapped_from[name]!r}"
            )
        else:
            mapped_from.setdefault(name, title)
    return problems
