"""Translate one read of the form's response sheet into FormAnswers: pure functions, no I/O.

Decisions that callers rely on:

- Columns are found by question title (the header text), never by position, so reordering,
  inserting or renaming unmapped questions never breaks parsing. Titles are matched after NFKC,
  trimming and collapsing whitespace; `raw` and `extra` keep the header text verbatim.
- Several columns for one field (a duplicated question title, or two titles mapped to one field)
  are read in sheet order and the first non-empty answer wins.
- `fingerprint` hashes the normalised answers WITHOUT the timestamp: Google Forms rewrites an
  edited response with a new timestamp, so a re-submit with identical answers is "unchanged" and
  any edited answer is a change. Mapped answers are keyed by field name and unmapped ones by
  question title, and empty answers are left out, so column order, renaming a mapped question
  (with its config) and adding a new question do not change it; mapping a previously unmapped
  column does (the parsed answers really changed).
- One email in several valid rows: identical fingerprints keep the earliest row; differing ones
  quarantine every row of that email (`duplicate_email_rows`) and the caller leaves the existing
  application untouched.
- A row the database could not store is quarantined here, identically for every engine: an
  answer longer than its field's column (`STORED_LENGTHS`: `answer_too_long`), or a NUL or
  unpaired surrogate anywhere in the row (`unstorable_character`). Quarantined rows keep their
  cells with such characters replaced, so that they themselves can be stored.
- A value starting with =, +, - or @ is plain text here (nothing is evaluated); the CSV exporter
  and the console neutralise such values when they write them out.
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.form_columns import FORM_FIELDS, REQUIRED_FIELDS, normalise_title
from bot.onboarding.answers import STORED_LENGTHS, FormAnswers
from integrations.ports import SheetSnapshot

_SERIAL_EPOCH = datetime(1899, 12, 30)  # day 0 of Sheets' serial numbers (Lotus 1-2-3 style)
_MAX_SERIAL = 2_958_465  # 9999-12-31
_TEXT_TIMESTAMP_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)
_SERIAL_TEXT = re.compile(r"\d+(\.\d+)?")
_EMAIL = re.compile(r"[^@\s,;:<>()\[\]\"]+@(?:[^@\s,;:<>()\[\]\".]+\.)+[^@\s,;:<>()\[\]\".]+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL; halves of a surrogate pair
_STORABLE_STAND_IN = {"\x00": "\u2400"}  # NUL shown as ␀; surrogates become U+FFFD
_TEXT_FIELDS = tuple(f for f in FORM_FIELDS if f not in ("timestamp", "email", "interests"))
# The mapped fields in the order of their fingerprint keys ("field:<name>", sorted), each with
# its key as a JSON string literal followed by ":", cut around email and interests (see
# `_fingerprint`).
_FINGERPRINT_ORDER = sorted(f for f in FORM_FIELDS if f != "timestamp")
_FIELD_PREFIX = {name: encode_basestring(f"field:{name}") + ":" for name in _FINGERPRINT_ORDER}
_EMAIL_AT = _FINGERPRINT_ORDER.index("email")
_INTERESTS_AT = _FINGERPRINT_ORDER.index("interests")
_TEXT_SEGMENTS = tuple(
    tuple((name, _FIELD_PREFIX[name]) for name in _FINGERPRINT_ORDER[start:stop])
    for start, stop in ((0, _EMAIL_AT), (_EMAIL_AT + 1, _INTERESTS_AT), (_INTERESTS_AT + 1, None))
)


class QuarantineReason(enum.StrEnum):
    """Why a row could not become an application (the console labels these in Japanese)."""

    EMPTY_ROW = "empty_row"
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    BAD_TIMESTAMP = "bad_timestamp"
    DUPLICATE_EMAIL_ROWS = "duplicate_email_rows"
    ANSWER_TOO_LONG = "answer_too_long"
    UNSTORABLE_CHARACTER = "unstorable_character"
    DATABASE_REFUSED = "database_refused"


@dataclass(frozen=True)
class ColumnReport:
    """How the sheet's header matches the `[forms.columns]` mapping."""

    unknown_fields: tuple[str, ...] = ()  # mapping values that are not in FORM_FIELDS
    missing_titles: tuple[str, ...] = ()  # mapped titles absent from the header
    duplicate_headers: tuple[str, ...] = ()  # header texts that occur more than once
    unmapped_headers: tuple[str, ...] = ()  # header texts kept verbatim in `extra`
    missing_required: tuple[str, ...] = ()  # required fields with no column in the sheet

    @property
    def fatal(self) -> bool:
        """Tell whether no row can be parsed (a required field has no column)."""
        return bool(self.missing_required)

    def messages(self) -> list[str]:
        """Describe every finding in one English line each (titles only, no answers)."""
        lines = [f"mapping names unknown field {f!r}" for f in self.unknown_fields]
        lines += [f"mapped question {t!r} is not in the sheet" for t in self.missing_titles]
        lines += [f"question {t!r} appears more than once" for t in self.duplicate_headers]
        lines += [f"question {t!r} is not mapped (kept in extra)" for t in self.unmapped_headers]
        lines += [
            f"required field {f!r} has no column: sync cannot run" for f in self.missing_required
        ]
        return lines


