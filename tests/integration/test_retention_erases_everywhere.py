"""After erasure nothing of the person is left in any column of any table, on every engine.

One person leaves their traces wherever the product writes them (application, duplicate,
notes, join requests and other requests' candidate lists, refused form rows, Messenger identity,
typed-code checks, webhook events, messages and replies, alerts and their emails, audit
details, a job run's error; as a member: event RSVPs, questions to the secretariat, anonymous
consultations and the links to them). The retention job runs; then every text and JSON column
of every table is searched for their name, email address, PSID, registration code and m.me
token.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect, select

from bot.models import (
    Alert,
    Application,
    ApplicationStat,
    AuditEntry,
    Base,
    Consultation,
    ConsultationLink,
    Event,
    EventRsvp,
    InboundEvent,
    Invitation,
    JobRun,
    JoinRequest,
    LinkAttempt,
    MemberQuestion,
    MessengerIdentity,
    OutboundMessage,
    QuarantinedRow,
    ReviewerNote,
)
from bot.onboarding import applications
from bot.onboarding.erasure import erased_code
from bot.runtime import Runtime
from tests.integration.test_jobs_retention import NOW, run_at

NAME, KANA, FB_NAME = "高橋 一郎", "たかはし いちろう", "Ichiro Takahashi"
EMAIL = "ichiro_takahashi@city.toyama.lg.jp"  # "_" is a LIKE wildcard: searched escaped
PSID = "7310000000000042"
CODE, DUPLICATE_CODE = "OC-7K3M9Q", "OC-8P2R4T"
TOKEN = "lnk-7K3M9Q-5f2a9c"
TRACES = (NAME, "高橋一郎", KANA, FB_NAME, EMAIL, PSID, CODE, DUPLICATE_CODE, TOKEN)
OTHER_NAME, OTHER_EMAIL, OTHER_CODE = "佐藤 花子", "hanako.sato@pref.toyama.lg.jp", "OC-2B5D7F"
RECENT = NOW - timedelta(days=2)
CLOSED_LONG_AGO = NOW - timedelta(days=200)


def application(code: str, status: str, **fields: Any) -> Application:
    values: dict[str, Any] = {
        "link_token": f"tok-{code}",
        "email": EMAIL,
        "full_name": NAME,
        "kana": KANA,
        "facebook_name": FB_NAME,
        "service_type": "地方公務員",
        "organization_text": "富山市役所",
        "prefecture": "富山県",
        "organization_code": "162019",
        "answers": {"氏名": NAME, "メールアドレス": EMAIL},
        "reasons": [{"code": "personal_email", "message": f"{EMAIL} は個人アドレスです"}],
        "submitted_at": CLOSED_LONG_AGO - timedelta(days=10),
        "status_changed_at": CLOSED_LONG_AGO,
        **fields,
    }
    return Application(code=code, status=status, **values)


def seed_one_person(runtime: Runtime) -> tuple[int, int]:
    """Everything the product stores about 高橋 一郎, plus another person's application."""
    with runtime.db.transaction() as s:
        identity = MessengerIdentity(
            psid=PSID,
            name=NAME,
            first_name="一郎",
            last_name="高橋",
            link_code=CODE,
            link_code_at=RECENT,
        )
        app = application(
            CODE,
            "rejected",
            link_token=TOKEN,
            messenger_identity=identity,
            decision_reason="x",
            # an edit held after the decision: answers never applied
            pending_change={"answers": {"氏名": NAME, "メールアドレス": EMAIL}},
            pending_change_at=RECENT,
        )
        duplicate = application(DUPLICATE_CODE, "duplicate")
        other = application(
            OTHER_CODE,
            "ready_for_review",
            email=OTHER_EMAIL,
            full_name=OTHER_NAME,
            kana="さとう はなこ",
            facebook_name="Hanako Sato",
            answers={"氏名": OTHER_NAME},
            reasons=[],
            decision_reason=f"{CODE} と同じ所属",
            status_changed_at=RECENT,
        )
        s.add_all([app, duplicate, other])
        s.flush()
        s.add_all(
            [
                ReviewerNote(application_id=app.id, author="rev", text=f"{NAME}さんに電話"),
                ReviewerNote(application_id=other.id, author="rev", text=f"{CODE} の同僚"),
                Invitation(application_id=app.id, kind="prefecture", key="富山県"),
                AuditEntry(
                    application_id=app.id,
                    actor="forms",
                    at=RECENT,
                    action="answers_updated",
                    detail={"changed": {"氏名": {"before": "高橋 一朗", "after": NAME}}},
                ),
                AuditEntry(
                    application_id=app.id,
                    actor="rev",
                    at=CLOSED_LONG_AGO,
                    action="reject",
                    reason=f"{EMAIL} は個人アドレス",
                    detail={"notify": True},
                ),
                AuditEntry(
                    application_id=duplicate.id,
                    actor="rev",
                    at=CLOSED_LONG_AGO,
                    action="mark_duplicate",
                    detail={"merged_into": CODE},
                ),
                # join requests: theirs, one named like them left open, one set aside, and
                # another person's whose candidates list them
                JoinRequest(
                    name=NAME,
                    answer=CODE,
                    status="matched",
                    application_id=app.id,
                    entered_at=CLOSED_LONG_AGO,
                    candidates=[{"application_id": app.id, "code": CODE, "name": NAME}],
                    evidence=[{"kind": "works", "text": f"{FB_NAME}: Works at 富山市役所"}],
                ),
                JoinRequest(name="高橋一郎", answer="富山市です", entered_at=RECENT),
                JoinRequest(
                    name=FB_NAME, answer=EMAIL.upper(), status="dismissed", entered_at=RECENT
                ),
                JoinRequest(
                    name=OTHER_NAME,
                    answer="",
                    entered_at=RECENT,
                    candidates=[
                        {"application_id": app.id, "code": CODE, "name": NAME, "score": 0.8},
                        {"application_id": other.id, "code": OTHER_CODE, "name": OTHER_NAME},
                    ],
                ),
                QuarantinedRow(
                    source="sheet",
                    fingerprint="f" * 64,
                    row_number=7,
                    raw={"メールアドレス": EMAIL.upper(), "氏名": NAME},
                    reason_code="bad_timestamp",
                    reason="タイムスタンプを読めません",
                    first_seen_at=RECENT,
                    last_seen_at=RECENT,
                ),
                LinkAttempt(psid=PSID, code=CODE, at=RECENT, outcome="mismatch"),
                InboundEvent(
                    source="messenger",
                    event_key=f"referral:{PSID}:1764000000000:abc",
                    kind="referral",
                    status="done",
                    received_at=RECENT,
                    payload={"person_psid": PSID, "ref": TOKEN},
                ),
                InboundEvent(
                    source="messenger",
                    event_key="mid:m_typed",
                    kind="message",
                    status="done",
                    received_at=RECENT,
                    payload={"sender": PSID, "text": f"{CODE.lower()} {EMAIL}"},
                ),
                InboundEvent(
                    source="messenger",
                    event_key="invalid:0123",
                    kind="invalid",
                    status="invalid",
                    received_at=RECENT,
                    payload={"raw": {"sender": {"id": PSID}}},
                    last_error="no timestamp",
                ),
                OutboundMessage(
                    idempotency_key=f"confirmation:{CODE}",
                    channel="email",
                    recipient=EMAIL,
                    status="sent",
                    application_id=app.id,
                    payload={"subject": CODE, "body": f"{NAME} 様 https://m.me/p?ref={TOKEN}"},
                ),
                OutboundMessage(
                    idempotency_key=f"invite:{CODE}:prefecture",
                    channel="messenger",
                    recipient=PSID,
                    status="awaiting_window",
                    application_id=app.id,
                    payload={"message": {"text": f"{NAME} 様"}},
                ),
                OutboundMessage(  # a reply: tied to the PSID only
                    idempotency_key=f"reply:referral:{PSID}:1764000000000:abc:link_done",
                    channel="messenger",
                    recipient=PSID,
                    status="sent",
                    payload={"message": {"text": f"申込番号 {CODE} と連携しました"}},
                ),
                OutboundMessage(  # an alert email to the secretariat naming their code
                    idempotency_key="alert:1",
                    channel="email",
                    recipient="jimukyoku@example.jp",
                    status="sent",
                    payload={"subject": f"[cityhall] 申込番号 {CODE}", "body": CODE},
                ),
                Alert(
                    kind="link_conflict",
                    key=CODE,
                    message=f"申込番号 {CODE} のメッセンジャー連携が求められました",
                    created_at=RECENT,
                ),
                JobRun(
                    job="sync-forms",
                    started_at=RECENT,
                    outcome="error",
                    detail=f"database: Key (email)=({EMAIL}) already exists",
                ),
            ]
        )
        seed_member_rows(s, app.id, other.id)
        return app.id, other.id


