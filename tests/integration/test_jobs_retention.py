"""retention: personal data of long-closed applications is erased; statistics and audit remain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.models import (
    Application,
    ApplicationStat,
    AuditEntry,
    JoinRequest,
    MessengerIdentity,
    OutboundMessage,
    ReviewerNote,
)
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2027, 6, 1, 3, 30, tzinfo=JST)
NAME, EMAIL = "高橋 一郎", "ichiro.takahashi@city.toyama.lg.jp"


def add_app(runtime: Runtime, code: str, status: str, closed_days_ago: float, **kw: Any) -> int:
    with runtime.db.transaction() as session:
        identity = MessengerIdentity(
            psid=f"psid-{code}", name=NAME, first_name="一郎", last_name="高橋"
        )
        session.add(identity)
        app = Application(
            code=code,
            link_token=f"tok-{code}",
            email=EMAIL,
            full_name=NAME,
            kana="たかはし いちろう",
            facebook_name="Ichiro Takahashi",
            service_type="地方公務員",
            organization_text="富山市役所",
            department="企画課",
            prefecture="富山県",
            organization_code="162019",
            organization_name="富山市",
            employment_status="在職中",
            interests=["防災"],
            referrer="同僚の紹介",
            answers={"氏名": NAME, "メールアドレス": EMAIL},
            reasons=[{"code": "personal_email", "message": f"{EMAIL} は個人アドレスです"}],
            verdict="needs_review",
            decision_reason="確認できませんでした",
            status=status,
            submitted_at=datetime(2026, 12, 1, 8, 0, tzinfo=JST),
            status_changed_at=NOW - timedelta(days=closed_days_ago),
            messenger_identity=identity,
            **kw,
        )
        session.add(app)
        session.flush()
        session.add(ReviewerNote(application_id=app.id, author="admin", text=f"{NAME}さんに電話"))
        changed = {
            "氏名": {"before": "高橋 一朗", "after": NAME},
            "所属": {"before": "", "after": "x"},
        }
        edited = {"source": "sheet", "changed": changed}
        session.add_all(
            [
                AuditEntry(
                    application_id=app.id,
                    actor="forms",
                    at=NOW,
                    action="answers_updated",
                    detail=edited,
                ),
                AuditEntry(
                    application_id=app.id,
                    actor="rev",
                    at=NOW,
                    action="reject",
                    reason="確認できませんでした",
                    detail={"notify": True},
                ),
            ]
        )
        session.add(JoinRequest(name=NAME, answer=code, status="matched", application_id=app.id))
        session.add(
            OutboundMessage(
                idempotency_key=f"confirm:{code}",
                channel="email",
                recipient=EMAIL,
                status="sent",
                application_id=app.id,
                payload={"subject": "確認", "body": f"{NAME} 様"},
            )
        )
        session.add(
            OutboundMessage(
                idempotency_key=f"msg:{code}",
                channel="messenger",
                recipient=f"psid-{code}",
                status="awaiting_window",
                application_id=app.id,
                payload={"message": {"text": f"{NAME} 様"}},
            )
        )
        return app.id


def run_at(runtime: Runtime, at: datetime) -> str:
    runtime.now = lambda: at
    result = run_job(runtime, find("retention"))
    assert result.outcome == "ok", result.detail
    return result.detail


def dump(runtime: Runtime, app_id: int) -> str:
    """Everything stored about one application, as text to search for personal data."""
    with runtime.db.transaction() as session:
        app = session.get(Application, app_id)
        assert app is not None
        parts: list[Any] = [
            {c.name: getattr(app, c.key) for c in Application.__table__.columns},
            [(n.text,) for n in session.scalars(select(ReviewerNote))],
            [(j.name, j.answer, j.candidates) for j in session.scalars(select(JoinRequest))],
            [(o.recipient, o.payload) for o in session.scalars(select(OutboundMessage))],
            [(a.reason, a.detail) for a in session.scalars(select(AuditEntry))],
            [
                (i.name, i.first_name, i.last_name)
                for i in session.scalars(select(MessengerIdentity))
            ],
        ]
    return json.dumps(parts, ensure_ascii=False, default=str)


def test_rejected_application_past_retention_is_erased_leaving_stats_and_audit(
    runtime: Runtime,
) -> None:
    app_id = add_app(runtime, "R1", "rejected", 181)
    assert NAME in dump(runtime, app_id)
    assert run_at(runtime, NOW) == "erased 1"

    text = dump(runtime, app_id)
    for secret in (
        NAME,
        EMAIL,
        "たかはし",
        "Ichiro",
        "企画課",
        "富山市役所",
        "電話",
        "同僚",
        "一郎",
        "確認できませんでした",
        "一朗",
    ):
        assert secret not in text, secret
    with runtime.db.transaction() as session:
        app = session.get(Application, app_id)
        assert app is not None
        assert app.email == f"erased-{app_id}@invalid"
        assert app.erased_at == NOW
        # the 申込番号 identified the person too (their mail, their chat): it goes as well
        assert app.code == f"ERASED-{app_id}" and app.status == "rejected"
        assert app.reasons == [{"code": "personal_email", "message": ""}]
        assert app.messenger_identity_id is None
        (stat,) = session.scalars(select(ApplicationStat)).all()
        assert (stat.submitted_month, stat.prefecture, stat.service_type) == (
            "2026-12",  # the month in Tokyo; in UTC it was still November
            "富山県",
            "地方公務員",
        )
        assert (stat.organization_code, stat.verdict, stat.final_status) == (
            "162019",
            "needs_review",
            "rejected",
        )
        (entry,) = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "personal_data_erased")
        ).all()
        assert entry.application_id == app_id and entry.actor == "system"
        assert entry.detail == {"final_status": "rejected", "after_days": 180}
        history = {
            e.action: e
            for e in session.scalars(select(AuditEntry).where(AuditEntry.application_id == app_id))
        }
        # what happened stays: which questions changed, who rejected and whether they were told
        assert history["answers_updated"].detail == {"source": "sheet", "changed": ["所属", "氏名"]}
        assert history["reject"].actor == "rev" and history["reject"].reason == ""
        assert history["reject"].detail == {"notify": True}
        mine = select(OutboundMessage).where(OutboundMessage.application_id == app_id)
        waiting = session.scalars(mine.where(OutboundMessage.channel == "messenger")).one()
        assert waiting.status == "cancelled" and waiting.payload == {}
        sent = session.scalars(mine.where(OutboundMessage.channel == "email")).one()
        assert sent.status == "sent" and sent.recipient == "erased"
        # their idempotency keys named the code: they name the row now
        assert {waiting.idempotency_key, sent.idempotency_key} == {
            f"erased:{waiting.id}",
            f"erased:{sent.id}",
        }


def test_erasure_is_idempotent(runtime: Runtime) -> None:
    add_app(runtime, "R2", "withdrawn", 200)
    assert run_at(runtime, NOW) == "erased 1"
    assert run_at(runtime, NOW + timedelta(days=1)) == "erased 0"
    with runtime.db.transaction() as session:
        assert len(session.scalars(select(ApplicationStat)).all()) == 1


def test_only_closed_applications_older_than_the_retention_period_are_erased(
    runtime: Runtime,
) -> None:
    due = {
        add_app(runtime, "E1", "expired", 180): "expired",
        add_app(runtime, "E2", "duplicate", 365): "duplicate",
        add_app(runtime, "E3", "withdrawn", 181): "withdrawn",
    }
    kept = [
        add_app(runtime, "K1", "rejected", 179.9),
        add_app(runtime, "K2", "approved", 400),
        add_app(runtime, "K3", "invited", 400),
        add_app(runtime, "K4", "awaiting_join_request", 400),
    ]
    assert run_at(runtime, NOW) == "erased 3"
    with runtime.db.transaction() as session:
        erased = session.scalars(select(Application).where(Application.erased_at.is_not(None)))
        assert {a.id: a.status for a in erased} == due
        for app_id in kept:
            app = session.get(Application, app_id)
            assert app is not None and app.full_name == NAME and app.erased_at is None
        stats = sorted(s.final_status for s in session.scalars(select(ApplicationStat)))
        assert stats == ["duplicate", "expired", "withdrawn"]


def test_retention_days_come_from_config(runtime: Runtime) -> None:
    import dataclasses

    s = runtime.settings
    runtime.settings = s.replace(retention=dataclasses.replace(s.retention, erase_after_days=30))
    add_app(runtime, "C1", "rejected", 31)
    add_app(runtime, "C2", "rejected", 29)
    assert run_at(runtime, NOW) == "erased 1"


def test_old_job_run_history_is_pruned(runtime: Runtime) -> None:
    from bot.models import JobRun

    with runtime.db.transaction() as session:
        session.add(JobRun(job="sync-forms", started_at=NOW - timedelta(days=31), outcome="ok"))
        session.add(JobRun(job="sync-forms", started_at=NOW - timedelta(days=29), outcome="ok"))
    assert run_at(runtime, NOW) == "erased 0, pruned 1 job runs"
    with runtime.db.transaction() as session:
        kept = session.scalars(select(JobRun.started_at).order_by(JobRun.id)).all()
    assert kept[0] == NOW - timedelta(days=29)  # and this run's own row
    assert len(kept) == 2


def test_each_jobs_latest_scheduled_run_outlives_the_pruning(runtime: Runtime) -> None:
    """A monthly job's last run tells a new leader it was made: it is not pruned away."""
    from bot.models import JobRun

    with runtime.db.transaction() as session:
        for days in (70, 40):
            at = NOW - timedelta(days=days)
            session.add(JobRun(job="monthly", scheduled_for=at, started_at=at, outcome="ok"))
    assert run_at(runtime, NOW) == "erased 0, pruned 1 job runs"
    with runtime.db.transaction() as session:
        kept = session.scalars(select(JobRun.scheduled_for).where(JobRun.job == "monthly")).all()
    assert kept == [NOW - timedelta(days=40)]