@dataclass(frozen=True)
class ParsedResponse:
    """One valid row: its answers, its cells as text, and a change-detection fingerprint."""

    answers: FormAnswers
    raw: dict[str, str]  # header text (duplicates as "title (2)") -> cell text, verbatim
    row_number: int  # 1-based sheet row, informational only: people sort and delete rows
    fingerprint: str  # sha256 hex of the normalised answers, timestamp excluded


@dataclass(frozen=True)
class QuarantinedRow:
    """A row kept aside with the reason it could not be used."""

    raw: dict[str, str]
    row_number: int
    reason_code: str  # a QuarantineReason value
    reason_message: str  # English, for logs and the CLI; never contains an answer


@dataclass(frozen=True)
class ParsedSnapshot:
    """Everything one sheet read yields: valid responses, quarantined rows, the column report."""

    responses: list[ParsedResponse] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    report: ColumnReport = field(default_factory=ColumnReport)


def normalise_email(value: str) -> str:
    """Return an email address in canonical form (NFKC, stripped, lower-case)."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def looks_like_email(value: str) -> bool:
    """Tell whether a normalised value has the shape of one email address."""
    return _EMAIL.fullmatch(value) is not None


def cell_text(value: Any) -> str:
    """Render a cell from UNFORMATTED_VALUE (str, int, float, bool, None) as text."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Sheets displays booleans
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def storable(raw: dict[str, str]) -> dict[str, str]:
    """`raw` with NULs shown as ␀ and unpaired surrogates as U+FFFD (a row that can be kept)."""
    if not any(_UNSTORABLE.search(k) or _UNSTORABLE.search(v) for k, v in raw.items()):
        return raw

    def clean(text: str) -> str:
        return _UNSTORABLE.sub(lambda m: _STORABLE_STAND_IN.get(m.group(), "\ufffd"), text)

    return {clean(k): clean(v) for k, v in raw.items()}


@dataclass(frozen=True)
class _Layout:
    """Where each field and unmapped question sits in the header (private to this module)."""

    keys: tuple[str, ...]  # raw key of every column, header order, duplicates disambiguated
    field_columns: dict[str, tuple[int, ...]]  # field -> column indexes, sheet order
    text_columns: tuple[tuple[str, tuple[int, ...]], ...]  # the same for _TEXT_FIELDS present
    extra_columns: tuple[tuple[int, str], ...]  # (column index, raw key) of unmapped columns
    report: ColumnReport


