"""Admin pages: groups, outbox, inbox, quarantine, audit log and export, users, templates."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.messaging import outbox
from bot.messaging.worker import Worker
from bot.models import (
    Application,
    AuditEntry,
    Group,
    InboundEvent,
    OutboundMessage,
    QuarantinedRow,
    RejectionTemplate,
    SecretariatUser,
)
from bot.onboarding import lifecycle
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    console_app,
    login,
    make_application,
    post,
)

GROUP = {
    "kind": "prefecture",
    "key": "富山県",
    "name": "富山県の部屋",
    "invite_url": "https://m.me/j/abc",
    "capacity": "250",
    "seats_used": "0",
    "active": "1",
}


def test_admin_creates_and_edits_a_group_audited(runtime: Runtime, admin: FlaskClient) -> None:
    assert post(admin, "/console/groups", GROUP).status_code == 302
    with runtime.db.transaction() as db:
        group = db.scalars(select(Group)).one()
        group_id = group.id
    post(admin, f"/console/groups/{group_id}", {**GROUP, "seats_used": "240"})
    with runtime.db.transaction() as db:
        assert db.get(Group, group_id).seats_used == 240  # type: ignore[union-attr]
        actions = db.scalars(select(AuditEntry.action)).all()
        assert "group_created" in actions and "group_updated" in actions
    html = admin.get("/console/groups").get_data(as_text=True)
    assert "満員に近づいています" in html  # 240/250 ≥ 90 %
    assert "有効なグループがない都道府県（46）" in html
    assert "村グループが登録されていません" in html


@pytest.mark.parametrize(
    "change",
    [
        {"invite_url": "http://m.me/j/abc"},
        {"invite_url": "javascript:alert(1)"},
        {"capacity": "251"},
        {"capacity": "abc"},
        {"kind": "castle"},
        {"key": "トヤマ"},
        {"name": ""},
    ],
)
def test_group_form_refuses_bad_values(
    runtime: Runtime, admin: FlaskClient, change: dict[str, str]
) -> None:
    response = post(admin, "/console/groups", {**GROUP, **change})
    assert response.status_code == 400
    with runtime.db.transaction() as db:
        assert db.scalars(select(Group)).all() == []


def test_village_group_may_exceed_a_chat_capacity(runtime: Runtime, admin: FlaskClient) -> None:
    data = {**GROUP, "kind": "village", "key": "village", "capacity": "10000"}
    assert post(admin, "/console/groups", data).status_code == 302


def _message(runtime: Runtime, status: str, channel: str = "email") -> int:
    with runtime.db.transaction() as db:
        row = OutboundMessage(
            idempotency_key=f"k-{status}-{channel}",
            channel=channel,
            recipient="x@example.jp",
            status=status,
            last_error="token expired" if status == "dead" else "",
        )
        db.add(row)
        db.flush()
        return row.id


def test_outbox_lists_filters_retries_and_cancels(runtime: Runtime, admin: FlaskClient) -> None:
    dead = _message(runtime, "dead")
    waiting = _message(runtime, "awaiting_window", "messenger")
    sent = _message(runtime, "sent")
    html = admin.get("/console/outbox", query_string={"state": "dead"}).get_data(as_text=True)
    assert "token expired" in html and f"<td>{waiting}</td>" not in html
    post(admin, f"/console/outbox/{dead}/retry")
    post(admin, f"/console/outbox/{waiting}/cancel")
    post(admin, f"/console/outbox/{sent}/cancel")
    with runtime.db.transaction() as db:
        assert db.get(OutboundMessage, dead).status == "pending"  # type: ignore[union-attr]
        assert db.get(OutboundMessage, waiting).status == "cancelled"  # type: ignore[union-attr]
        assert db.get(OutboundMessage, sent).status == "sent"  # type: ignore[union-attr]
        actions = db.scalars(select(AuditEntry.action)).all()
        assert "outbox_retry" in actions and "outbox_cancel" in actions


def test_sending_pause_and_resume(runtime: Runtime, admin: FlaskClient) -> None:
    post(
        admin,
        "/console/outbox/pause",
        {"channel": "messenger", "action": "pause", "reason": "token error"},
    )
    with runtime.db.transaction() as db:
        assert outbox.paused_channels(db)["messenger"]["reason"] == "token error"
    assert "停止中" in admin.get("/console/outbox").get_data(as_text=True)
    post(admin, "/console/outbox/pause", {"channel": "messenger", "action": "resume"})
    with runtime.db.transaction() as db:
        assert outbox.paused_channels(db) == {}


def _event(runtime: Runtime, status: str, payload: dict[str, object], error: str = "") -> int:
    with runtime.db.transaction() as db:
        row = InboundEvent(
            source="messenger",
            event_key=f"k-{status}-{len(str(payload))}",
            kind="no_such_kind" if status != "invalid" else "",
            payload=payload,
            status=status,
            attempts=5 if status == "dead" else 0,
            last_error=error,
        )
        db.add(row)
        db.flush()
        return row.id


def test_inbox_lists_unreadable_and_failed_events_escaped(
    runtime: Runtime, admin: FlaskClient
) -> None:
    script = {"text": "<script>alert(1)</script>"}
    _event(runtime, "invalid", script, "messaging item has no sender")
    _event(runtime, "dead", {"mid": "m1"}, "handler failed: KeyError")
    _event(runtime, "done", {"mid": "processed-fine"})
    html = admin.get("/console/inbox").get_data(as_text=True)
    assert "messaging item has no sender" in html and "handler failed: KeyError" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "processed-fine" not in html and "要対応（2）" in html
    done = admin.get("/console/inbox", query_string={"state": "done"}).get_data(as_text=True)
    assert "processed-fine" in done and "handler failed" not in done


def test_inbox_retry_sends_a_dead_event_back_to_the_worker(
    runtime: Runtime, admin: FlaskClient
) -> None:
    dead = _event(runtime, "dead", {"mid": "m1"}, "handler failed")
    assert post(admin, f"/console/inbox/{dead}/retry").status_code == 302
    with runtime.db.transaction() as db:
        event = db.get(InboundEvent, dead)
        assert event is not None and (event.status, event.attempts) == ("pending", 0)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "inbound_retry")).one()
        assert entry.actor == "boss" and entry.detail == {
            "event_id": dead,
            "source": "messenger",
            "was": "dead",
        }
    Worker(runtime).run(once=True)
    with runtime.db.transaction() as db:
        assert db.get(InboundEvent, dead).status == "ignored"  # type: ignore[union-attr]


def test_inbox_dismisses_only_problem_events(runtime: Runtime, admin: FlaskClient) -> None:
    invalid = _event(runtime, "invalid", {"x": 1}, "unreadable")
    done = _event(runtime, "done", {"mid": "m2"})
    post(admin, f"/console/inbox/{invalid}/dismiss")
    refused = post(admin, f"/console/inbox/{done}/dismiss", follow_redirects=True)
    assert "だけを確認済みにできます" in refused.get_data(as_text=True)
    assert "だけを再処理できます" in post(
        admin, f"/console/inbox/{invalid}/retry", follow_redirects=True
    ).get_data(as_text=True)
    with runtime.db.transaction() as db:
        assert db.get(InboundEvent, invalid).status == "dismissed"  # type: ignore[union-attr]
        assert db.get(InboundEvent, done).status == "done"  # type: ignore[union-attr]
        actions = db.scalars(select(AuditEntry.action)).all()
        assert actions.count("inbound_dismissed") == 1 and "inbound_retry" not in actions
    assert "要対応の受信イベントはありません" in admin.get("/console/inbox").get_data(as_text=True)
    assert post(admin, "/console/inbox/999999/dismiss").status_code == 404


def test_quarantine_shows_reason_and_raw_values(runtime: Runtime, admin: FlaskClient) -> None:
    with runtime.db.transaction() as db:
        db.add(
            QuarantinedRow(
                source="poll",
                fingerprint="fp",
                row_number=7,
                raw={"メールアドレス": "<b>bad</b>"},
                reason_code="no_email",
                reason="メールアドレスがありません",
            )
        )
    html = admin.get("/console/quarantine").get_data(as_text=True)
    assert "メールアドレスがありません" in html and "&lt;b&gt;bad&lt;/b&gt;" in html


def test_audit_log_filters_by_actor_and_action(runtime: Runtime, admin: FlaskClient) -> None:
    with runtime.db.transaction() as db:
        db.add(lifecycle.audit(None, actor="alice", at=runtime.now(), action="user_added"))
        db.add(lifecycle.audit(None, actor="bob", at=runtime.now(), action="outbox_retry"))
    html = admin.get("/console/audit", query_string={"actor": "alice"}).get_data(as_text=True)
    assert "alice" in html and '担当">bob</td>' not in html
    html = admin.get("/console/audit", query_string={"action": "outbox_retry"}).get_data(
        as_text=True
    )
    assert '担当">bob</td>' in html and '担当">alice</td>' not in html
    today = runtime.now().astimezone(runtime.settings.tz).strftime("%Y-%m-%d")
    html = admin.get(
        "/console/audit", query_string={"from": "2000-01-01", "to": "2000-01-02"}
    ).get_data(as_text=True)
    assert '担当">alice</td>' not in html
    html = admin.get("/console/audit", query_string={"from": today}).get_data(as_text=True)
    assert '担当">alice</td>' in html


def test_decisions_export_neutralises_formulas_and_is_audited(
    runtime: Runtime, admin: FlaskClient
) -> None:
    app = make_application(
        runtime,
        full_name='=HYPERLINK("http://evil","x")',
        organization_name="+SUM(A1)",
        status="ready_for_review",
        email_proven_by="join_request_code",
        email_proven_at=runtime.now(),
    )
    post(
        admin,
        "/console/decisions/approve",
        {"codes": app.code, "approve_reason": "@cmd", "join_request": "yes"},
    )
    response = post(admin, "/console/audit/decisions.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "日時"
    assert len(rows) == 2
    row = rows[1]
    assert row[3] == app.code
    assert row[4] == '\'=HYPERLINK("http://evil","x")'
    assert row[5] == "'+SUM(A1)"
    assert row[7] == "'@cmd"
    with runtime.db.transaction() as db:
        export = db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
        assert export.actor == "boss" and export.detail["rows"] == 1


def test_admin_adds_and_deactivates_users(runtime: Runtime, admin: FlaskClient) -> None:
    post(
        admin,
        "/console/users",
        {"name": "newbie", "role": "reviewer", "password": "long enough pw"},
    )
    post(admin, "/console/users", {"name": "short", "role": "reviewer", "password": "x"})
    with runtime.db.transaction() as db:
        names = set(db.scalars(select(SecretariatUser.name)).all())
        assert names == {"boss", "newbie"}
        newbie_id = db.scalars(
            select(SecretariatUser.id).where(SecretariatUser.name == "newbie")
        ).one()
        boss_id = db.scalars(select(SecretariatUser.id).where(SecretariatUser.name == "boss")).one()
    other = console_app(runtime).test_client()
    assert login(other, "newbie", "long enough pw").status_code == 302
    post(admin, f"/console/users/{newbie_id}/active", {"active": "0"})
    post(admin, f"/console/users/{boss_id}/active", {"active": "0"})  # not oneself
    assert other.get("/console/").status_code == 302
    with runtime.db.transaction() as db:
        assert db.get(SecretariatUser, boss_id).active  # type: ignore[union-attr]
        assert "user_deactivated" in db.scalars(select(AuditEntry.action)).all()


def test_rejection_templates_are_seeded_once_and_editable(
    runtime: Runtime, admin: FlaskClient
) -> None:
    defaults = runtime.settings.console.rejection_templates
    html = admin.get("/console/templates").get_data(as_text=True)
    assert all(text in html for text in defaults)
    with runtime.db.transaction() as db:
        first = db.scalars(select(RejectionTemplate).order_by(RejectionTemplate.id)).first()
        assert first is not None
        first_id = first.id
    post(admin, f"/console/templates/{first_id}", {"label": "確認不可", "text": "確認できません"})
    post(admin, "/console/templates", {"label": "新", "text": "新しい理由"})
    admin.get("/console/templates")
    with runtime.db.transaction() as db:
        rows = db.scalars(select(RejectionTemplate).order_by(RejectionTemplate.id)).all()
        assert len(rows) == len(defaults) + 1  # not seeded twice
        assert rows[0].active is False  # unchecked box deactivates
        assert rows[0].text == "確認できません"
    queue = admin.get("/console/").get_data(as_text=True)
    assert "新" in queue and "確認不可" not in queue
    with runtime.db.transaction() as db:
        assert db.scalars(select(Application)).all() == []