def seed_member_rows(s: Any, app_id: int, other_id: int) -> None:
    """What they did as a member (bot/community): an RSVP, questions, a consultation; and
    another person's of each, which stay."""
    event = Event(
        kind="orientation",
        title="説明会",
        starts_at=RECENT,
        ends_at=RECENT + timedelta(hours=1),
    )
    s.add(event)
    s.flush()
    mine = Consultation(text=f"{NAME}です。職場のことで相談です", submitted_at=RECENT)
    by_psid = Consultation(text="連携前に送った相談", submitted_at=RECENT)
    theirs = Consultation(text="別の方の相談", submitted_at=RECENT)
    s.add_all([mine, by_psid, theirs])
    s.flush()
    s.add_all(
        [
            EventRsvp(
                event_id=event.id,
                psid=PSID,
                application_id=app_id,
                status="going",
                answered_at=RECENT,
            ),
            EventRsvp(
                event_id=event.id,
                psid="other-psid-0001",
                application_id=other_id,
                status="going",
                answered_at=RECENT,
            ),
            MemberQuestion(
                psid=PSID, application_id=app_id, text=f"{CODE} の件です", asked_at=RECENT
            ),
            MemberQuestion(psid=PSID, text=f"{EMAIL} に返信ください", asked_at=RECENT),
            MemberQuestion(psid="other-psid-0001", text="別の方の質問", asked_at=RECENT),
            ConsultationLink(consultation_id=mine.id, psid=PSID, application_id=app_id),
            ConsultationLink(consultation_id=by_psid.id, psid=PSID),
            ConsultationLink(
                consultation_id=theirs.id, psid="other-psid-0001", application_id=other_id
            ),
        ]
    )