def _raw_keys(header: Sequence[str]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    keys = []
    for index, title in enumerate(header):
        base = title if title.strip() else f"(column {index + 1})"
        counts[base] = counts.get(base, 0) + 1
        keys.append(base if counts[base] == 1 else f"{base} ({counts[base]})")
    return tuple(keys)


def _layout(header: Sequence[str], columns: Mapping[str, str]) -> _Layout:
    mapping = {normalise_title(t): f for t, f in columns.items()}
    keys = _raw_keys(header)
    normalised = [normalise_title(t) for t in header]

    field_columns: dict[str, list[int]] = {}
    extra_columns: list[tuple[int, str]] = []
    for index, title in enumerate(normalised):
        field_name = mapping.get(title) if title else None
        if field_name in FORM_FIELDS:
            field_columns.setdefault(field_name, []).append(index)
        else:
            extra_columns.append((index, keys[index]))

    counts: dict[str, int] = {}
    for title in normalised:
        if title:
            counts[title] = counts.get(title, 0) + 1
    duplicates = tuple(
        dict.fromkeys(h for h, n in zip(header, normalised, strict=True) if counts.get(n, 0) > 1)
    )
    present = set(normalised)
    report = ColumnReport(
        unknown_fields=tuple(dict.fromkeys(f for f in columns.values() if f not in FORM_FIELDS)),
        missing_titles=tuple(t for t in columns if normalise_title(t) not in present),
        duplicate_headers=duplicates,
        unmapped_headers=tuple(dict.fromkeys(key for _, key in extra_columns)),
        missing_required=tuple(f for f in REQUIRED_FIELDS if f not in field_columns),
    )
    return _Layout(
        keys=keys,
        field_columns={f: tuple(i) for f, i in field_columns.items()},
        text_columns=tuple(
            (f, tuple(field_columns[f])) for f in _TEXT_FIELDS if f in field_columns
        ),
        extra_columns=tuple(extra_columns),
        report=report,
    )


def validate_columns(header: list[str], columns: Mapping[str, str]) -> ColumnReport:
    """Compare the sheet's header with the column mapping and report every mismatch."""
    return _layout([cell_text(h) for h in header], columns).report


def parse_timestamp(value: Any, timezone: str) -> datetime | None:
    """Turn a serial number or a Google-exported text timestamp into an aware UTC datetime."""
    zone = ZoneInfo(timezone)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_serial(float(value), zone)
    text = unicodedata.normalize("NFKC", cell_text(value)).strip()
    if not text:
        return None
    if _SERIAL_TEXT.fullmatch(text):
        return _from_serial(float(text), zone)
    for fmt in _TEXT_TIMESTAMP_FORMATS:
        try:
            local = datetime.strptime(text, fmt)  # zone attached below
        except ValueError:
            continue
        return local.replace(tzinfo=zone).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _from_serial(serial: float, zone: ZoneInfo) -> datetime | None:
    if not 0 < serial <= _MAX_SERIAL:
        return None
    local = _SERIAL_EPOCH + timedelta(milliseconds=round(serial * 86_400_000))
    return local.replace(tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=4_096)
def _split_interests(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _normalise_answer(text: str) -> str:
    # " ".join(split()) collapses and trims exactly the characters `\s` matches (str.isspace).
    return " ".join(unicodedata.normalize("NFKC", text).split())


_normalised = lru_cache(maxsize=16_384)(_normalise_answer)


@lru_cache(maxsize=16_384)
def _answer_json(text: str) -> str:
    """The normalised answer as a JSON string literal, or "" if it normalises to nothing.

    Cached: most cells repeat from row to row (prefectures, statuses, consent, organizations).
    """
    normalised = _normalise_answer(text)
    return encode_basestring(normalised) if normalised else ""


@lru_cache(maxsize=1_024)
def _question_key(title: str) -> tuple[str, str]:
    """The fingerprint key of an unmapped question, and that key as a JSON string literal + ":"."""
    key = f"question:{normalise_title(title)}"
    return key, encode_basestring(key) + ":"


def _fingerprint(answers: FormAnswers) -> str:
    """sha256 of the JSON object {key: normalised answer}, keys sorted, compact separators.

    The payload is byte-for-byte what `json.dumps(items, ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))` gives, assembled from cached pieces instead. Every "field:" key
    sorts before every "question:" key, so the fields come in a fixed order.
    """
    before_email, before_interests, rest = _TEXT_SEGMENTS
    parts = [p + v for n, p in before_email if (v := _answer_json(getattr(answers, n)))]
    parts.append(_FIELD_PREFIX["email"] + encode_basestring(answers.email))
    parts += [p + v for n, p in before_interests if (v := _answer_json(getattr(answers, n)))]
    if answers.interests:
        joined = ", ".join([_normalised(i) for i in answers.interests])
        parts.append(_FIELD_PREFIX["interests"] + encode_basestring(joined))
    parts += [p + v for n, p in rest if (v := _answer_json(getattr(answers, n)))]
    if answers.extra:
        questions: dict[str, str] = {}
        for title, answer in answers.extra.items():
            encoded = _answer_json(answer)
            if encoded:
                key, prefix = _question_key(title)
                questions[key] = prefix + encoded
        parts.extend([questions[key] for key in sorted(questions)])
    payload = "{" + ",".join(parts) + "}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _zone_name(snapshot_zone: str | None, default_timezone: str) -> str:
    if snapshot_zone:
        try:
            ZoneInfo(snapshot_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return default_timezone
        return snapshot_zone
    return default_timezone


def _first(stripped: list[str], indexes: tuple[int, ...]) -> tuple[int, str]:
    """(column, text) of the first non-empty stripped answer among `indexes`, or (-1, "")."""
    for index in indexes:
        if stripped[index]:
            return index, stripped[index]
    return -1, ""


def _parse_row(
    cells: list[Any], row_number: int, layout: _Layout, zone: str
) -> ParsedResponse | QuarantinedRow:
    keys = layout.keys
    width = len(keys)
    if len(cells) < width:
        cells = cells + [""] * (width - len(cells))
    elif len(cells) > width:
        keys = keys + tuple(f"(column {i + 1})" for i in range(width, len(cells)))
    texts = [c if type(c) is str else cell_text(c) for c in cells]
    raw = dict(zip(keys, texts, strict=True))
    stripped = [t.strip() for t in texts]

    def quarantine(reason: QuarantineReason, message: str) -> QuarantinedRow:
        return QuarantinedRow(storable(raw), row_number, reason.value, message)

    if not any(stripped):
        return quarantine(QuarantineReason.EMPTY_ROW, f"row {row_number} is empty")
    if _UNSTORABLE.search("\x01".join(texts)):
        column = next(i for i, text in enumerate(texts) if _UNSTORABLE.search(text))
        return quarantine(
            QuarantineReason.UNSTORABLE_CHARACTER,
            f"row {row_number}: the answer to {_title(keys[column])!r} contains a character "
            "that cannot be stored (NUL or an unpaired surrogate)",
        )

    columns = layout.field_columns
    _, email_text = _first(stripped, columns.get("email", ()))
    if not email_text:
        return quarantine(QuarantineReason.MISSING_EMAIL, f"row {row_number} has no email")
    email = normalise_email(email_text)
    if not looks_like_email(email):
        return quarantine(
            QuarantineReason.INVALID_EMAIL,
            f"row {row_number}: the email answer is not an email address",
        )
    if len(email) > STORED_LENGTHS["email"]:
        return quarantine(
            QuarantineReason.ANSWER_TOO_LONG,
            f"row {row_number}: the email answer is {len(email)} characters; "
            f"at most {STORED_LENGTHS['email']} can be stored",
        )
    timestamp_index, timestamp_text = _first(stripped, columns.get("timestamp", ()))
    if not timestamp_text:
        return quarantine(QuarantineReason.BAD_TIMESTAMP, f"row {row_number} has no timestamp")
    submitted_at = parse_timestamp(cells[timestamp_index], zone)
    if submitted_at is None:
        return quarantine(
            QuarantineReason.BAD_TIMESTAMP, f"row {row_number}: the timestamp is not a date-time"
        )

    extra = {key: texts[i] for i, key in layout.extra_columns if stripped[i]}
    for i in range(width, len(texts)):
        if stripped[i]:
            extra[keys[i]] = texts[i]
    fields = {
        name: stripped[indexes[0]] if len(indexes) == 1 else _first(stripped, indexes)[1]
        for name, indexes in layout.text_columns
    }
    for name, indexes in layout.text_columns:
        if len(fields[name]) > STORED_LENGTHS[name]:
            column = indexes[0] if len(indexes) == 1 else _first(stripped, indexes)[0]
            return quarantine(
                QuarantineReason.ANSWER_TOO_LONG,
                f"row {row_number}: the answer to {_title(keys[column])!r} is "
                f"{len(fields[name])} characters; at most {STORED_LENGTHS[name]} can be stored",
            )
    answers = FormAnswers(
        submitted_at=submitted_at,
        email=email,
        interests=_split_interests(_first(stripped, columns.get("interests", ()))[1]),
        extra=extra,
        **fields,
    )
    return ParsedResponse(answers, raw, row_number, _fingerprint(answers))


def _title(key: str) -> str:
    """A question title fit for a log line: storable and not overly long."""
    title = storable({key: ""}).popitem()[0]
    return title if len(title) <= 80 else title[:79] + "…"


def _resolve_duplicate_emails(
    responses: list[ParsedResponse],
) -> tuple[list[ParsedResponse], list[QuarantinedRow]]:
    by_email: dict[str, list[ParsedResponse]] = {}
    for response in responses:
        by_email.setdefault(response.answers.email, []).append(response)
    kept: list[ParsedResponse] = []
    quarantined: list[QuarantinedRow] = []
    for group in by_email.values():
        if len(group) == 1:
            kept.append(group[0])
            continue
        if len({r.fingerprint for r in group}) == 1:
            kept.append(min(group, key=lambda r: (r.answers.submitted_at, r.row_number)))
            continue
        rows = ", ".join(str(r.row_number) for r in group)
        for response in group:
            quarantined.append(
                QuarantinedRow(
                    response.raw,
                    response.row_number,
                    QuarantineReason.DUPLICATE_EMAIL_ROWS.value,
                    f"rows {rows} share one email with different answers",
                )
            )
    kept.sort(key=lambda r: r.row_number)
    return kept, quarantined


def parse_snapshot(
    snapshot: SheetSnapshot, columns: Mapping[str, str], default_timezone: str = "Asia/Tokyo"
) -> ParsedSnapshot:
    """Parse every data row of a sheet read; a fatal column report yields no rows at all."""
    layout = _layout([cell_text(h) for h in snapshot.header], columns)
    if layout.report.fatal:
        return ParsedSnapshot(report=layout.report)
    zone = _zone_name(snapshot.timezone, default_timezone)
    valid: list[ParsedResponse] = []
    quarantined: list[QuarantinedRow] = []
    for offset, cells in enumerate(snapshot.rows):
        parsed = _parse_row(list(cells), offset + 2, layout, zone)
        if isinstance(parsed, QuarantinedRow):
            quarantined.append(parsed)
        else:
            valid.append(parsed)
    responses, duplicates = _resolve_duplicate_emails(valid)
    quarantined.extend(duplicates)
    quarantined.sort(key=lambda q: q.row_number)
    return ParsedSnapshot(responses=responses, quarantined=quarantined, report=layout.report)