def test_handled_inbound_events_are_pruned_and_unhandled_ones_kept(runtime: Runtime) -> None:
    from bot.models import InboundEvent

    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    cases = [
        ("done-old", "done", old),
        ("ignored-old", "ignored", old),
        ("dismissed-old", "dismissed", old),
        ("done-recent", "done", recent),
        ("invalid-old", "invalid", old),
        ("dead-old", "dead", old),
        ("pending-old", "pending", old),
    ]
    with runtime.db.transaction() as session:
        for key, status, at in cases:
            session.add(
                InboundEvent(
                    source="messenger",
                    event_key=key,
                    status=status,
                    received_at=at,
                    payload={"sender": {"id": "PSID-1"}, "message": {"text": NAME}},
                )
            )
    assert run_at(runtime, NOW) == "erased 0, pruned 3 inbound events"
    with runtime.db.transaction() as session:
        kept = set(session.scalars(select(InboundEvent.event_key)))
    assert kept == {"done-recent", "invalid-old", "dead-old", "pending-old"}


def test_typed_code_checks_and_stale_typed_codes_are_swept(runtime: Runtime) -> None:
    """A PSID next to a code is personal data: kept for the attempt limits, then deleted."""
    from bot.models import LinkAttempt, MessengerIdentity

    at = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    with runtime.db.transaction() as session:
        session.add(
            MessengerIdentity(
                psid="p-old", link_code="OC-7K3M9Q", link_code_at=at - timedelta(hours=2)
            )
        )
        session.add(
            MessengerIdentity(
                psid="p-new", link_code="OC-8K3M9Q", link_code_at=at - timedelta(minutes=5)
            )
        )
        for psid, age in (("p-old", timedelta(days=3)), ("p-new", timedelta(hours=3))):
            session.add(LinkAttempt(psid=psid, code="OC-7K3M9Q", at=at - age, outcome="mismatch"))
    assert "pruned 1 typed-code checks" in run_at(runtime, at)
    with runtime.db.transaction() as session:
        assert session.scalars(select(LinkAttempt.psid)).all() == ["p-new"]
        rows = session.execute(select(MessengerIdentity.psid, MessengerIdentity.link_code)).all()
        codes = {psid: code for psid, code in rows}
        assert codes == {"p-old": None, "p-new": "OC-8K3M9Q"}


