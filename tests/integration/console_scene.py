"""A realistic console for the page-by-page tests: every status, an alert of each kind,
quarantined rows, dead messages of each purpose, join requests with evidence (no tests here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.messaging import outbox
from bot.models import (
    Alert,
    Application,
    ApplicationStatus,
    Group,
    InboundEvent,
    Invitation,
    JoinRequest,
    MessengerIdentity,
    OutboundMessage,
    Purpose,
    QuarantinedRow,
    ReviewerNote,
)
from bot.onboarding.form_mapping import QuarantineReason
from bot.onboarding.lifecycle import audit
from bot.runtime import Runtime

ALERT_KINDS = (
    "group_nearly_full",
    "group_missing",
    "cohort_missing",
    "sending_paused",
    "delivery_error_unknown",
    "form_columns",
    "link_conflict",
    "link_code_guessing",
    "job_failed",
)
NAMES = [
    ("佐藤 花子", "サトウ ハナコ"),
    ("鈴木 一郎", "スズキ イチロウ"),
    ("髙橋 健", "タカハシ ケン"),
    ("田中 美咲", "タナカ ミサキ"),
    ("伊藤 大輔", "イトウ ダイスケ"),
    ("渡邉 彩", "ワタナベ アヤ"),
    ("山本 翔", "ヤマモト ショウ"),
    ("中村 優", "ナカムラ ユウ"),
    ("小林 直樹", "コバヤシ ナオキ"),
]


@dataclass(frozen=True)
class Scene:
    """What was stored: one code per application status, and the matched one with evidence."""

    codes: dict[str, str]  # status -> code
    matched_code: str


def build_scene(runtime: Runtime) -> Scene:
    """Store one application of each status with notes, identities, join requests and edits,
    plus alerts, held invitations, quarantined rows, dead outbox and inbox rows, a pause."""
    now = runtime.now()
    codes: dict[str, str] = {}
    with runtime.db.transaction() as db:
        identity = MessengerIdentity(
            psid="psid-1", name="Hanako Sato", last_interaction_at=now - timedelta(hours=2)
        )
        quiet = MessengerIdentity(
            psid="psid-2",
            name="Ichiro Suzuki",
            last_interaction_at=now - timedelta(hours=1),
            quiet_until=now + timedelta(hours=5),
        )
        db.add_all([identity, quiet])
        db.flush()
        apps: list[Application] = []
        for n, status in enumerate(ApplicationStatus):
            code = f"OC-SCN{n:03d}"
            codes[status.value] = code
            name, kana = NAMES[n % len(NAMES)]
            app = Application(
                code=code,
                link_token=f"tok{n}-scene",
                email=f"scene{n}@city.example.lg.jp",
                full_name=name,
                kana=kana,
                facebook_name=name.replace(" ", ""),
                status=status.value,
                submitted_at=now - timedelta(days=n + 1),
                verdict=("verified", "needs_review", "ineligible")[n % 3],
                reasons=[{"code": "personal_email", "message": "個人のメールアドレスです"}]
                if n % 3
                else [],
                prefecture="富山県",
                service_type="地方公務員",
                organization_name="富山市",
                organization_text="富山市役所",
                department="企画課",
                messenger_identity_id=(identity.id, quiet.id, None)[n % 3] if n < 2 else None,
                email_proven_by="join_request_code" if n % 2 else "",
                email_proven_at=now if n % 2 else None,
            )
            db.add(app)
            apps.append(app)
        db.flush()
        for app in apps:
            db.add(audit(app, actor="system", at=now, action="submitted"))
            db.add(
                audit(
                    app,
                    actor="rev",
                    at=now,
                    action="answers_updated",
                    detail={
                        "source": "poll",
                        "changed": {"所属": {"before": "富山県庁", "after": "富山市役所"}},
                    },
                )
            )
            db.add(
                audit(
                    app,
                    actor="rev",
                    at=now,
                    action="approve",
                    detail={"from": "ready_for_review", "to": app.status},
                )
            )
            for i in range(3):
                db.add(ReviewerNote(application_id=app.id, author="rev", text=f"メモ{i} <b>x</b>"))
        ready = apps[2]  # ready_for_review
        db.add(
            JoinRequest(
                name="佐藤花子",
                answer=ready.code,
                status="matched",
                application_id=ready.id,
                match_method="code",
                confidence=1.0,
                evidence=[
                    {"kind": "works", "text": "Works at 富山市役所"},
                    {"kind": "lives", "text": "富山県 富山市 在住"},
                ],
            )
        )
        db.add(JoinRequest(name="未一致 太郎", answer="よろしく", status="unmatched"))
        db.add(JoinRequest(name="対象外 次郎", answer="spam", status="dismissed"))
        db.add(Group(kind="prefecture", key="富山県", name="富山県の部屋", capacity=250))
        db.add(Invitation(application_id=apps[3].id, kind="cohort", key="2026-12", status="held"))
        for kind in ALERT_KINDS:
            db.add(Alert(kind=kind, key=f"k-{kind}", message="テストのアラート", created_at=now))
        for n, reason in enumerate(QuarantineReason):
            db.add(
                QuarantinedRow(
                    source="poll",
                    fingerprint=f"fp{n}",
                    row_number=n + 2,
                    raw={"メールアドレス": "x"},
                    reason_code=reason.value,
                    reason=f"row {n + 2}: refused",
                )
            )
        for n, purpose in enumerate(Purpose):
            channel = (
                "profile" if purpose is Purpose.PROFILE_LOOKUP else ("email", "messenger")[n % 2]
            )
            db.add(
                OutboundMessage(
                    idempotency_key=f"dead:{purpose.value}",
                    channel=channel,
                    recipient="psid-1" if channel != "email" else "a@example.jp",
                    payload={},
                    purpose=purpose.value,
                    status="dead",
                    attempts=5,
                    last_error="(#10) failed",
                    application_id=apps[0].id,
                )
            )
        db.add(InboundEvent(source="messenger", event_key="e1", kind="message", status="dead"))
        db.add(InboundEvent(source="forms", event_key="e2", kind="push", status="invalid"))
        outbox.set_paused(db, "email", True, reason="テスト停止", now=now)
    return Scene(codes=codes, matched_code=codes["ready_for_review"])
