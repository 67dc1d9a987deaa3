"""CSV for spreadsheets: cells that a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

_FORMULA_STARTS = frozenset("=+-@\t\r")
# Invisible characters a spreadsheet may skip before reading a formula.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_MINUS_SIGN = "\u2212"


def _starts_formula(text: str) -> bool:
    head = text.lstrip(_ZERO_WIDTH)[:1]
    if not head:
        return False
    # NFKC folds the full-width and small forms (＝ ＋ － ＠ ﹦ ﹢ ﹣ ﹫) to their ASCII twins.
    return head == _MINUS_SIGN or unicodedata.normalize("NFKC", head)[:1] in _FORMULA_STARTS


def neutralise(value: Any) -> str:
    """The cell as text, prefixed with ' when it would start a formula.

    That is =, +, -, @, TAB or CR, in ASCII or full width, also behind zero-width characters.
    """
    text = "" if value is None else str(value)
    if _starts_formula(text):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (with a BOM so spreadsheets read it as UTF-8), every cell neutralised."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()
