"""CsvFormSource: a CSV export of the response sheet as a FormSource."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.onboarding.form_mapping import parse_snapshot
from integrations.csv_source import CsvFormSource
from integrations.sheets import FormSourceError

EXPORT = (
    "\ufeffタイムスタンプ,メールアドレス,電話番号,ご意見\r\n"
    '2026/11/20 21:03:11,taro@example.jp,0901234,"=1+1, ""quoted"""\r\n'
    "2026/11/21 8:00:00,hanako@example.jp,,\r\n"
    ",,,\r\n"
    "\r\n"
)


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "responses.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_export_is_read_as_strings_with_header_and_timezone(tmp_path: Path) -> None:
    snapshot = CsvFormSource(write(tmp_path, EXPORT)).fetch()
    assert snapshot.header == ["タイムスタンプ", "メールアドレス", "電話番号", "ご意見"]
    assert snapshot.rows == [
        ["2026/11/20 21:03:11", "taro@example.jp", "0901234", '=1+1, "quoted"'],
        ["2026/11/21 8:00:00", "hanako@example.jp", "", ""],
    ]
    assert snapshot.timezone == "Asia/Tokyo"


def test_trailing_empty_rows_are_dropped_like_sheets_does(tmp_path: Path) -> None:
    snapshot = CsvFormSource(write(tmp_path, EXPORT)).fetch()
    assert len(snapshot.rows) == 2


def test_blank_row_between_answers_is_kept_for_quarantine(tmp_path: Path) -> None:
    text = "a,b\r\n1,2\r\n,\r\n3,4\r\n"
    assert CsvFormSource(write(tmp_path, text)).fetch().rows == [["1", "2"], ["", ""], ["3", "4"]]


def test_missing_file_is_a_form_source_error(tmp_path: Path) -> None:
    with pytest.raises(FormSourceError, match="form CSV not found"):
        CsvFormSource(tmp_path / "nope.csv").fetch()


def test_wrong_encoding_is_a_form_source_error(tmp_path: Path) -> None:
    path = write(tmp_path, "タイムスタンプ\r\n", encoding="shift_jis")
    with pytest.raises(FormSourceError, match="not valid utf-8-sig"):
        CsvFormSource(path).fetch()


def test_other_encoding_can_be_configured(tmp_path: Path) -> None:
    path = write(tmp_path, "タイムスタンプ\r\n2026/11/20 21:03:11\r\n", encoding="cp932")
    snapshot = CsvFormSource(path, encoding="cp932").fetch()
    assert snapshot.header == ["タイムスタンプ"]


def test_empty_file_gives_an_empty_snapshot(tmp_path: Path) -> None:
    snapshot = CsvFormSource(write(tmp_path, "")).fetch()
    assert snapshot.header == [] and snapshot.rows == []


def test_file_is_read_afresh_on_every_fetch(tmp_path: Path) -> None:
    path = write(tmp_path, "a\r\n1\r\n")
    source = CsvFormSource(path)
    assert source.fetch().rows == [["1"]]
    path.write_text("a\r\n1\r\n2\r\n", encoding="utf-8")
    assert source.fetch().rows == [["1"], ["2"]]


def test_csv_export_parses_end_to_end_in_the_configured_timezone(tmp_path: Path) -> None:
    source = CsvFormSource(write(tmp_path, EXPORT), timezone="Asia/Tokyo")
    columns = {"タイムスタンプ": "timestamp", "メールアドレス": "email", "電話番号": "referrer"}
    parsed = parse_snapshot(source.fetch(), columns)
    first, second = parsed.responses
    assert first.answers.submitted_at.isoformat() == "2026-11-20T12:03:11+00:00"
    assert first.answers.referrer == "0901234"
    assert first.answers.extra == {"ご意見": '=1+1, "quoted"'}
    assert second.answers.submitted_at.isoformat() == "2026-11-20T23:00:00+00:00"
