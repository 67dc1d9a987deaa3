"""Sheet rows → FormAnswers: the pure mapping of form responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.form_columns import column_mapping_problems
from bot.onboarding.form_mapping import (
    ColumnReport,
    ParsedSnapshot,
    QuarantineReason,
    cell_text,
    parse_snapshot,
    parse_timestamp,
    validate_columns,
)
from integrations.ports import SheetSnapshot

COLUMNS = {
    "タイムスタンプ": "timestamp",
    "メールアドレス": "email",
    "お名前": "full_name",
    "所属団体": "organization",
    "参加したい課": "interests",
    "電話番号": "referrer",
}
HEADER = ["タイムスタンプ", "メールアドレス", "お名前", "所属団体", "参加したい課", "電話番号"]
# 2026-11-20 21:03:11 in Tokyo is 12:03:11 UTC; serial days since 1899-12-30.
SERIAL = 46346 + (21 * 3600 + 3 * 60 + 11) / 86400
SUBMITTED = datetime(2026, 11, 20, 12, 3, 11, tzinfo=UTC)


def row(**overrides: Any) -> list[Any]:
    """A valid response row in HEADER order, with some cells replaced."""
    values = {
        "タイムスタンプ": SERIAL,
        "メールアドレス": "Taro.Yamada@City.Toyama.lg.jp",
        "お名前": "山田 太郎",
        "所属団体": "富山市",
        "参加したい課": "広報課, DX課",
        "電話番号": "0901234",
    }
    values.update(overrides)
    return [values[h] for h in HEADER]


def parse(rows: list[list[Any]], header: list[str] = HEADER, **kwargs: Any) -> ParsedSnapshot:
    return parse_snapshot(SheetSnapshot(header=header, rows=rows, **kwargs), COLUMNS)


def reorder(values: list[Any], order: list[int]) -> list[Any]:
    return [values[i] for i in order]


# --- column mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"Timestamp": "timestamp", "Email": "email"}, []),
        (
            {"Timestamp": "timestamp", "Email": "email", "Name": "fullname"},
            ["forms.columns.Name: unknown field 'fullname'"],
        ),
        (
            {"Timestamp": "timestamp", "Email": "email", "Mail 2": "email"},
            ["forms.columns.Mail 2: field 'email' is already mapped from 'Email'"],
        ),
        (
            {"Timestamp": "timestamp", "課1": "interests", "課2": "interests", "Email": "email"},
            [],
        ),
        (
            {"Timestamp": "timestamp", "Email": "email", "Email ": "full_name"},
            ["forms.columns.Email : 'Email ' and 'Email' are the same question title"],
        ),
        ({"": "email"}, ["forms.columns: empty question title mapped to 'email'"]),
    ],
    ids=["valid", "unknown_field", "field_mapped_twice", "interests_repeat", "same_title", "empty"],
)
def test_column_mapping_problems_name_the_offending_key(
    columns: dict[str, str], expected: list[str]
) -> None:
    problems = column_mapping_problems(columns)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


@pytest.mark.parametrize(
    ("header", "columns", "expected"),
    [
        (HEADER, COLUMNS, ColumnReport()),
        (
            [*HEADER, "新しい質問"],
            COLUMNS,
            ColumnReport(unmapped_headers=("新しい質問",)),
        ),
        (
            ["タイムスタンプ", "メール", "お名前", "所属団体", "参加したい課", "電話番号"],
            COLUMNS,
            ColumnReport(
                missing_titles=("メールアドレス",),
                unmapped_headers=("メール",),
                missing_required=("email",),
            ),
        ),
        (
            [*HEADER, "備考", "備考"],
            COLUMNS,
            ColumnReport(duplicate_headers=("備考",), unmapped_headers=("備考", "備考 (2)")),
        ),
        (
            HEADER,
            {**COLUMNS, "お名前": "name"},
            ColumnReport(unknown_fields=("name",), unmapped_headers=("お名前",)),
        ),
        (
            ["  タイムスタンプ ", "メールアドレス"],
            {"タイムスタンプ": "timestamp", "メールアドレス": "email"},
            ColumnReport(),
        ),
    ],
    ids=["exact", "added_question", "renamed_email", "duplicate_header", "unknown_field", "spaces"],
)
def test_validate_columns_reports_every_mismatch(
    header: list[str], columns: dict[str, str], expected: ColumnReport
) -> None:
    assert validate_columns(header, columns) == expected


def test_missing_required_column_is_fatal_and_parses_nothing() -> None:
    header = ["タイムスタンプ", "メール"]
    parsed = parse([[SERIAL, "a@example.jp"]], header=header)
    assert parsed.report.fatal
    assert parsed.responses == [] and parsed.quarantined == []
    assert "required field 'email' has no column: sync cannot run" in parsed.report.messages()


# --- values ---------------------------------------------------------------------------------


def test_new_row_becomes_answers_with_normalised_email_and_utc_time() -> None:
    parsed = parse([row()], timezone="Asia/Tokyo")
    [response] = parsed.responses
    answers = response.answers
    assert answers.email == "taro.yamada@city.toyama.lg.jp"
    assert answers.submitted_at == SUBMITTED
    assert answers.full_name == "山田 太郎"
    assert answers.organization == "富山市"
    assert answers.interests == ("広報課", "DX課")
    assert response.row_number == 2
    assert response.raw["メールアドレス"] == "Taro.Yamada@City.Toyama.lg.jp"
    assert parsed.quarantined == []


def test_serial_timestamp_uses_the_sheet_time_zone_over_the_default() -> None:
    [response] = parse([row()], timezone="America/New_York").responses
    assert response.answers.submitted_at == datetime(2026, 11, 21, 2, 3, 11, tzinfo=UTC)


def test_serial_timestamp_falls_back_to_the_default_time_zone() -> None:
    [response] = parse([row()]).responses
    assert response.answers.submitted_at == SUBMITTED


@pytest.mark.parametrize(
    "value",
    [
        SERIAL,
        "2026/11/20 21:03:11",
        "2026/11/20 21:03:11 ",
        "2026-11-20 21:03:11",
        "2026-11-20T21:03:11+09:00",
        "2026-11-20T12:03:11Z",
        "２０２６/１１/２０ ２１:０３:１１",
    ],
)
def test_timestamp_formats_google_exports_parse_to_utc(value: Any) -> None:
    assert parse_timestamp(value, "Asia/Tokyo") == SUBMITTED


def test_timestamp_without_seconds_parses() -> None:
    expected = datetime(2026, 11, 20, 12, 3, tzinfo=UTC)
    assert parse_timestamp("2026/11/20 21:03", "Asia/Tokyo") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0901234", "0901234"),
        (901234, "901234"),
        (12.0, "12"),
        (1.5, "1.5"),
        (True, "TRUE"),
        (None, ""),
        ('=HYPERLINK("x")', '=HYPERLINK("x")'),
    ],
)
def test_cell_text_never_numericises_or_adds_point_zero(value: Any, expected: str) -> None:
    assert cell_text(value) == expected


def test_leading_zero_text_is_kept() -> None:
    [response] = parse([row()]).responses
    assert response.answers.referrer == "0901234"
    assert response.raw["電話番号"] == "0901234"


def test_integral_number_becomes_text_without_point_zero() -> None:
    [response] = parse([row(電話番号=1234.0)]).responses
    assert response.answers.referrer == "1234"


@pytest.mark.parametrize("formula", ["=1+1", "+81 90", "-5", "@SUM(A1)", '=IMPORTXML("u")'])
def test_formula_looking_values_are_kept_as_plain_text(formula: str) -> None:
    [response] = parse([row(所属団体=formula)]).responses
    assert response.answers.organization == formula
    assert response.raw["所属団体"] == formula


def test_short_row_is_padded_with_empty_answers() -> None:
    [response] = parse([row()[:2]]).responses
    assert response.answers.full_name == ""
    assert response.answers.interests == ()
    assert response.raw["電話番号"] == ""


# --- quarantine -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ([], QuarantineReason.EMPTY_ROW),
        (["", "  ", ""], QuarantineReason.EMPTY_ROW),
        (row(メールアドレス=""), QuarantineReason.MISSING_EMAIL),
        (row(メールアドレス="   "), QuarantineReason.MISSING_EMAIL),
        (row(メールアドレス="山田さん"), QuarantineReason.INVALID_EMAIL),
        (row(メールアドレス="a@b"), QuarantineReason.INVALID_EMAIL),
        (row(メールアドレス="a@b.jp, c@d.jp"), QuarantineReason.INVALID_EMAIL),
        (row(タイムスタンプ=""), QuarantineReason.BAD_TIMESTAMP),
        (row(タイムスタンプ="昨日"), QuarantineReason.BAD_TIMESTAMP),
        (row(タイムスタンプ="2026/13/45 25:00:00"), QuarantineReason.BAD_TIMESTAMP),
        (row(タイムスタンプ=-3.0), QuarantineReason.BAD_TIMESTAMP),
        (row(タイムスタンプ=True), QuarantineReason.BAD_TIMESTAMP),
    ],
)
def test_bad_rows_are_quarantined_with_their_reason(cells: list[Any], reason: str) -> None:
    parsed = parse([row(), cells])
    assert len(parsed.responses) == 1
    [quarantined] = parsed.quarantined
    assert quarantined.reason_code == reason
    assert quarantined.row_number == 3
    assert quarantined.raw.keys() == set(HEADER)


def test_quarantine_messages_never_contain_the_answers() -> None:
    bad = row(メールアドレス="secret-person@", タイムスタンプ="x")
    [quarantined] = parse([bad]).quarantined
    assert "secret-person" not in quarantined.reason_message
    assert quarantined.raw["メールアドレス"] == "secret-person@"


def test_full_width_email_is_normalised() -> None:
    [response] = parse([row(メールアドレス=" ＴＡＲＯ＠ｅｘａｍｐｌｅ．ｊｐ ")]).responses
    assert response.answers.email == "taro@example.jp"


def test_identical_resubmission_keeps_one_earliest_row() -> None:
    later = row(タイムスタンプ=SERIAL + 1)
    parsed = parse([later, row()])
    [response] = parsed.responses
    assert response.answers.submitted_at == SUBMITTED
    assert response.row_number == 3
    assert parsed.quarantined == []


def test_same_email_with_different_answers_quarantines_all_its_rows() -> None:
    other = row(メールアドレス="other@example.jp")
    parsed = parse([row(), other, row(お名前="山田 次郎", タイムスタンプ=SERIAL + 1)])
    assert [r.answers.email for r in parsed.responses] == ["other@example.jp"]
    assert [(q.row_number, q.reason_code) for q in parsed.quarantined] == [
        (2, QuarantineReason.DUPLICATE_EMAIL_ROWS),
        (4, QuarantineReason.DUPLICATE_EMAIL_ROWS),
    ]


def test_duplicate_email_detection_uses_the_normalised_address() -> None:
    parsed = parse([row(), row(メールアドレス="taro.yamada@city.toyama.lg.jp ", お名前="別人")])
    assert parsed.responses == []
    assert {q.reason_code for q in parsed.quarantined} == {"duplicate_email_rows"}


# --- fingerprint ----------------------------------------------------------------------------


def fingerprint(cells: list[Any], header: list[str] = HEADER) -> str:
    [response] = parse([cells], header=header).responses
    return response.fingerprint


def test_edited_response_changes_fingerprint() -> None:
    assert fingerprint(row()) != fingerprint(row(所属団体="高岡市", タイムスタンプ=SERIAL + 1))


def test_resubmission_with_new_timestamp_keeps_fingerprint() -> None:
    assert fingerprint(row()) == fingerprint(row(タイムスタンプ="2026/12/01 09:00:00"))


@pytest.mark.parametrize(
    "edit",
    [
        {"お名前": "山田 花子"},
        {"参加したい課": "広報課"},
        {"電話番号": "0901235"},
        {"メールアドレス": "taro@example.jp"},
    ],
)
def test_any_edited_answer_changes_fingerprint(edit: dict[str, Any]) -> None:
    assert fingerprint(row()) != fingerprint(row(**edit))


def test_whitespace_and_case_noise_keeps_fingerprint() -> None:
    noisy = row(お名前=" 山田  太郎 ", メールアドレス="TARO.YAMADA@CITY.TOYAMA.LG.JP")
    assert fingerprint(row()) == fingerprint(noisy)


def test_reordered_columns_keep_answers_and_fingerprint() -> None:
    order = [5, 3, 1, 0, 4, 2]
    reordered = parse([reorder(row(), order)], header=reorder(HEADER, order))
    [response] = reordered.responses
    [original] = parse([row()]).responses
    assert response.answers == original.answers
    assert response.fingerprint == original.fingerprint
    assert reordered.report == ColumnReport()


def test_reordered_rows_give_the_same_responses() -> None:
    rows = [row(), row(メールアドレス="b@example.jp"), row(メールアドレス="c@example.jp")]
    forward = parse(rows).responses
    backward = parse(rows[::-1]).responses
    assert sorted((r.answers.email, r.fingerprint) for r in forward) == sorted(
        (r.answers.email, r.fingerprint) for r in backward
    )
    assert [r.row_number for r in backward] == [2, 3, 4]


def test_added_question_goes_to_extra_and_keeps_old_fingerprints() -> None:
    header = [*HEADER, "ご意見"]
    old_row = fingerprint(row(), header=header)
    assert old_row == fingerprint(row())
    [response] = parse([[*row(), "よろしく"]], header=header).responses
    assert response.answers.extra == {"ご意見": "よろしく"}
    assert response.fingerprint != old_row


def test_renamed_mapped_question_with_updated_config_keeps_fingerprint() -> None:
    header = ["タイムスタンプ", "メールアドレス", "氏名", "所属団体", "参加したい課", "電話番号"]
    columns = {**COLUMNS, "氏名": "full_name"}
    del columns["お名前"]
    renamed = parse_snapshot(SheetSnapshot(header=header, rows=[row()]), columns)
    [response] = renamed.responses
    assert response.answers.full_name == "山田 太郎"
    assert response.fingerprint == fingerprint(row())


def test_renamed_question_without_config_change_lands_in_extra() -> None:
    header = ["タイムスタンプ", "メールアドレス", "氏名", "所属団体", "参加したい課", "電話番号"]
    parsed = parse([row()], header=header)
    [response] = parsed.responses
    assert response.answers.full_name == ""
    assert response.answers.extra == {"氏名": "山田 太郎"}
    assert parsed.report.missing_titles == ("お名前",)
    assert parsed.report.unmapped_headers == ("氏名",)


def test_duplicate_headers_are_disambiguated_in_raw_and_extra() -> None:
    header = [*HEADER, "備考", "備考"]
    [response] = parse([[*row(), "一", "二"]], header=header).responses
    assert response.raw["備考"] == "一"
    assert response.raw["備考 (2)"] == "二"
    assert response.answers.extra == {"備考": "一", "備考 (2)": "二"}


def test_duplicated_mapped_question_takes_the_first_non_empty_answer() -> None:
    header = [*HEADER, "所属団体"]
    [response] = parse([[*row(所属団体=""), "高岡市"]], header=header).responses
    assert response.answers.organization == "高岡市"
    assert response.raw["所属団体 (2)"] == "高岡市"


def test_cells_beyond_the_header_are_kept_in_extra() -> None:
    [response] = parse([[*row(), "メモ"]]).responses
    assert response.answers.extra == {"(column 7)": "メモ"}


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    value = fingerprint(row())
    assert len(value) == 64 and int(value, 16) >= 0


def test_stored_lengths_are_the_application_columns_lengths() -> None:
    """The parser's limits are the schema's: a row it lets through fits on PostgreSQL."""
    from bot.models import Application
    from bot.onboarding.answers import FORM_FIELDS, STORED_LENGTHS

    columns = Application.__table__.columns
    for field_name, limit in STORED_LENGTHS.items():
        column = "organization_text" if field_name == "organization" else field_name
        assert columns[column].type.length == limit, field_name  # type: ignore[attr-defined]
    text_fields = {f for f in FORM_FIELDS if f not in ("timestamp", "interests")}
    assert set(STORED_LENGTHS) == text_fields
