"""Form intake end to end: the real gspread client reads a sheet that `responses` serves.

Every test runs on SQLite and on PostgreSQL (the `runtime` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from bot.cli import main
from bot.models import Alert, Application, AuditEntry, OutboundMessage, QuarantinedRow, SystemFlag
from bot.onboarding.intake import UNMAPPED_FLAG, sync_forms
from bot.runtime import Runtime
from integrations.sheets import FormSourceError
from tests import google_fakes
from tests.form_sheet import HEADER, NOTE, FakeSheet, counting_writes, response_row, row_counts
from tests.google_fakes import META_URL, VALUES_URL, calls_to, google_error, metadata, serial

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
ORG = "所属団体名（例：富山市、国土交通省）"
TOYAMA = "m.yashiki@city.toyama.lg.jp"
YOKOHAMA = "hanako.sato@city.yokohama.lg.jp"
MLIT = "t-suzuki@mlit.go.jp"


@pytest.fixture(scope="module")
def service_account_info() -> dict[str, str]:
    return google_fakes.service_account_info()


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    with google_fakes.google_mock() as mock:
        mock.get(META_URL, json=metadata(time_zone="Asia/Tokyo"))
        yield mock


@pytest.fixture
def sheet(google: responses.RequestsMock) -> FakeSheet:
    return FakeSheet(
        google,
        rows=[
            response_row(TOYAMA, at=datetime(2026, 11, 19, 21, 3, 11)),
            response_row(
                YOKOHAMA,
                name="佐藤 花子",
                organization="横浜市",
                overrides={"勤務地の都道府県": "神奈川県", "所属部署": "0901234"},
            ),
            response_row(
                MLIT,
                name="鈴木 拓也",
                organization="国土交通省",
                overrides={
                    "国家公務員・地方公務員の別": "国家公務員",
                    "勤務地の都道府県": "東京都",
                },
            ),
        ],
    )


@pytest.fixture
def form(runtime: Runtime, service_account_info: dict[str, str]) -> Runtime:
    """The test runtime, polling the fake Google sheet through the real Sheets adapter."""
    runtime.form_source = google_fakes.sheets_source(service_account_info, max_attempts=3)
    runtime.now = lambda: NOW
    return runtime


def applications(rt: Runtime) -> list[Application]:
    with rt.db.transaction() as session:
        return list(session.scalars(select(Application).order_by(Application.id)))


def by_email(rt: Runtime, email: str) -> Application:
    [app] = [a for a in applications(rt) if a.email == email]
    return app


def history(rt: Runtime, app_id: int) -> list[AuditEntry]:
    with rt.db.transaction() as session:
        query = select(AuditEntry).where(AuditEntry.application_id == app_id)
        return list(session.scalars(query.order_by(AuditEntry.id)))


def snapshot_of_tables(rt: Runtime) -> dict[str, int]:
    with rt.db.transaction() as session:
        return row_counts(session)


# -- new, edited, unchanged ---------------------------------------------------------------------
def test_new_responses_become_applications(form: Runtime, sheet: FakeSheet) -> None:
    counts = sync_forms(form)
    assert (counts.new, counts.updated, counts.unchanged, counts.quarantined) == (3, 0, 0, 0)
    toyama, yokohama, mlit = applications(form)
    assert [toyama.email, yokohama.email, mlit.email] == [TOYAMA, YOKOHAMA, MLIT]
    assert {a.status for a in (toyama, yokohama, mlit)} == {"submitted"}
    # 21:03:11 in the sheet's zone (Asia/Tokyo) is 12:03:11 UTC.
    assert toyama.submitted_at.replace(tzinfo=UTC) == datetime(2026, 11, 19, 12, 3, 11, tzinfo=UTC)
    assert toyama.interests == ["ライティング課", "図解・グラレコ課"]
    assert yokohama.department == "0901234"  # text stays text: no numericising
    assert toyama.answers[ORG] == "富山市" and toyama.verdict == "verified"
    assert [e.action for e in history(form, toyama.id)] == ["submitted"]
    assert history(form, toyama.id)[0].detail == {"source": "sheet"}
    assert sheet.values_requests == 1


def test_edited_response_updates_application_in_place(form: Runtime, sheet: FakeSheet) -> None:
    sync_forms(form)
    before = by_email(form, TOYAMA)
    assert before.verdict == "verified"
    # Forms rewrites the edited response in place with a new timestamp.
    sheet.rows[0] = response_row(
        TOYAMA, at=datetime(2026, 11, 20, 11, 0), organization="存在しない村"
    )
    later = datetime(2026, 11, 20, 3, 5, tzinfo=UTC)
    form.now = lambda: later

    counts = sync_forms(form)

    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 2)
    after = by_email(form, TOYAMA)
    assert after.id == before.id and after.code == before.code
    assert len(applications(form)) == 3
    assert after.organization_text == "存在しない村" and after.answers[ORG] == "存在しない村"
    assert after.submitted_at.replace(tzinfo=UTC) == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert after.verdict == "needs_review"  # verification re-ran on the new answers
    assert "org_unresolved" in {r["code"] for r in after.reasons}
    assert after.verified_at is not None and after.verified_at.replace(tzinfo=UTC) == later
    *_, edit = history(form, after.id)
    assert edit.action == "answers_updated" and edit.actor == "forms"
    assert edit.detail["source"] == "sheet"
    assert edit.detail["changed"][ORG] == {"before": "富山市", "after": "存在しない村"}
    assert set(edit.detail["changed"]) == {ORG, "タイムスタンプ"}


def test_unchanged_poll_writes_nothing(form: Runtime, sheet: FakeSheet) -> None:
    sync_forms(form)
    with counting_writes(form.db.engine) as writes:
        counts = sync_forms(form)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 3)
    assert writes == []
    assert sheet.values_requests == 2  # exactly one read per poll


def test_resubmitted_identical_answers_with_a_new_timestamp_write_nothing(
    form: Runtime, sheet: FakeSheet
) -> None:
    sync_forms(form)
    sheet.rows[0] = response_row(TOYAMA, at=datetime(2026, 11, 20, 10, 0))
    with counting_writes(form.db.engine) as writes:
        counts = sync_forms(form)
    assert counts.unchanged == 3 and writes == []


def test_reordered_rows_and_columns_neither_duplicate_nor_change_applications(
    form: Runtime, sheet: FakeSheet
) -> None:
    sync_forms(form)
    codes = {a.email: a.code for a in applications(form)}
    sheet.rows.reverse()
    order = list(reversed(range(len(HEADER))))
    sheet.header = [HEADER[i] for i in order]
    sheet.rows = [[row[i] for i in order] for row in sheet.rows]
    with counting_writes(form.db.engine) as writes:
        counts = sync_forms(form)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 3)
    assert writes == []
    assert {a.email: a.code for a in applications(form)} == codes


def test_deleted_rows_never_delete_applications(form: Runtime, sheet: FakeSheet) -> None:
    sync_forms(form)
    del sheet.rows[1]
    with counting_writes(form.db.engine) as writes:
        counts = sync_forms(form)
    assert (counts.new, counts.unchanged) == (0, 2)
    assert writes == []
    assert [a.email for a in applications(form)] == [TOYAMA, YOKOHAMA, MLIT]
    assert by_email(form, YOKOHAMA).status == "submitted"


def test_row_restored_after_deletion_is_still_the_same_application(
    form: Runtime, sheet: FakeSheet
) -> None:
    sync_forms(form)
    removed = sheet.rows.pop(0)
    sync_forms(form)
    sheet.rows.append(removed)
    assert sync_forms(form).unchanged == 3
    assert len(applications(form)) == 3


def test_closed_application_with_changed_answers_becomes_a_new_application(
    form: Runtime, sheet: FakeSheet
) -> None:
    sync_forms(form)
    with form.db.transaction() as session:
        app = session.scalars(select(Application).where(Application.email == TOYAMA)).one()
        app.status = "rejected"
    sync_forms(form)  # unchanged answers: the rejection stands
    assert len(applications(form)) == 3
    sheet.rows[0] = response_row(TOYAMA, at=datetime(2026, 12, 1, 9, 0), organization="富山県")
    assert sync_forms(form).new == 1
    old, new = [a for a in applications(form) if a.email == TOYAMA]
    assert (old.status, new.status) == ("rejected", "submitted")


# -- columns ----------------------------------------------------------------------------------
def alerts(rt: Runtime) -> list[Alert]:
    with rt.db.transaction() as session:
        return list(session.scalars(select(Alert).where(Alert.kind == "form_columns")))


def test_unmapped_question_is_kept_in_answers_and_reported_once(
    form: Runtime, sheet: FakeSheet
) -> None:
    sheet.rows[0][HEADER.index(NOTE)] = "よろしくお願いします"
    counts = sync_forms(form)
    assert counts.warnings == [f"question {NOTE!r} is not mapped (kept in extra)"]
    assert by_email(form, TOYAMA).answers[NOTE] == "よろしくお願いします"
    [alert] = alerts(form)
    assert NOTE in alert.message and alert.resolved_at is None
    with counting_writes(form.db.engine) as writes:
        sync_forms(form)
    assert writes == []  # the second poll does not re-alert
    assert len(alerts(form)) == 1


def test_renamed_mapped_question_keeps_the_answer_and_is_reported_once(
    form: Runtime, sheet: FakeSheet
) -> None:
    sync_forms(form)
    sheet.header[HEADER.index("所属部署")] = "所属部署・課"
    counts = sync_forms(form)
    assert counts.updated == 3  # the answer moved from a field to an unmapped question
    assert "mapped question '所属部署' is not in the sheet" in counts.warnings
    assert "question '所属部署・課' is not mapped (kept in extra)" in counts.warnings
    app = by_email(form, TOYAMA)
    assert app.answers["所属部署・課"] == "企画管理部企画調整課"
    open_alerts = [a for a in alerts(form) if a.resolved_at is None]
    assert len(open_alerts) == 1 and "所属部署・課" in open_alerts[0].message
    with counting_writes(form.db.engine) as writes:
        again = sync_forms(form)
    assert again.unchanged == 3 and writes == []
    assert len([a for a in alerts(form) if a.resolved_at is None]) == 1


def test_added_question_updates_only_those_who_answered_it(form: Runtime, sheet: FakeSheet) -> None:
    sync_forms(form)
    sheet.header.append("好きな課のイベント")
    sheet.rows[0].append("勉強会")
    counts = sync_forms(form)
    assert (counts.updated, counts.unchanged) == (1, 2)
    assert by_email(form, TOYAMA).answers["好きな課のイベント"] == "勉強会"
    assert "question '好きな課のイベント' is not mapped (kept in extra)" in counts.warnings
    with form.db.transaction() as session:
        flag = session.get(SystemFlag, UNMAPPED_FLAG)
        assert flag is not None and len(flag.value["problems"]) == 2
    with counting_writes(form.db.engine) as writes:
        sync_forms(form)
    assert writes == []


def test_duplicate_headers_are_kept_and_reported_once(form: Runtime, sheet: FakeSheet) -> None:
    sheet.header.append("氏名")
    for row in sheet.rows:
        row.append("別の名前")
    counts = sync_forms(form)
    assert counts.new == 3
    assert "question '氏名' appears more than once" in counts.warnings
    app = by_email(form, TOYAMA)
    assert app.full_name == "屋敷 昌範"  # the first non-empty column wins
    assert app.answers["氏名 (2)"] == "別の名前"
    assert len(alerts(form)) == 1
    with counting_writes(form.db.engine) as writes:
        sync_forms(form)
    assert writes == [] and len(alerts(form)) == 1


def test_missing_email_column_fails_the_sync_and_writes_nothing(
    form: Runtime, sheet: FakeSheet
) -> None:
    sheet.header[HEADER.index("メールアドレス")] = "連絡先"
    before = snapshot_of_tables(form)
    with pytest.raises(Exception, match="required field 'email' has no column"):
        sync_forms(form)
    assert snapshot_of_tables(form) == before


# -- bad rows ---------------------------------------------------------------------------------
def quarantined(rt: Runtime) -> list[QuarantinedRow]:
    with rt.db.transaction() as session:
        return list(session.scalars(select(QuarantinedRow).order_by(QuarantinedRow.id)))


def bad_rows() -> list[list[Any]]:
    empty = [""] * len(HEADER)
    no_email = response_row("", name="メール 無し")
    bad_time = response_row("late@example.jp")
    bad_time[0] = "昨日の夜"
    twin_a = response_row("twin@example.jp", name="双子 一郎")
    twin_b = response_row("twin@example.jp", name="双子 二郎")
    return [empty, no_email, bad_time, twin_a, twin_b]


def test_bad_rows_are_quarantined_with_their_reason_and_listed(
    form: Runtime, sheet: FakeSheet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    formula = response_row("formula@example.jp", name='=HYPERLINK("http://x")')
    sheet.rows[1:1] = [*bad_rows(), formula]
    counts = sync_forms(form)
    assert (counts.new, counts.quarantined) == (4, 5)
    rows = quarantined(form)
    assert [(r.row_number, r.reason_code) for r in rows] == [
        (3, "empty_row"),
        (4, "missing_email"),
        (5, "bad_timestamp"),
        (6, "duplicate_email_rows"),
        (7, "duplicate_email_rows"),
    ]
    assert rows[1].raw["氏名"] == "メール 無し"  # the raw values are kept
    assert rows[2].raw["タイムスタンプ"] == "昨日の夜"
    assert by_email(form, "formula@example.jp").full_name == '=HYPERLINK("http://x")'

    config = write_config(tmp_path, form)
    assert main(["--config", str(config), "forms", "quarantine", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["reason_code"] for r in listed] == [r.reason_code for r in rows]
    assert listed[1]["raw"]["氏名"] == "メール 無し"

    with counting_writes(form.db.engine) as writes:
        assert sync_forms(form).quarantined == 5
    assert writes == []  # the same bad rows are not quarantined twice
    assert len(quarantined(form)) == 5


def test_fixed_bad_rows_resolve_and_reappearing_ones_reopen(
    form: Runtime, sheet: FakeSheet
) -> None:
    no_email = response_row("", name="メール 無し")
    sheet.rows.append(no_email)
    sync_forms(form)
    sheet.rows.pop()
    sync_forms(form)
    [row] = quarantined(form)
    assert row.resolved_at is not None
    sheet.rows.append(no_email)  # someone restores the row
    assert sync_forms(form).quarantined == 1
    [row] = quarantined(form)
    assert row.resolved_at is None


# -- answers the database would refuse ---------------------------------------------------------
LONG_NAME = "寿限無" * 67  # 201 characters: one more than applications.full_name holds


def unstorable_rows() -> list[list[Any]]:
    return [
        response_row("long@example.jp", name=LONG_NAME),
        response_row("nul@example.jp", overrides={"所属部署": "企画課\x00"}),
        response_row("surrogate@example.jp", overrides={NOTE: "よろしく\ud83d"}),
        response_row("pref@example.jp", overrides={"勤務地の都道府県": "富山県富山市新桜町"}),
        response_row("x" * 250 + "@example.jp"),
    ]


def test_answers_the_database_would_refuse_are_quarantined_and_the_rest_go_in(
    form: Runtime, sheet: FakeSheet, caplog: pytest.LogCaptureFixture
) -> None:
    exactly = response_row("exact@example.jp", name="名" * 200)  # at the limit: stored
    sheet.rows[1:1] = [*unstorable_rows(), exactly]
    counts = sync_forms(form)
    assert (counts.new, counts.quarantined) == (4, 5)
    assert by_email(form, "exact@example.jp").full_name == "名" * 200
    rows = quarantined(form)
    assert [(r.row_number, r.reason_code) for r in rows] == [
        (3, "answer_too_long"),
        (4, "unstorable_character"),
        (5, "unstorable_character"),
        (6, "answer_too_long"),
        (7, "answer_too_long"),
    ]
    assert rows[0].reason == (
        "row 3: the answer to '氏名' is 201 characters; at most 200 can be stored"
    )
    assert rows[0].raw["氏名"] == LONG_NAME  # kept in full, for a person to fix
    assert rows[1].raw["所属部署"] == "企画課\u2400"  # NUL shown as ␀
    assert rows[2].raw[NOTE] == "よろしく\ufffd"
    assert LONG_NAME not in caplog.text and "企画課" not in caplog.text
    with form.db.transaction() as session:  # every good row got its confirmation
        emails = session.scalars(
            select(OutboundMessage.recipient).where(OutboundMessage.purpose == "confirmation")
        ).all()
    assert sorted(emails) == sorted([TOYAMA, YOKOHAMA, MLIT, "exact@example.jp"])

    with counting_writes(form.db.engine) as writes:
        assert sync_forms(form).quarantined == 5
    assert writes == []


@pytest.fixture
def refusing_database(form: Runtime) -> Iterator[None]:
    """A database that refuses any application named 拒否 太郎, as no check here foresaw."""
    engine = form.db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON applications "
                "WHEN NEW.full_name = '拒否 太郎' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_edit BEFORE UPDATE ON applications "
                "WHEN NEW.full_name = '拒否 太郎' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "ALTER TABLE applications ADD CONSTRAINT refuse CHECK (full_name <> '拒否 太郎')"
            )
    yield
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER refuse")
            conn.exec_driver_sql("DROP TRIGGER refuse_edit")
        else:
            conn.exec_driver_sql("ALTER TABLE applications DROP CONSTRAINT refuse")


def test_a_row_refused_for_an_unforeseen_reason_is_set_aside_and_the_rest_go_in(
    form: Runtime, sheet: FakeSheet, refusing_database: None, caplog: pytest.LogCaptureFixture
) -> None:
    sheet.rows.insert(1, response_row("refused@example.jp", name="拒否 太郎"))
    counts = sync_forms(form)
    assert (counts.new, counts.quarantined) == (3, 1)
    assert sorted(a.email for a in applications(form)) == sorted([TOYAMA, YOKOHAMA, MLIT])
    [row] = quarantined(form)
    assert (row.row_number, row.reason_code) == (3, "database_refused")
    assert row.reason.startswith("row 3: the database refused it (")
    assert "Integrity" in row.reason or "CheckViolation" in row.reason
    assert "拒否" not in caplog.text

    sheet.rows[0] = response_row(TOYAMA, name="拒否 太郎")  # an edit the database refuses
    counts = sync_forms(form)
    assert (counts.new, counts.updated, counts.quarantined) == (0, 0, 2)
    assert by_email(form, TOYAMA).full_name == "屋敷 昌範"  # the application is untouched
    assert [q.row_number for q in quarantined(form)] == [3, 2]


def test_a_lost_connection_still_fails_the_whole_poll(form: Runtime, sheet: FakeSheet) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.onboarding import intake

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    original = intake.insert_new_rows
    intake.insert_new_rows = lost  # type: ignore[assignment]
    try:
        with pytest.raises(OperationalError):
            sync_forms(form)
    finally:
        intake.insert_new_rows = original
    assert applications(form) == [] and quarantined(form) == []


# -- Google failing ---------------------------------------------------------------------------
def test_429_storm_then_success_takes_everything_in(
    form: Runtime, google: responses.RequestsMock
) -> None:
    for _ in range(2):
        google.get(VALUES_URL, status=429, json=google_error(429, "Quota", "RESOURCE_EXHAUSTED"))
    FakeSheet(google, rows=[response_row(TOYAMA), response_row(MLIT)])
    assert sync_forms(form).new == 2
    assert len(calls_to(google, VALUES_URL)) == 3


def test_429_forever_fails_clearly_and_writes_nothing(
    form: Runtime, google: responses.RequestsMock
) -> None:
    google.get(VALUES_URL, status=429, json=google_error(429, "Quota", "RESOURCE_EXHAUSTED"))
    before = snapshot_of_tables(form)
    with counting_writes(form.db.engine) as writes:
        with pytest.raises(FormSourceError, match=r"values\.get failed 3 times, last: HTTP 429"):
            sync_forms(form)
    assert writes == [] and snapshot_of_tables(form) == before
    assert len(calls_to(google, VALUES_URL)) == 3  # bounded


def test_timeouts_are_retried_then_the_poll_succeeds(
    form: Runtime, google: responses.RequestsMock
) -> None:
    google.get(VALUES_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    FakeSheet(google, rows=[response_row(TOYAMA)])
    assert sync_forms(form).new == 1


def test_timeouts_forever_fail_clearly_and_write_nothing(
    form: Runtime, google: responses.RequestsMock
) -> None:
    google.get(VALUES_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    with counting_writes(form.db.engine) as writes:
        with pytest.raises(FormSourceError, match="failed 3 times, last: ConnectTimeout"):
            sync_forms(form)
    assert writes == []


def test_a_garbled_answer_then_a_good_one_takes_everything_in_once(
    form: Runtime, google: responses.RequestsMock
) -> None:
    google.get(VALUES_URL, body='{"values": [["タイムスタンプ", "メールアドレス"], [46346.5, "m.ya')
    sheet = FakeSheet(google, rows=[response_row(TOYAMA), response_row(MLIT)])
    assert sync_forms(form).new == 2
    assert len(calls_to(google, VALUES_URL)) == 2
    assert sorted(a.email for a in applications(form)) == sorted([TOYAMA, MLIT])
    # the next poll answers garbled again, then well: nothing is duplicated
    google.replace(responses.GET, VALUES_URL, body='{"values": [[')
    FakeSheet(google, rows=sheet.rows)  # and the same sheet right after
    counts = sync_forms(form)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 2)
    assert len(applications(form)) == 2


def test_garbled_answers_forever_fail_clearly_write_nothing_and_lose_nothing(
    form: Runtime, google: responses.RequestsMock
) -> None:
    google.get(VALUES_URL, body="<html>taro@example.jp", content_type="application/json")
    before = snapshot_of_tables(form)
    with counting_writes(form.db.engine) as writes:
        with pytest.raises(
            FormSourceError,
            match=r"^Google Sheets returned an unreadable answer to values\.get: HTTP 200, not "
            r"valid JSON \(cut short or garbled\); 3 attempts, giving up until the next poll$",
        ):
            sync_forms(form)
    assert writes == [] and snapshot_of_tables(form) == before
    assert len(calls_to(google, VALUES_URL)) == 3  # bounded
    # the next poll reads the sheet well and takes every row in, once
    google.remove(responses.GET, VALUES_URL)
    FakeSheet(google, rows=[response_row(TOYAMA), response_row(YOKOHAMA)])
    assert sync_forms(form).new == 2
    assert sync_forms(form).unchanged == 2
    assert sorted(a.email for a in applications(form)) == sorted([TOYAMA, YOKOHAMA])


def test_the_sync_job_failing_on_a_garbled_answer_names_google_sheets(
    form: Runtime, google: responses.RequestsMock
) -> None:
    from jobs.registry import find
    from jobs.runner import run_job

    google.get(VALUES_URL, body='{"values": [[', content_type="application/json")
    result = run_job(form, find("sync-forms"))
    assert result.outcome == "error"
    assert result.detail.startswith(
        "Google Sheets: FormSourceError: Google Sheets returned an unreadable answer to values.get"
    )
    for where in ("models.py", "decoder.py", "JSONDecodeError", "\n"):
        assert where not in result.detail
    with form.db.transaction() as session:
        (alert,) = session.scalars(select(Alert).where(Alert.kind == "job_failed")).all()
    assert alert.message == f"定期ジョブ「sync-forms」が失敗しました: {result.detail}"


# -- dry run, emails, CLI ---------------------------------------------------------------------
def test_dry_run_reports_the_counts_and_writes_nothing(form: Runtime, sheet: FakeSheet) -> None:
    before = snapshot_of_tables(form)
    counts = sync_forms(form, dry_run=True)
    assert (counts.new, counts.quarantined) == (3, 0)
    assert snapshot_of_tables(form) == before
    assert sync_forms(form).new == 3  # the real run still sees everything as new


def test_confirmation_email_is_queued_once_per_application(form: Runtime, sheet: FakeSheet) -> None:
    sync_forms(form)
    sheet.rows[1] = response_row(YOKOHAMA, name="佐藤 花子", organization="横浜市鶴見区")
    sync_forms(form)  # an edit re-runs verification, which must not queue a second email
    sync_forms(form)
    with form.db.transaction() as session:
        keys = list(
            session.scalars(
                select(OutboundMessage.idempotency_key).where(
                    OutboundMessage.purpose == "confirmation"
                )
            )
        )
        total = session.scalar(select(func.count()).select_from(OutboundMessage))
    codes = sorted(f"confirmation:{a.code}" for a in applications(form))
    assert sorted(keys) == codes
    assert total == len(codes) + len(alerts(form))  # nothing else but column alerts


def write_config(tmp_path: Path, rt: Runtime, csv_path: Path | None = None) -> Path:
    """A config file for the CLI on this test's database (and a CSV source when given)."""
    url = rt.db.engine.url.render_as_string(hide_password=False)
    lines = [
        "[app]",
        f"database_url = {json.dumps(url)}",
        'secret_key = "test-secret"',
        "[forms]",
        'source = "csv"',
        f"csv_path = {json.dumps(str(csv_path or tmp_path / 'none.csv'))}",
        "[mail]",
        'transport = "outbox"',
        "[messenger]",
        'transport = "outbox"',
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sync_forms_command_prints_the_counts(
    runtime: Runtime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the local outbox writes under ./var
    csv_file = tmp_path / "responses.csv"
    csv_file.write_text(
        ",".join(HEADER[:3])
        + "\n2026/11/20 21:03:11,m.yashiki@city.toyama.lg.jp,屋敷 昌範\n"
        + "2026/11/20 22:00:00,,名無し\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, runtime, csv_file)

    assert main(["--config", str(config), "sync-forms", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "dry run (nothing written): new=1 updated=0 unchanged=0 quarantined=1"
    assert applications(runtime) == []

    assert main(["--config", str(config), "sync-forms"]) == 0
    assert capsys.readouterr().out.strip() == "new=1 updated=0 unchanged=0 quarantined=1"
    assert main(["--config", str(config), "sync-forms"]) == 0
    assert capsys.readouterr().out.strip() == "new=0 updated=0 unchanged=1 quarantined=1"
    assert [a.email for a in applications(runtime)] == [TOYAMA]


def test_timestamps_use_the_sheet_time_zone(form: Runtime, google: responses.RequestsMock) -> None:
    google.replace(responses.GET, META_URL, json=metadata(time_zone="Europe/London"))
    FakeSheet(google, rows=[response_row(TOYAMA, at=datetime(2026, 11, 20, 21, 3, 11))])
    sync_forms(form)
    app = by_email(form, TOYAMA)
    assert app.submitted_at.replace(tzinfo=UTC) == datetime(2026, 11, 20, 21, 3, 11, tzinfo=UTC)
    assert serial(datetime(2026, 11, 20)) == 46346
