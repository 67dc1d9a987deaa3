"""secretariat-digest: one daily email with the queue, failures and alerts; none without address."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.models import (
    Alert,
    Application,
    InboundEvent,
    JoinRequest,
    OutboundMessage,
    QuarantinedRow,
)
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job

JST = ZoneInfo("Asia/Tokyo")
MORNING = datetime(2026, 11, 20, 8, 0, tzinfo=JST)


def run_at(runtime: Runtime, at: datetime) -> str:
    runtime.now = lambda: at
    result = run_job(runtime, find("secretariat-digest"))
    assert result.outcome == "ok", result.detail
    return result.detail


def digests(runtime: Runtime) -> list[OutboundMessage]:
    with runtime.db.transaction() as session:
        return list(
            session.scalars(
                select(OutboundMessage).where(OutboundMessage.purpose == "secretariat_digest")
            )
        )


def seed(runtime: Runtime) -> None:
    rows = [
        ("P1", "ready_for_review", "verified", 2),
        ("P2", "awaiting_join_request", "verified", 5),
        ("P3", "submitted", "needs_review", 9),
        ("P4", "approved", "verified", 20),  # decided: not pending
        ("P5", "rejected", "ineligible", 30),
    ]
    with runtime.db.transaction() as session:
        for code, status, verdict, days in rows:
            session.add(
                Application(
                    code=code,
                    link_token=f"tok-{code}",
                    email=f"{code}@example.jp",
                    full_name="秘密 の名前",
                    status=status,
                    verdict=verdict,
                    submitted_at=MORNING - timedelta(days=days, hours=1),
                )
            )
        session.add(
            OutboundMessage(
                idempotency_key="x1", channel="email", recipient="a@b", status="dead", payload={}
            )
        )
        session.add(
            OutboundMessage(
                idempotency_key="x2", channel="email", recipient="a@b", status="sent", payload={}
            )
        )
        session.add(JoinRequest(name="田中 一郎", answer="??", status="unmatched"))
        for key, status in (("e1", "invalid"), ("e2", "dead"), ("e3", "done"), ("e4", "dismissed")):
            session.add(InboundEvent(source="messenger", event_key=key, status=status, payload={}))
        for fp, resolved in (("q1", None), ("q2", MORNING)):
            session.add(
                QuarantinedRow(
                    source="sheet",
                    fingerprint=fp,
                    raw={"氏名": "秘密"},
                    reason_code="no_email",
                    reason="no email",
                    resolved_at=resolved,
                )
            )
        session.add(JoinRequest(name="鈴木 次郎", answer="P1", status="matched"))
        session.add(
            Alert(
                kind="group_capacity",
                key="1",
                message="グループ「富山県」が定員に近づいています",
                created_at=MORNING - timedelta(days=1),
            )
        )
        session.add(
            Alert(kind="old", key="x", message="解決済み", created_at=MORNING, resolved_at=MORNING)
        )


def test_daily_digest_counts_pending_by_verdict_failures_requests_and_alerts(
    runtime: Runtime,
) -> None:
    seed(runtime)
    detail = run_at(runtime, MORNING)
    assert detail == ("pending 3, dead 1, unmatched 1, inbound problems 2, quarantined 1, alerts 1")
    (mail,) = digests(runtime)
    assert mail.recipient == "jimukyoku@example.jp"
    assert mail.idempotency_key == "digest:2026-11-20"
    assert mail.payload["subject"] == "[cityhall] 事務局ダイジェスト 2026年11月20日"
    body = mail.payload["body"]
    assert "承認待ちの申し込み: 3件" in body
    assert "確認済み（verified）: 2件" in body
    assert "要確認（needs_review）: 1件" in body
    assert "対象外の可能性（ineligible）: 0件" in body
    assert "審査待ち）: 1件" in body
    assert "最も古い申し込み: 9日前" in body
    assert "（dead）: 1件" in body
    assert "参加リクエスト: 1件" in body
    assert "処理できなかった受信（読めない内容・失敗）: 2件" in body
    assert "取り込めなかったフォーム回答（保留行）: 1件" in body
    assert "グループ「富山県」が定員に近づいています" in body and "解決済み" not in body
    assert "秘密" not in body and "田中" not in body  # counts only, no personal data
    assert "/console/" in body


def test_digest_goes_once_a_day(runtime: Runtime) -> None:
    run_at(runtime, MORNING)
    run_at(runtime, MORNING + timedelta(hours=3))
    assert len(digests(runtime)) == 1
    run_at(runtime, MORNING + timedelta(days=1))
    assert [d.idempotency_key for d in digests(runtime)] == [
        "digest:2026-11-20",
        "digest:2026-11-21",
    ]


def test_empty_queue_digest_has_no_oldest_line(runtime: Runtime) -> None:
    run_at(runtime, MORNING)
    (mail,) = digests(runtime)
    assert "承認待ちの申し込み: 0件" in mail.payload["body"]
    assert "最も古い" not in mail.payload["body"]


def test_without_a_secretariat_address_the_digest_is_skipped_with_a_log_line(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    s = runtime.settings
    runtime.settings = s.replace(mail=dataclasses.replace(s.mail, secretariat_address=""))
    with caplog.at_level(logging.INFO, logger="jobs"):
        detail = run_at(runtime, MORNING)
    assert detail.startswith("skipped")
    assert digests(runtime) == []
    assert "secretariat digest skipped" in caplog.text
