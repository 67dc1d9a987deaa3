"""Writes at the database boundary, on SQLite and PostgreSQL: JSON and UTC date-time columns,
and bulk rows (COPY on PostgreSQL) that must store exactly what an ordinary INSERT stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select, text

from bot.db import Database, insert_new_rows
from bot.models import Application, AuditEntry, OutboundMessage

AUDIT_LOG = cast(Table, AuditEntry.__table__)
APPLICATIONS = cast(Table, Application.__table__)
OUTBOX = cast(Table, OutboundMessage.__table__)
JST = timezone(timedelta(hours=9))


def _entry(at: datetime, detail: Any) -> dict[str, Any]:
    return {"actor": "test", "at": at, "action": "probe", "reason": "", "detail": detail}


def test_json_columns_keep_japanese_text_as_characters(database: Database) -> None:
    detail = {"氏名": "山田 太郎", "件": 3, "空": None, "並び": ["課", "係"]}
    with database.transaction() as session:
        session.execute(insert(AUDIT_LOG), [_entry(datetime.now(UTC), detail)])
    with database.transaction() as session:
        stored = session.execute(text("SELECT CAST(detail AS TEXT) FROM audit_log")).scalar_one()
        loaded = session.execute(select(AUDIT_LOG.c.detail)).scalar_one()
    assert "山田 太郎" in stored and "\\u" not in stored
    assert loaded == detail


def test_json_columns_turn_integer_keys_into_strings_like_the_json_module(
    database: Database,
) -> None:
    with database.transaction() as session:
        session.execute(insert(AUDIT_LOG), [_entry(datetime.now(UTC), {1: "a", 2: "b"})])
    with database.transaction() as session:
        assert session.execute(select(AUDIT_LOG.c.detail)).scalar_one() == {"1": "a", "2": "b"}


def test_json_columns_store_integers_beyond_64_bits(database: Database) -> None:
    detail = {"id": 2**70, "nested": [-(2**80), 1]}
    with database.transaction() as session:
        session.execute(insert(AUDIT_LOG), [_entry(datetime.now(UTC), detail)])
    with database.transaction() as session:
        assert session.execute(select(AUDIT_LOG.c.detail)).scalar_one() == detail


def test_bulk_insert_keeps_each_rows_own_instant_when_one_repeats(database: Database) -> None:
    """The bind processor remembers the last instant it converted; alternating values and an
    equal-but-distinct datetime in another zone must each be stored as themselves."""
    now = datetime(2026, 11, 21, 3, 0, 0, 123456, tzinfo=UTC)
    other = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=JST)  # the same instant, in JST
    later = now + timedelta(seconds=1)
    instants = [now, now, later, now, other, later, later, now]
    with database.transaction() as session:
        session.execute(insert(AUDIT_LOG), [_entry(at, {"i": i}) for i, at in enumerate(instants)])
    with database.transaction() as session:
        stored = session.execute(select(AUDIT_LOG.c.at).order_by(AUDIT_LOG.c.id)).scalars().all()
    assert stored == [at.astimezone(UTC) for at in instants]
    assert all(at.tzinfo is not None for at in stored)


def test_naive_datetime_is_refused_even_after_an_aware_one(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), database.transaction() as session:
        session.execute(
            insert(AUDIT_LOG),
            [_entry(datetime.now(UTC), {}), _entry(datetime(2026, 11, 21, 12, 0), {})],
        )
    with database.transaction() as session:
        assert session.execute(select(AUDIT_LOG.c.id)).first() is None


def _application(code: str, at: datetime) -> dict[str, Any]:
    """A new application's columns as the intake gives them (the rest left to defaults)."""
    return {
        "code": code,
        "link_token": f"token-{code}",
        "status": "submitted",
        "status_changed_at": at,
        "email": f"{code.lower()}@city.example.lg.jp",
        "full_name": "山田 太郎\t（タブ入り）",
        "answers": {"氏名": "山田 太郎", "メモ": "改行\nと\\バックスラッシュ", "式": "=1+2"},
        "interests": ["ライティング課", "法規課"],
        "reasons": [{"code": "org_resolved", "message": "自治体を確認しました"}],
        "submitted_at": at,
        "created_at": at,
        "updated_at": at,
        "verified_at": None,
    }


def _stored(database: Database, table: Table, codes: list[str]) -> list[dict[str, Any]]:
    key = table.c.code if "code" in table.c else table.c.idempotency_key
    with database.transaction() as session:
        rows = session.execute(select(table).where(key.in_(codes)).order_by(key)).mappings()
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def _differs(row: dict[str, Any]) -> dict[str, Any]:
    """The columns that legitimately differ between the two rows of the comparison."""
    return {k: row[k] for k in ("code", "link_token", "email")}


def test_bulk_rows_store_exactly_what_an_insert_stores(database: Database) -> None:
    at = datetime(2026, 11, 21, 13, 30, 5, 250000, tzinfo=JST)
    with database.transaction() as session:
        session.execute(insert(APPLICATIONS), [_application("OC-AAAA01", at)])
        insert_new_rows(session, APPLICATIONS, [_application("OC-BBBB01", at)])
    by_insert, by_bulk = _stored(database, APPLICATIONS, ["OC-AAAA01", "OC-BBBB01"])
    assert by_bulk == {**by_insert, **_differs(by_bulk)}
    assert by_bulk["join_request_reminders"] == 0 and by_bulk["approved_by"] == ""
    assert by_bulk["verdict"] == "needs_review" and by_bulk["reason_shared"] is False
    assert by_bulk["full_name"] == "山田 太郎\t（タブ入り）"
    assert by_bulk["answers"]["メモ"] == "改行\nと\\バックスラッシュ"
    assert by_bulk["submitted_at"] == at and by_bulk["verified_at"] is None


def test_bulk_rows_fill_callable_defaults_such_as_created_at(database: Database) -> None:
    row = {"idempotency_key": "bulk:1", "channel": "email", "recipient": "a@example.jp"}
    before = datetime.now(UTC)
    with database.transaction() as session:
        insert_new_rows(session, OUTBOX, [{**row, "payload": {"subject": "件名", "body": "本文"}}])
    (stored,) = _stored(database, OUTBOX, ["bulk:1"])
    assert stored["status"] == "pending" and stored["attempts"] == 0
    assert stored["created_at"] >= before - timedelta(seconds=1)
    assert stored["payload"] == {"subject": "件名", "body": "本文"}


def test_bulk_rows_roll_back_with_their_transaction(database: Database) -> None:
    at = datetime.now(UTC)
    with pytest.raises(RuntimeError), database.transaction() as session:
        insert_new_rows(session, APPLICATIONS, [_application("OC-CCCC01", at)])
        raise RuntimeError("the sync failed after the rows were written")
    assert _stored(database, APPLICATIONS, ["OC-CCCC01"]) == []


def test_bulk_rows_that_break_a_unique_key_fail_loudly(database: Database) -> None:
    at = datetime.now(UTC)
    with database.transaction() as session:
        insert_new_rows(session, APPLICATIONS, [_application("OC-DDDD01", at)])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), database.transaction() as s:
        insert_new_rows(s, APPLICATIONS, [_application("OC-DDDD01", at)])
    assert len(_stored(database, APPLICATIONS, ["OC-DDDD01"])) == 1
