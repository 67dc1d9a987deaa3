"""Anonymous consultation, through signed webhook events: members only, stored without identity,
reviewers never see who wrote it, admins see it only with a reason and every look audited, the
reply goes through the bot; logs carry no text; retention deletes consultations and links."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import (
    Application,
    AuditEntry,
    Consultation,
    ConsultationLink,
    InboundEvent,
    MemberQuestion,
    MessengerIdentity,
)
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    PAGE_INBOX_APP_ID,
    body,
    drain,
    echo_item,
    sent_to,
    text_item,
    texts,
)
from tests.integration.test_console_helpers import logged_in
from tests.integration.test_console_helpers import post as console_post
from tests.integration.test_jobs_retention import run_at
from tests.integration.test_messenger_flow import post
from tests.integration.test_questions_messenger import (
    PSID,
    member_thread,
    postback_item,
    quick_reply_item,
    say,
)

SECRET = "上司からのハラスメントで悩んでいます。匿名で相談させてください。"
REPLY = "おつらい状況ですね。まずは人事課の相談窓口に……"


def consult(client: FlaskClient, rt: Runtime, minutes: float, text: str = SECRET) -> None:
    assert post(client, rt, body(postback_item(PSID, minutes, "CONSULT"))).status_code == 200
    drain(rt)
    say(client, rt, minutes + 1, text)


@pytest.fixture
def consulted(runtime: Runtime) -> tuple[Runtime, FlaskClient, int]:
    rt, client = member_thread(runtime)
    consult(client, rt, 5)
    with rt.db.transaction() as s:
        return rt, client, s.scalars(select(Consultation.id)).one()


def test_a_member_consults_anonymously_text_and_link_kept_apart(consulted) -> None:
    rt, _, consultation_id = consulted
    with rt.db.transaction() as s:
        consultation = s.get(Consultation, consultation_id)
        link = s.get(ConsultationLink, consultation_id)
        app = s.scalars(select(Application).where(Application.code == "OC-AAAAAA")).one()
        assert consultation is not None and link is not None
        assert consultation.text == SECRET and consultation.status == "open"
        assert (link.psid, link.application_id) == (PSID, app.id)
        assert s.scalars(select(MemberQuestion)).all() == []  # not a question for the inbox
        identity = s.scalars(select(MessengerIdentity).where(MessengerIdentity.psid == PSID)).one()
        # further texts within 30 minutes continue it
        assert identity.conversation_state == f"consultation_more:{consultation_id}"
    sent = texts(sent_to(rt, PSID))
    assert any("匿名でのご相談を受け付けます" in t for t in sent)
    assert "ご相談を受け付けました" in sent[-1]
    start = [m for m in sent_to(rt, PSID) if "匿名でのご相談を受け付けます" in m.get("text", "")]
    assert start[0]["quick_replies"] == [
        {"content_type": "text", "title": "やめる", "payload": "CONSULT_CANCEL"}
    ]


def test_reviewers_never_see_who_sent_it(consulted) -> None:
    rt, _, consultation_id = consulted
    reviewer = logged_in(rt, "rev", "reviewer")
    html = reviewer.get("/console/consultations").get_data(as_text=True)
    assert SECRET in html
    for identity in (PSID, "OC-AAAAAA", "山田", "oc-aaaaaa@example.jp", "tok-OC-AAAAAA"):
        assert identity not in html
    assert "送信者を確認" not in html
    assert reviewer.get(f"/console/consultations/{consultation_id}/sender").status_code == 403
    refused = console_post(
        reviewer, f"/console/consultations/{consultation_id}/sender", {"reason": "知りたい"}
    )
    assert refused.status_code == 403
    with rt.db.transaction() as s:
        assert s.scalars(select(AuditEntry.action)).all().count("consultation_sender_viewed") == 0


def test_admin_sees_the_sender_only_with_a_reason_and_every_look_is_audited(consulted) -> None:
    rt, _, consultation_id = consulted
    admin = logged_in(rt, "boss", "admin")
    page = admin.get("/console/consultations").get_data(as_text=True)
    assert "送信者を確認" in page and PSID not in page and "OC-AAAAAA" not in page
    url = f"/console/consultations/{consultation_id}/sender"
    form = admin.get(url).get_data(as_text=True)
    assert "理由" in form and "OC-AAAAAA" not in form
    missing = console_post(admin, url, {"reason": "  "})
    assert missing.status_code == 400 and "理由を入力してください" in missing.get_data(as_text=True)
    assert "OC-AAAAAA" not in missing.get_data(as_text=True)
    for reason in ("命に関わる内容のため", "再確認"):
        shown = console_post(admin, url, {"reason": reason}).get_data(as_text=True)
        assert "OC-AAAAAA" in shown and "山田 太郎" in shown
    with rt.db.transaction() as s:
        looks = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "consultation_sender_viewed")
            .order_by(AuditEntry.id)
        ).all()
        assert [(e.actor, e.reason, e.detail["consultation_id"]) for e in looks] == [
            ("boss", "命に関わる内容のため", consultation_id),
            ("boss", "再確認", consultation_id),
        ]
        assert all(e.application_id is None for e in looks)  # not on the person's history
        assert all(PSID not in str(e.detail) for e in looks)


def test_the_reply_goes_through_the_bot_and_the_page_never_says_to_whom(consulted) -> None:
    rt, _, consultation_id = consulted
    reviewer = logged_in(rt, "rev", "reviewer")
    response = console_post(
        reviewer, f"/console/consultations/{consultation_id}/reply", {"reply": REPLY}
    )
    assert response.status_code == 302
    drain(rt)
    sent = [m for m in rt.messenger.sent if m["psid"] == PSID]  # type: ignore[attr-defined]
    assert REPLY in sent[-1]["message"]["text"]
    assert sent[-1]["messaging_type"] == "RESPONSE"
    html = reviewer.get("/console/consultations").get_data(as_text=True)
    assert REPLY in html and PSID not in html and "OC-AAAAAA" not in html
    console_post(reviewer, f"/console/consultations/{consultation_id}/posted")
    with rt.db.transaction() as s:
        consultation = s.get(Consultation, consultation_id)
        assert consultation is not None
        assert (consultation.status, consultation.posted_by) == ("answered", "rev")
        details = [
            e.detail
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action.like("consultation_%")))
        ]
    assert details == [{"consultation_id": consultation_id}] * 2
    assert "グループに匿名で投稿済み" in reviewer.get("/console/consultations").get_data(
        as_text=True
    )


def test_outside_every_window_the_reply_is_kept_as_a_draft(runtime: Runtime) -> None:
    rt, client = member_thread(runtime)
    with rt.db.transaction() as s:  # an application without an address to reach
        app = s.scalars(select(Application).where(Application.code == "OC-AAAAAA")).one()
        app.email = " "
    consult(client, rt, 5)
    with rt.db.transaction() as s:
        consultation_id = s.scalars(select(Consultation.id)).one()
    rt.now.advance(3 * 24 * 3600)  # type: ignore[attr-defined]
    reviewer = logged_in(rt, "rev", "reviewer")
    response = console_post(
        reviewer, f"/console/consultations/{consultation_id}/reply", {"reply": REPLY}
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "今は返信を届けられません" in html and REPLY in html
    with rt.db.transaction() as s:
        consultation = s.get(Consultation, consultation_id)
        assert consultation is not None
        assert (consultation.status, consultation.reply) == ("open", REPLY)


def test_non_members_are_refused(runtime: Runtime) -> None:
    rt, client = member_thread(runtime)
    stranger = "9990000000000001"
    assert post(client, rt, body(postback_item(stranger, 5, "CONSULT"))).status_code == 200
    drain(rt)
    assert "メンバー（参加が承認された方）" in texts(sent_to(rt, stranger))[-1]
    assert post(client, rt, body(text_item(stranger, 6, SECRET))).status_code == 200
    drain(rt)
    with rt.db.transaction() as s:
        assert s.scalars(select(Consultation)).all() == []
        # the text went to the inbox as an ordinary question instead
        assert s.scalars(select(MemberQuestion.text)).all() == [SECRET]


def test_cancel_stops_waiting(runtime: Runtime) -> None:
    rt, client = member_thread(runtime)
    assert post(client, rt, body(postback_item(PSID, 5, "CONSULT"))).status_code == 200
    drain(rt)
    assert (
        post(client, rt, body(quick_reply_item(PSID, 6, "やめる", "CONSULT_CANCEL"))).status_code
        == 200
    )
    drain(rt)
    assert "匿名での相談をやめました" in texts(sent_to(rt, PSID))[-1]
    say(client, rt, 7, "参加費はかかりますか")
    with rt.db.transaction() as s:
        assert s.scalars(select(Consultation)).all() == []


def test_a_wait_that_lapsed_keeps_the_text_nowhere_and_says_so(runtime: Runtime) -> None:
    """Written as a consultation, it must not become a question that shows who wrote it."""
    rt, client = member_thread(runtime)
    assert post(client, rt, body(postback_item(PSID, 5, "CONSULT"))).status_code == 200
    drain(rt)
    say(client, rt, 5 + 24 * 60 + 1, SECRET)
    with rt.db.transaction() as s:
        assert s.scalars(select(Consultation)).all() == []
        assert s.scalars(select(MemberQuestion)).all() == []
        assert s.scalars(select(MessengerIdentity.conversation_state)).one() == ""
        assert all("ハラスメント" not in str(e.payload) for e in s.scalars(select(InboundEvent)))
    assert "24時間が過ぎた" in texts(sent_to(rt, PSID))[-1]


def test_a_message_split_in_parts_stays_one_anonymous_consultation(runtime: Runtime) -> None:
    """The second part is not a question in the 質問 tab next to the member's name."""
    rt, client = member_thread(runtime)
    consult(client, rt, 5)
    say(client, rt, 6.5, "続きです。人事課の係長のことです。")
    say(client, rt, 30, "もう一つ、異動の希望も出したいです。")
    with rt.db.transaction() as s:
        (consultation,) = s.scalars(select(Consultation)).all()
        assert consultation.text.split("\n\n") == [
            SECRET,
            "続きです。人事課の係長のことです。",
            "もう一つ、異動の希望も出したいです。",
        ]
        assert s.scalars(select(MemberQuestion)).all() == []
    assert "ご相談に追加しました" in texts(sent_to(rt, PSID))[-1]


