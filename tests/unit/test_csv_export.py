"""CSV export: what a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io

import pytest

from bot.console.csv_export import neutralise, to_csv

FORMULAS = [
    '=HYPERLINK("http://x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '＝HYPERLINK("http://x")',  # full-width equals sign
    "＋1",
    "－1",
    "＠SUM(A1)",
    "﹦1",  # small equals sign
    "−1",  # minus sign
    "\u200b=1+1",  # zero-width space before the formula
    "\u200c+1",
    "\u200d-1",
    "\ufeff@A1",
    "\u2060=1",
    "\u200b\u200b＝1",  # several invisible characters, then a full-width formula
]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_are_prefixed_with_a_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["山田 太郎", "OC-ABC123", "a=b", "1-2", "", "\u200b", "\u200b山田", "ｍail@example.jp"]
)
def test_ordinary_cells_are_left_alone(cell: str) -> None:
    assert neutralise(cell) == cell


def test_none_is_an_empty_cell() -> None:
    assert neutralise(None) == ""


def test_every_cell_of_the_document_is_neutralised() -> None:
    body = to_csv(("氏名", "＝理由"), [("\u200b=cmd|' /C calc'!A0", "ok")])
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows == [["氏名", "'＝理由"], ["'\u200b=cmd|' /C calc'!A0", "ok"]]
