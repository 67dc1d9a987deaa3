"""The secretariat's 質問 inbox and FAQ pages: replies by the right channel (RESPONSE in the
window, HUMAN_AGENT only when enabled, else email, else a kept draft), FAQ from an answered
question, FAQ editing with clear errors, audit of every change."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.community import questions
from bot.models import AuditEntry, FaqEntry, MemberQuestion, OutboundMessage
from bot.runtime import Runtime
from tests.integration.messenger_threads import body, drain, sent_to, text_item, texts
from tests.integration.test_console_helpers import logged_in
from tests.integration.test_console_helpers import post as console_post
from tests.integration.test_jobs_retention import run_at
from tests.integration.test_messenger_flow import post as webhook_post
from tests.integration.test_questions_messenger import PSID, member_thread, say

QUESTION = "来週の勉強会のテーマは何ですか"
REPLY = "来週は「議会答弁の書き方」です。<b>ぜひ</b>"


@pytest.fixture
def asked(runtime: Runtime) -> tuple[Runtime, int]:
    """A member asked something the FAQ does not answer, at T0 + 5 minutes."""
    rt, client = member_thread(runtime)
    say(client, rt, 5, QUESTION)
    with rt.db.transaction() as s:
        return rt, s.scalars(select(MemberQuestion.id)).one()


def question(rt: Runtime, question_id: int) -> MemberQuestion:
    with rt.db.transaction() as s:
        row = s.get(MemberQuestion, question_id)
        assert row is not None
        s.expunge(row)
        return row


def actions(rt: Runtime) -> list[tuple[str, dict]]:
    with rt.db.transaction() as s:
        return [(e.action, e.detail) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_inbox_shows_the_question_with_who_asked_in_tokyo_time(asked) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    html = reviewer.get("/console/questions").get_data(as_text=True)
    assert QUESTION in html
    assert "OC-AAAAAA" in html and "山田 太郎" in html
    asked_at = question(rt, question_id).asked_at.astimezone(rt.settings.tz)
    assert asked_at.strftime("%Y-%m-%d %H:%M") in html
    assert "メッセンジャー（24時間以内の返信）" in html


def test_reply_inside_the_window_goes_as_a_messenger_response(asked) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    response = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    assert response.status_code == 302
    drain(rt)
    sent = [m for m in rt.messenger.sent if m["psid"] == PSID]  # type: ignore[attr-defined]
    assert REPLY in sent[-1]["message"]["text"] and QUESTION in sent[-1]["message"]["text"]
    assert (sent[-1]["messaging_type"], sent[-1]["tag"]) == ("RESPONSE", None)
    row = question(rt, question_id)
    assert (row.status, row.reply_channel, row.replied_by) == ("answered", "response", "rev")
    assert ("question_replied", {"question_id": question_id, "channel": "response"}) in actions(rt)
    html = reviewer.get("/console/questions").get_data(as_text=True)
    assert "&lt;b&gt;ぜひ&lt;/b&gt;" in html and "<b>ぜひ</b>" not in html
    again = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": "再送"})
    assert again.status_code == 409 and "すでに回答" in again.get_data(as_text=True)


def test_reply_outside_the_window_goes_by_email(asked) -> None:
    rt, question_id = asked
    rt.now.advance(2 * 24 * 3600)  # type: ignore[attr-defined]
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    drain(rt)
    mails = rt.mailer.sent  # type: ignore[attr-defined]
    (mail,) = [m for m in mails if m["subject"] == "【オンライン市役所】ご質問への回答"]
    assert mail["to"] == "oc-aaaaaa@example.jp"
    assert REPLY in mail["body"] and mail["subject"] == "【オンライン市役所】ご質問への回答"
    assert question(rt, question_id).reply_channel == "email"


def test_human_agent_only_when_enabled_and_within_seven_days(asked) -> None:
    rt, question_id = asked
    rt.settings = rt.settings.replace(
        messenger=dataclasses.replace(rt.settings.messenger, human_agent_enabled=True)
    )
    rt.now.advance(3 * 24 * 3600)  # type: ignore[attr-defined]
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    drain(rt)
    sent = [m for m in rt.messenger.sent if m["psid"] == PSID]  # type: ignore[attr-defined]
    assert (sent[-1]["messaging_type"], sent[-1]["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert question(rt, question_id).reply_channel == "human_agent"


def test_no_way_to_reach_them_keeps_the_reply_as_a_draft(runtime: Runtime) -> None:
    rt, client = member_thread(runtime)
    stranger = "9990000000000001"
    webhook_post(client, rt, body(text_item(stranger, 5, QUESTION)))
    drain(rt)
    with rt.db.transaction() as s:
        question_id = s.scalars(select(MemberQuestion.id)).one()
    rt.now.advance(2 * 24 * 3600)  # type: ignore[attr-defined]
    reviewer = logged_in(rt, "rev", "reviewer")
    response = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "今は返信を届けられません" in html
    assert "来週は「議会答弁の書き方」です。" in html  # the text is still in the box
    row = question(rt, question_id)
    assert (row.status, row.reply) == ("open", REPLY)
    with rt.db.transaction() as s:
        keys = [
            k
            for k in s.scalars(select(OutboundMessage.idempotency_key))
            if k.startswith("question-reply")
        ]
    assert keys == []
    # the draft is shown again on the page
    assert "議会答弁の書き方" in reviewer.get("/console/questions").get_data(as_text=True)
    # once they write again, the reply goes
    webhook_post(client, rt, body(text_item(stranger, 2 * 24 * 60 + 10, "まだですか？")))
    drain(rt)
    console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    drain(rt)
    assert any(REPLY in t for t in texts(sent_to(rt, stranger)))


@pytest.mark.parametrize(("reply", "error"), [("   ", "返信を入力"), ("あ" * 1501, "1500文字以内")])
def test_bad_reply_is_refused_with_the_text_kept(asked, reply: str, error: str) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    response = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": reply})
    assert response.status_code == 400 and error in response.get_data(as_text=True)
    assert question(rt, question_id).status == "open"


def test_close_and_reopen_are_audited(asked) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/close")
    assert question(rt, question_id).status == "closed"
    console_post(reviewer, f"/console/questions/{question_id}/close")
    assert question(rt, question_id).status == "open"
    done = [a for a, _ in actions(rt) if a.startswith("question_")]
    assert done == ["question_closed", "question_reopened"]


def test_an_answered_question_becomes_a_faq_entry_after_editing(asked) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    form = reviewer.get(f"/console/questions/{question_id}/faq").get_data(as_text=True)
    assert QUESTION in form and "議会答弁の書き方" in form
    bad = console_post(
        reviewer,
        f"/console/questions/{question_id}/faq",
        {"question": "", "answer": "勉強会のテーマは毎回お知らせします。", "keywords": ""},
    )
    assert bad.status_code == 400 and "質問を入力してください" in bad.get_data(as_text=True)
    assert "勉強会のテーマは毎回お知らせします。" in bad.get_data(as_text=True)
    ok = console_post(
        reviewer,
        f"/console/questions/{question_id}/faq",
        {
            "question": "勉強会のテーマはどこで分かりますか？",
            "answer": "勉強会のテーマは毎回お知らせします。",
            "keywords": "テーマ\n勉強会",
        },
    )
    assert ok.status_code == 302
    with rt.db.transaction() as s:
        entry = s.scalars(
            select(FaqEntry).where(FaqEntry.question == "勉強会のテーマはどこで分かりますか？")
        ).one()
        assert entry.created_from_question_id == question_id
        assert entry.keywords == "テーマ\n勉強会"
        assert s.get(MemberQuestion, question_id).faq_entry_id == entry.id  # type: ignore[union-attr]
        entry_id = entry.id
    assert ("faq_created", {"faq_id": entry_id, "from_question_id": question_id}) in actions(rt)


def test_faq_page_adds_edits_and_deactivates_entries(asked) -> None:
    rt, _ = asked
    admin = logged_in(rt, "boss", "admin")
    page = admin.get("/console/faq").get_data(as_text=True)
    assert "参加料はかかりますか？" in page
    bad = console_post(
        admin, "/console/faq", {"question": "x", "answer": "", "keywords": "", "position": "十"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "回答を入力してください" in html and "表示順は" in html
    console_post(
        admin,
        "/console/faq",
        {"question": "会場はどこ？", "answer": "オンラインです。", "keywords": "", "position": "5"},
    )
    with rt.db.transaction() as s:
        entry = s.scalars(select(FaqEntry).where(FaqEntry.question == "会場はどこ？")).one()
        entry_id = entry.id
    edited = console_post(
        admin,
        f"/console/faq/{entry_id}",
        {
            "question": "会場はどこですか？",
            "answer": "Zoomです。",
            "keywords": "場所",
            "position": "5",
        },
    )
    assert edited.status_code == 302
    console_post(admin, f"/console/faq/{entry_id}/active")
    with rt.db.transaction() as s:
        entry = s.get(FaqEntry, entry_id)
        assert entry is not None
        assert (entry.question, entry.answer, entry.active) == (
            "会場はどこですか？",
            "Zoomです。",
            False,
        )
    done = [(a, d) for a, d in actions(rt) if a.startswith("faq_")]
    assert [a for a, _ in done] == ["faq_imported", "faq_created", "faq_updated", "faq_deactivated"]
    assert done[2][1]["changed"] == ["answer", "keywords", "question"]
    assert admin.get("/console/faq/999999").status_code == 404


def test_console_pages_need_a_login(asked) -> None:
    rt, question_id = asked
    anonymous: FlaskClient = logged_in(rt, "rev", "reviewer").application.test_client()
    for url in ("/console/questions", "/console/faq", f"/console/questions/{question_id}/faq"):
        assert anonymous.get(url).status_code == 302


def test_questions_page_open_first_oldest_at_the_top(asked) -> None:
    rt, _ = asked
    with rt.db.transaction() as s:
        s.add(
            MemberQuestion(
                psid="p-older",
                text="古い質問です",
                asked_at=rt.now() - timedelta(days=1),
                status="open",
            )
        )
    html = logged_in(rt, "rev", "reviewer").get("/console/questions").get_data(as_text=True)
    assert html.index("古い質問です") < html.index(QUESTION)


def test_two_reviewers_replying_at_once_the_second_is_refused(asked) -> None:
    """Both saw the question open; the first reply wins, the second is refused and the
    member gets only the first (review #17, finding 6)."""
    rt, question_id = asked
    first = logged_in(rt, "rev", "reviewer")
    with pytest.raises(questions.ReplyRefused, match="すでに回答"):
        with rt.db.transaction() as s:
            seen = s.get(MemberQuestion, question_id)
            assert seen is not None and seen.status == "open"  # the second reviewer's view
            response = console_post(
                first, f"/console/questions/{question_id}/reply", {"reply": REPLY}
            )
            assert response.status_code == 302
            questions.answer_question(
                s, seen, "二つ目の返信", actor="rev2", settings=rt.settings, now=rt.now()
            )
    drain(rt)
    row = question(rt, question_id)
    assert (row.status, row.reply, row.replied_by) == ("answered", REPLY, "rev")
    replies = [t for t in texts(sent_to(rt, PSID)) if "返信" in t or REPLY in t]
    assert [REPLY in t for t in replies] == [True]
    assert not any("二つ目の返信" in t for t in texts(sent_to(rt, PSID)))


def test_a_closed_question_is_not_answered_until_reopened(asked) -> None:
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/close")
    response = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "クローズされています" in html
    assert "書いた返信:「来週は「議会答弁の書き方」です。&lt;b&gt;ぜひ&lt;/b&gt;」" in html  # kept
    row = question(rt, question_id)
    assert (row.status, row.reply) == ("closed", "")
    assert not any(REPLY in t for t in texts(sent_to(rt, PSID)))
    console_post(reviewer, f"/console/questions/{question_id}/close")  # 未対応に戻す
    response = console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    assert response.status_code == 302
    drain(rt)
    assert REPLY in texts(sent_to(rt, PSID))[-1]


def test_a_reply_left_by_an_earlier_question_with_the_same_id_does_not_swallow_this_one(
    asked,
) -> None:
    """SQLite gives a new question the id of a deleted one: its reply key differs all the same,
    and retention empties the old reply (review #17, findings 2 and 5)."""
    rt, question_id = asked
    reviewer = logged_in(rt, "rev", "reviewer")
    console_post(reviewer, f"/console/questions/{question_id}/reply", {"reply": REPLY})
    drain(rt)
    later = rt.now() + timedelta(days=200)
    assert "pruned 1 member questions" in run_at(rt, later)
    with rt.db.transaction() as s:
        rows = list(
            s.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "question_reply"))
        )
        assert [(r.recipient, r.payload, r.idempotency_key) for r in rows] == [
            ("erased", {}, f"erased:{rows[0].id}")
        ]
    say(reviewer.application.test_client(), rt, 200 * 24 * 60 + 5, "二つ目の質問はこちらです")
    with rt.db.transaction() as s:
        new = s.scalars(select(MemberQuestion)).one()
        new_id, asked_at = new.id, new.asked_at
        # what an earlier question with this id left in the outbox before its key had the time
        for key in (
            f"question-reply:{new_id}",
            f"question-reply:{new_id}:{int(asked_at.timestamp()) - 3600}",
        ):
            s.add(
                OutboundMessage(
                    idempotency_key=key,
                    channel="messenger",
                    recipient=PSID,
                    purpose="question_reply",
                    status="sent",
                    payload={},
                )
            )
    reviewer = logged_in(rt, "rev2", "reviewer")  # the first login has long expired
    response = console_post(
        reviewer, f"/console/questions/{new_id}/reply", {"reply": "二つ目への返信"}
    )
    assert response.headers["Location"].endswith("/console/questions")
    drain(rt)
    assert "二つ目への返信" in texts(sent_to(rt, PSID))[-1]
    with rt.db.transaction() as s:
        keys = set(s.scalars(select(OutboundMessage.idempotency_key)))
    assert f"question-reply:{new_id}:{int(asked_at.timestamp())}" in keys