def test_after_the_follow_up_window_or_done_texts_are_read_as_usual(runtime: Runtime) -> None:
    rt, client = member_thread(runtime)
    consult(client, rt, 5)
    say(client, rt, 6 + 31, "来週の勉強会のテーマは何ですか")
    assert post(client, rt, body(postback_item(PSID, 40, "CONSULT"))).status_code == 200
    drain(rt)
    say(client, rt, 41, "二つ目の相談です。")
    assert (
        post(client, rt, body(quick_reply_item(PSID, 42, "相談を終える", "CONSULT_DONE")))
    ).status_code == 200
    drain(rt)
    say(client, rt, 43, "勉強会の資料はどこにありますか")
    with rt.db.transaction() as s:
        assert [c.text for c in s.scalars(select(Consultation).order_by(Consultation.id))] == [
            SECRET,
            "二つ目の相談です。",
        ]
        asked = s.scalars(select(MemberQuestion.text).order_by(MemberQuestion.id)).all()
        assert asked == ["来週の勉強会のテーマは何ですか", "勉強会の資料はどこにありますか"]


def test_a_consultation_that_names_a_code_or_an_address_is_still_a_consultation(
    runtime: Runtime,
) -> None:
    """Read before the typed-code and email linking: nothing of it is taken for a 申込番号."""
    rt, client = member_thread(runtime)
    text = "OC-AAAAAA の件で、担当の tanaka@city.example.lg.jp さんとの関係に悩んでいます。"
    consult(client, rt, 5, text)
    with rt.db.transaction() as s:
        assert s.scalars(select(Consultation.text)).all() == [text]
        assert s.scalars(select(MessengerIdentity.link_code)).one() is None
    assert "ご相談を受け付けました" in texts(sent_to(rt, PSID))[-1]