def mentions(runtime: Runtime, needle: str) -> list[str]:
    """`table.column` of every stored value that contains `needle` (case-insensitive)."""
    found = []
    existing = set(inspect(runtime.db.engine).get_table_names())
    with runtime.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in existing:
                continue
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    text = json.dumps(value, ensure_ascii=False, default=str)
                    if needle.lower() in text.lower():
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def test_seeded_person_is_found_in_every_kind_of_row_before_retention(runtime: Runtime) -> None:
    seed_one_person(runtime)
    assert set(mentions(runtime, PSID)) >= {
        "messenger_identities.psid",
        "link_attempts.psid",
        "inbound_events.payload",
        "outbound_messages.recipient",
    }
    assert set(mentions(runtime, PSID)) >= {
        "event_rsvps.psid",
        "member_questions.psid",
        "consultation_links.psid",
    }
    assert set(mentions(runtime, NAME)) >= {"consultations.text"}
    assert set(mentions(runtime, FB_NAME)) >= {"join_requests.evidence"}
    assert set(mentions(runtime, EMAIL)) >= {"applications.pending_change"}
    assert set(mentions(runtime, CODE)) >= {
        "applications.code",
        "join_requests.candidates",
        "alerts.key",
        "audit_log.detail",
        "reviewer_notes.text",
    }


def test_after_retention_no_column_of_any_table_holds_the_person(runtime: Runtime) -> None:
    seed_one_person(runtime)
    detail = run_at(runtime, NOW)
    assert detail.startswith("erased 2")

    left = {needle: mentions(runtime, needle) for needle in TRACES}
    assert left == {needle: [] for needle in TRACES}


def test_erasure_keeps_statistics_history_and_the_other_persons_data(runtime: Runtime) -> None:
    app_id, other_id = seed_one_person(runtime)
    run_at(runtime, NOW)
    with runtime.db.transaction() as s:
        stats = sorted(st.final_status for st in s.scalars(select(ApplicationStat)))
        assert stats == ["duplicate", "rejected"]
        app = s.get(Application, app_id)
        assert app is not None and (app.status, app.prefecture) == ("rejected", "富山県")
        # the console and `applications show` still find the record by its new code
        assert applications.get_by_code(s, erased_code(app_id).lower()) is app
        actions = [e.action for e in app.history]
        assert actions == ["answers_updated", "reject", "personal_data_erased"]
        assert app.history[0].detail == {"changed": ["氏名"]}
        other = s.get(Application, other_id)
        assert other is not None
        assert (other.full_name, other.email) == (OTHER_NAME, OTHER_EMAIL)
        assert other.decision_reason == f"{erased_code(app_id)} と同じ所属"
        (their_request,) = s.scalars(select(JoinRequest).where(JoinRequest.name == OTHER_NAME))
        assert their_request.candidates == [
            {"application_id": other_id, "code": OTHER_CODE, "name": OTHER_NAME}
        ]
        # their own matched request stays counted, blank; the ones only naming them are gone
        statuses = sorted(jr.status for jr in s.scalars(select(JoinRequest)))
        assert statuses == ["matched", "unmatched"]
        # the secretariat's alert and its email stay, naming the erased record instead
        alert = s.scalars(select(Alert)).one()
        assert alert.key == erased_code(app_id)
        email = s.scalars(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == "alert:1")
        ).one()
        assert email.payload["body"] == erased_code(app_id)
        assert s.scalars(select(MessengerIdentity)).all() == []
        assert s.scalars(select(LinkAttempt)).all() == []
        assert s.scalars(select(QuarantinedRow)).all() == []
        assert s.scalars(select(InboundEvent)).all() == []
        unsent = s.scalars(
            select(OutboundMessage).where(OutboundMessage.channel == "messenger")
        ).all()
        assert sorted(m.status for m in unsent) == ["cancelled", "sent"]
        # another member's RSVP, question and consultation stay
        assert [r.psid for r in s.scalars(select(EventRsvp))] == ["other-psid-0001"]
        assert s.scalars(select(MemberQuestion.text)).all() == ["別の方の質問"]
        assert s.scalars(select(Consultation.text)).all() == ["別の方の相談"]
        assert [c.psid for c in s.scalars(select(ConsultationLink))] == ["other-psid-0001"]