def test_replies_to_pruned_consultations_and_questions_are_emptied(runtime: Runtime) -> None:
    """A reply's outbox row keeps its text and the person's PSID or address: it is emptied
    with the consultation or question it answered, and only with it (review #17, finding 2)."""
    from bot.models import Consultation, ConsultationLink, MemberQuestion

    old, recent = NOW - timedelta(days=400), NOW - timedelta(days=5)
    with runtime.db.transaction() as session:
        old_c = Consultation(text="古い相談", submitted_at=old, status="answered")
        new_c = Consultation(text="新しい相談", submitted_at=recent, status="answered")
        old_q = MemberQuestion(psid="p-q", text="古い質問", asked_at=old, status="answered")
        new_q = MemberQuestion(psid="p-q", text="新しい質問", asked_at=recent, status="answered")
        session.add_all([old_c, new_c, old_q, new_q])
        session.flush()
        session.add(ConsultationLink(consultation_id=old_c.id, psid="p-c"))
        epoch = int(old.timestamp())

        def reply(key: str, purpose: str, recipient: str, status: str = "sent") -> None:
            session.add(
                OutboundMessage(
                    idempotency_key=key,
                    channel="messenger",
                    recipient=recipient,
                    purpose=purpose,
                    status=status,
                    last_error="x" if status == "failed" else "",
                    payload={"message": {"text": f"返信 {key}"}},
                )
            )

        reply(f"consultation-reply:{old_c.id}:{epoch}", "consultation_reply", "p-c")
        reply(f"consultation-reply:{old_c.id}", "consultation_reply", "p-c", "failed")
        reply(f"question-reply:{old_q.id}:{epoch}", "question_reply", "p-q", "awaiting_window")
        kept = [
            (f"consultation-reply:{new_c.id}:{epoch}", "consultation_reply", "p-c"),
            (f"question-reply:{new_q.id}:{epoch}", "question_reply", "p-q"),
            (f"consultation-reply:{old_c.id}0:{epoch}", "consultation_reply", "p-c"),  # no such
            (f"question-reply:{old_q.id}:{epoch}:x", "question_reply", "p-q"),  # not a reply key
            (f"other:{old_q.id}", "question_reply", "p-q"),
        ]
        for key, purpose, recipient in kept:
            reply(key, purpose, recipient)
    detail = run_at(runtime, NOW)
    assert "pruned 1 consultations, pruned 1 member questions" in detail
    with runtime.db.transaction() as session:
        rows = list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        emptied = [r for r in rows if r.recipient == "erased"]
        assert [(r.idempotency_key, r.payload, r.last_error) for r in emptied] == [
            (f"erased:{r.id}", {}, "") for r in emptied
        ]
        assert [r.status for r in emptied] == ["sent", "failed", "cancelled"]
        assert [r.purpose for r in emptied] == [
            "consultation_reply",
            "consultation_reply",
            "question_reply",
        ]
        left = [(r.idempotency_key, r.purpose, r.recipient) for r in rows if r not in emptied]
        assert left == kept
        assert all(r.payload for r in rows if r not in emptied)
    assert run_at(runtime, NOW) == "erased 0"  # a second run finds nothing more