def test_the_stored_webhook_event_and_the_inbox_page_keep_no_consultation_text(consulted) -> None:
    rt, _, _ = consulted
    with rt.db.transaction() as s:
        payloads = [str(e.payload) for e in s.scalars(select(InboundEvent))]
    assert payloads and all("ハラスメント" not in p for p in payloads)
    assert any("匿名相談のため表示しません" in p for p in payloads)
    admin = logged_in(rt, "boss", "admin")
    page = admin.get("/console/inbox?state=done").get_data(as_text=True)
    assert "ハラスメント" not in page


def test_taken_even_while_a_human_owns_the_thread(runtime: Runtime) -> None:
    """The person asked for it in so many words: like a menu button, it is answered."""
    rt, client = member_thread(runtime)
    assert post(client, rt, body(echo_item(PSID, 3, PAGE_INBOX_APP_ID))).status_code == 200
    consult(client, rt, 5)
    with rt.db.transaction() as s:
        assert len(s.scalars(select(Consultation)).all()) == 1
    assert "ご相談を受け付けました" in texts(sent_to(rt, PSID))[-1]


def test_logs_carry_no_text_of_consultations(runtime: Runtime, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rt, client = member_thread(runtime)
    consult(client, rt, 5)
    admin = logged_in(rt, "boss", "admin")
    with rt.db.transaction() as s:
        consultation_id = s.scalars(select(Consultation.id)).one()
    console_post(admin, f"/console/consultations/{consultation_id}/reply", {"reply": REPLY})
    drain(rt)
    assert "ハラスメント" not in caplog.text and "人事課" not in caplog.text
    assert "anonymous consultation" in caplog.text


def test_retention_deletes_old_consultations_and_their_links(consulted) -> None:
    rt, client, old_id = consulted
    later = rt.now() + timedelta(days=170)
    rt.now.at = later  # type: ignore[attr-defined]
    consult(client, rt, 170 * 24 * 60 + 5, "二つ目の相談です")
    detail = run_at(rt, later + timedelta(days=11))
    assert "pruned 1 consultations" in detail
    with rt.db.transaction() as s:
        kept = s.scalars(select(Consultation)).all()
        assert [c.text for c in kept] == ["二つ目の相談です"]
        assert [link.consultation_id for link in s.scalars(select(ConsultationLink))] == [
            kept[0].id
        ]
        assert s.get(Consultation, old_id) is None