def test_live_application_of_the_same_person_keeps_their_address(runtime: Runtime) -> None:
    """Re-applied and approved: the member's address stays where it is theirs."""
    with runtime.db.transaction() as s:
        s.add(application("OC-OLD111", "rejected"))
        s.add(application("OC-NEW222", "approved", status_changed_at=RECENT))
        s.add(
            OutboundMessage(
                idempotency_key="approved:OC-NEW222",
                channel="email",
                recipient=EMAIL,
                status="sent",
                payload={"subject": "承認"},
            )
        )
    assert run_at(runtime, NOW) == "erased 1"
    with runtime.db.transaction() as s:
        member = s.scalars(select(Application).where(Application.code == "OC-NEW222")).one()
        assert member.email == EMAIL and member.full_name == NAME
        sent = s.scalars(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == "approved:OC-NEW222")
        ).one()
        assert sent.recipient == EMAIL
    assert mentions(runtime, "OC-OLD111") == []


def test_stale_unmatched_requests_and_refused_rows_are_pruned_after_retention(
    runtime: Runtime,
) -> None:
    old = NOW - timedelta(days=181)
    with runtime.db.transaction() as s:
        s.add(JoinRequest(name="山田 太郎", answer="", entered_at=old))
        s.add(JoinRequest(name="山田 次郎", answer="", status="dismissed", entered_at=old))
        s.add(JoinRequest(name="山田 三郎", answer="", entered_at=RECENT))
        for fp, seen in (("a", old), ("b", RECENT)):
            s.add(
                QuarantinedRow(
                    source="sheet",
                    fingerprint=fp * 64,
                    raw={"氏名": "山田"},
                    reason_code="no_email",
                    reason="メールアドレスがありません",
                    first_seen_at=seen,
                    last_seen_at=seen,
                )
            )
    detail = run_at(runtime, NOW)
    assert detail == "erased 0, pruned 2 stale join requests, pruned 1 quarantined rows"
    with runtime.db.transaction() as s:
        assert s.scalars(select(JoinRequest.name)).all() == ["山田 三郎"]
        assert [q.fingerprint[0] for q in s.scalars(select(QuarantinedRow))] == ["b"]


def test_a_live_members_pruned_consultation_and_question_leave_no_reply_behind(
    runtime: Runtime,
) -> None:
    """Their application stays, but the secretariat's replies to a consultation and a question
    past retention go with them: text and PSID (review #17, finding 2)."""
    old = NOW - timedelta(days=400)
    with runtime.db.transaction() as s:
        consultation = Consultation(text="古い相談", submitted_at=old, status="answered")
        question = MemberQuestion(psid=PSID, text="古い質問", asked_at=old, status="answered")
        s.add_all([consultation, question])
        s.flush()
        s.add(ConsultationLink(consultation_id=consultation.id, psid=PSID))
        stamp = int(old.timestamp())
        for key, purpose, text in (
            (f"consultation-reply:{consultation.id}:{stamp}", "consultation_reply", "相談への返信"),
            (f"question-reply:{question.id}:{stamp}", "question_reply", "質問への返信"),
        ):
            s.add(
                OutboundMessage(
                    idempotency_key=key,
                    channel="messenger",
                    recipient=PSID,
                    purpose=purpose,
                    status="sent",
                    payload={"message": {"text": text}},
                )
            )
    assert mentions(runtime, "への返信") == ["outbound_messages.payload"]
    detail = run_at(runtime, NOW)
    assert detail == "erased 0, pruned 1 consultations, pruned 1 member questions"
    assert mentions(runtime, "への返信") == []
    assert mentions(runtime, PSID) == []
    assert mentions(runtime, "-reply:") == []
