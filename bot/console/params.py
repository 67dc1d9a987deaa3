"""Values the console reads from URLs and forms, parsed strictly.

A value a handler cannot use is a `BadParameter`, which the console answers with 400 and a
Japanese page naming the parameter (`bot/console/errors.py`) — never a 500 from deep inside a
query. Numbers are ASCII digits within what the database column holds ("²" and "１２" are
digits to `str.isdigit` but not to `int` or PostgreSQL); dates are YYYY-MM-DD within a range that
arithmetic in any time zone cannot overflow; NUL, which PostgreSQL refuses in text, is refused in
every parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from flask import request

MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
_DIGITS = re.compile(r"[0-9]{1,10}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadParameter(ValueError):
    """A query-string, form or path value that is not what the route takes."""

    def __init__(self, name: str) -> None:
        super().__init__(f"bad value for {name!r}")
        self.name = name


def parse_int(name: str, raw: str, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """An integer in [minimum, maximum] written in ASCII digits; None when blank."""
    text = raw.strip()
    if not text:
        return None
    if not _DIGITS.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise BadParameter(name)
    return int(text)


def parse_day(name: str, raw: str) -> date | None:
    """A YYYY-MM-DD date between FIRST_DAY and LAST_DAY; None when blank."""
    text = raw.strip()
    if not text:
        return None
    if not _DAY.fullmatch(text):
        raise BadParameter(name)
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise BadParameter(name) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadParameter(name)
    return day


def arg_int(name: str, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """The query-string integer `name` (see parse_int)."""
    return parse_int(name, request.args.get(name, ""), minimum=minimum, maximum=maximum)


def form_ids(name: str, *, limit: int) -> list[int]:
    """The distinct row ids posted as `name` (several values), at most `limit` of them."""
    ids: list[int] = []
    for raw in request.form.getlist(name):
        value = parse_int(name, raw, minimum=1)
        if value is not None and value not in ids:
            ids.append(value)
    if len(ids) > limit:
        raise BadParameter(name)
    return ids


def is_row_id(key: object) -> bool:
    """Whether `key` can be an id at all (a URL's <int:...> takes any number of digits)."""
    return not isinstance(key, int) or 0 <= key <= MAX_ID


def refuse_nul() -> None:
    """Refuse a request with NUL in any query, form or path value (PostgreSQL cannot store it)."""
    values: Iterable[tuple[str, object]] = [
        *request.args.items(multi=True),
        *(request.view_args or {}).items(),
    ]
    if request.method == "POST":
        values = [*values, *request.form.items(multi=True)]
    for name, value in values:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise BadParameter(name.replace("\x00", ""))
