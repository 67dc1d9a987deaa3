"""Questions in Messenger, through signed webhook events only: the FAQ from the menu and from
free text, small talk, unknown questions kept once for the secretariat's inbox, and silence
while a human owns the thread."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot import create_app
from bot.cli import main
from bot.community.questions import import_faq, parse_faq_file
from bot.models import Application, Event, EventRsvp, FaqEntry, MemberQuestion
from bot.runtime import Runtime
from tests.integration.messenger_threads import (
    PAGE,
    PAGE_INBOX_APP_ID,
    approved_applicant,
    body,
    drain,
    echo_item,
    ms,
    referral_item,
    sent_to,
    text_item,
    texts,
)
from tests.integration.test_jobs_retention import run_at
from tests.integration.test_messenger_flow import post

PSID = "7310000000000042"
SEED = Path(__file__).resolve().parents[2] / "bot" / "community" / "data" / "faq.toml"
FEE_ANSWER = "無料でご参加いただけます。"
RECEIVED = "事務局に伝えました。回答までしばらくお待ちください。"


def load_seed_faq(rt: Runtime) -> None:
    seeds, problems = parse_faq_file(SEED.read_text(encoding="utf-8"))
    assert problems == []
    with rt.db.transaction() as s:
        import_faq(s, seeds, actor="test", now=rt.now())


def member_thread(runtime: Runtime) -> tuple[Runtime, FlaskClient]:
    """OC-AAAAAA approved, linked to PSID at minute 1 (invitations delivered), the seed FAQ."""
    rt = approved_applicant(runtime)
    client = create_app(runtime=rt).test_client()
    assert post(client, rt, body(referral_item(PSID, 1, "tok-OC-AAAAAA"))).status_code == 200
    drain(rt)
    load_seed_faq(rt)
    return rt, client


def say(client: FlaskClient, rt: Runtime, minutes: float, text: str, **kw: Any) -> None:
    assert post(client, rt, body(text_item(PSID, minutes, text, **kw))).status_code == 200
    drain(rt)


def postback_item(psid: str, minutes: float, payload: str) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "postback": {"mid": f"m_pb_{psid}_{minutes}", "title": payload, "payload": payload},
    }


def quick_reply_item(psid: str, minutes: float, title: str, payload: str) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "message": {
            "mid": f"m_qr_{psid}_{minutes}",
            "text": title,
            "quick_reply": {"payload": payload},
        },
    }


def questions_of(rt: Runtime) -> list[MemberQuestion]:
    with rt.db.transaction() as s:
        rows = list(s.scalars(select(MemberQuestion).order_by(MemberQuestion.id)))
        s.expunge_all()
        return rows


def last_text(rt: Runtime, psid: str = PSID) -> str:
    return texts(sent_to(rt, psid))[-1]


@pytest.fixture
def thread(runtime: Runtime) -> tuple[Runtime, FlaskClient]:
    return member_thread(runtime)


def test_fee_question_in_free_text_gets_the_faq_answer(thread) -> None:
    rt, client = thread
    before = len(sent_to(rt, PSID))
    say(client, rt, 5, "参加費はかかりますか")
    new = sent_to(rt, PSID)[before:]
    assert len(new) == 1
    assert FEE_ANSWER in new[0]["text"]
    assert new[0]["quick_replies"][0]["payload"] == "FAQ"
    assert questions_of(rt) == []
    sent = [m for m in rt.messenger.sent if m["psid"] == PSID]  # type: ignore[attr-defined]
    assert sent[-1]["messaging_type"] == "RESPONSE"


@pytest.mark.parametrize(
    ("text", "answer_part"),
    [
        ("お金かかる？", FEE_ANSWER),
        ("組織のアカウントで参加できますか", "個人アカウントでのご参加をお願いします"),
        ("育休中でも入れますか", "育児休業"),
        ("フェイスブックやってないんですが", "Facebookアカウントが必要になります"),
        ("ズームに入れません", "ZoomはURLから簡単に参加"),
    ],
)
def test_paraphrases_reach_their_answer(thread, text: str, answer_part: str) -> None:
    rt, client = thread
    say(client, rt, 5, text)
    assert answer_part in last_text(rt)
    assert questions_of(rt) == []


def test_faq_menu_lists_questions_as_quick_replies_that_answer(thread) -> None:
    rt, client = thread
    assert post(client, rt, body(postback_item(PSID, 5, "FAQ"))).status_code == 200
    drain(rt)
    listing = sent_to(rt, PSID)[-1]
    replies = listing["quick_replies"]
    assert 1 <= len(replies) <= 13
    assert all(len(r["title"]) <= 20 for r in replies)
    assert all(r["payload"].startswith("FAQ_ITEM:") for r in replies)
    assert "1. 参加料はかかりますか？" in listing["text"]
    fee = replies[0]
    qr = quick_reply_item(PSID, 6, fee["title"], fee["payload"])
    assert post(client, rt, body(qr)).status_code == 200
    drain(rt)
    assert FEE_ANSWER in last_text(rt)
    assert questions_of(rt) == []


def test_a_deactivated_or_unknown_faq_item_says_so(thread) -> None:
    rt, client = thread
    with rt.db.transaction() as s:
        entry = s.scalars(select(FaqEntry).order_by(FaqEntry.position)).first()
        assert entry is not None
        entry.active = False
        entry_id = entry.id
    for n, argument in enumerate((str(entry_id), "999999", "²", "x" * 50)):
        qr = quick_reply_item(PSID, 5 + n, "1. 参加料", f"FAQ_ITEM:{argument}")
        assert post(client, rt, body(qr)).status_code == 200
        drain(rt)
        assert "現在ご案内していません" in last_text(rt)


def test_unknown_question_lands_in_the_inbox_once_despite_redelivery(thread) -> None:
    rt, client = thread
    item = text_item(PSID, 5, "来週の勉強会のテーマは何ですか", mid="m_question_1")
    assert post(client, rt, body(item)).status_code == 200
    assert post(client, rt, body(item)).status_code == 200  # Meta redelivers
    drain(rt)
    assert post(client, rt, body(item)).status_code == 200
    drain(rt)
    (question,) = questions_of(rt)
    assert question.text == "来週の勉強会のテーマは何ですか"
    assert question.status == "open" and question.psid == PSID
    with rt.db.transaction() as s:
        app = s.scalars(select(Application).where(Application.code == "OC-AAAAAA")).one()
        assert question.application_id == app.id
    assert texts(sent_to(rt, PSID)).count(RECEIVED) == 1


def test_an_unlinked_person_can_ask_too(thread) -> None:
    rt, client = thread
    item = text_item("9990000000000001", 5, "退職したらどうなりますか")
    assert post(client, rt, body(item)).status_code == 200
    drain(rt)
    (question,) = questions_of(rt)
    assert (question.psid, question.application_id) == ("9990000000000001", None)
    assert RECEIVED in texts(sent_to(rt, "9990000000000001"))


def test_thanks_get_a_short_reply_and_nothing_is_kept(thread) -> None:
    rt, client = thread
    say(client, rt, 5, "ありがとうございます！")
    assert "ありがとうございます" in last_text(rt)
    say(client, rt, 6, "👍")
    assert questions_of(rt) == []


def test_a_greeting_before_a_question_does_not_swallow_it(thread) -> None:
    rt, client = thread
    say(client, rt, 5, "お疲れ様です。参加費は？")
    assert FEE_ANSWER in last_text(rt)
    say(client, rt, 6, "はいれますか？")  # 入れますか, not はい
    assert RECEIVED in last_text(rt)
    say(client, rt, 7, "okinawaの課はありますか")
    assert RECEIVED in last_text(rt)
    assert [q.text for q in questions_of(rt)] == ["はいれますか？", "okinawaの課はありますか"]


def test_a_long_question_is_kept_bounded(thread) -> None:
    rt, client = thread
    say(client, rt, 5, "相談" + "あ" * 4000)
    (question,) = questions_of(rt)
    assert len(question.text) == 2000 and question.text.endswith("…")


def test_while_a_human_answers_nothing_is_sent_nor_kept(thread) -> None:
    rt, client = thread
    echo = echo_item(PSID, 3, PAGE_INBOX_APP_ID)
    assert post(client, rt, body(echo)).status_code == 200
    drain(rt)
    before = len(sent_to(rt, PSID))
    say(client, rt, 5, "来週の勉強会のテーマは何ですか")
    say(client, rt, 6, "参加費はかかりますか")
    assert questions_of(rt) == []
    assert len(sent_to(rt, PSID)) == before


def test_under_standby_nothing_is_sent_nor_kept(thread) -> None:
    rt, client = thread
    before = len(sent_to(rt, PSID))
    item = text_item(PSID, 5, "来週の勉強会のテーマは何ですか")
    assert post(client, rt, body(item, standby=True)).status_code == 200
    drain(rt)
    assert questions_of(rt) == []
    assert len(sent_to(rt, PSID)) == before


def test_faq_import_is_idempotent_and_reports_bad_entries(runtime: Runtime) -> None:
    text = SEED.read_text(encoding="utf-8") + (
        '\n[[faq]]\nquestion = ""\nanswer = "x"\n'
        '\n[[faq]]\nquestion = "長すぎる回答"\nanswer = "' + "あ" * 1501 + '"\n'
        '\n[[faq]]\nquestion = "会場はどこですか？"\nanswer = "オンラインです。"\n'
        'keywords = "場所"\n'
    )
    seeds, problems = parse_faq_file(text)
    assert [p.split(":")[0] for p in problems] == ["entry 8", "entry 9", "entry 10"]
    assert len(seeds) == 7
    with runtime.db.transaction() as s:
        first = import_faq(s, seeds, actor="test", now=runtime.now())
    with runtime.db.transaction() as s:
        second = import_faq(s, seeds, actor="test", now=runtime.now())
    assert (first.created, first.updated, first.unchanged) == (7, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 7)
    changed = [
        s.__class__(s.question, s.answer + "（改）", s.keywords, s.position) if n == 0 else s
        for n, s in enumerate(seeds)
    ]
    with runtime.db.transaction() as s:
        third = import_faq(s, changed, actor="test", now=runtime.now())
        assert (third.created, third.updated) == (0, 1)
        assert s.scalar(select(func.count()).select_from(FaqEntry)) == 7


def test_questions_are_asked_in_the_tokyo_evening_and_kept_in_utc(thread) -> None:
    rt, client = thread
    say(client, rt, 5, "来週の勉強会のテーマは何ですか")
    (question,) = questions_of(rt)
    assert question.asked_at.utcoffset() == timedelta(0)


def test_retention_prunes_settled_questions_and_past_rsvps_but_keeps_open_ones(
    runtime: Runtime,
) -> None:
    now = runtime.now()
    old = now - timedelta(days=200)
    with runtime.db.transaction() as s:
        event = Event(kind="study", title="勉強会", starts_at=old, ends_at=old + timedelta(hours=1))
        recent = Event(
            kind="study", title="勉強会", starts_at=now, ends_at=now + timedelta(hours=1)
        )
        s.add_all([event, recent])
        s.flush()
        s.add_all(
            [
                MemberQuestion(
                    psid="p1",
                    text="答えた古い質問",
                    asked_at=old,
                    status="answered",
                    replied_at=old + timedelta(days=1),
                ),
                MemberQuestion(psid="p1", text="閉じた古い質問", asked_at=old, status="closed"),
                MemberQuestion(psid="p1", text="まだ未対応の古い質問", asked_at=old),
                MemberQuestion(psid="p1", text="最近答えた質問", asked_at=now, status="answered"),
                EventRsvp(event_id=event.id, psid="p1", status="going", answered_at=old),
                EventRsvp(event_id=recent.id, psid="p1", status="going", answered_at=now),
            ]
        )
    detail = run_at(runtime, now)
    assert detail.endswith("pruned 2 member questions, pruned 1 event RSVPs")
    with runtime.db.transaction() as s:
        assert sorted(s.scalars(select(MemberQuestion.text))) == sorted(
            ["まだ未対応の古い質問", "最近答えた質問"]
        )
        assert [r.event_id for r in s.scalars(select(EventRsvp))] == [recent.id]


def test_cli_faq_import_loads_the_seed_and_lists_bad_entries(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[app]\ndatabase_url = "{database_url}"\n', encoding="utf-8")
    assert main(["--config", str(config), "faq", "import", str(SEED)]) == 0
    assert "faq: 7 created, 0 updated, 0 unchanged, 0 skipped" in capsys.readouterr().out
    bad = tmp_path / "faq.toml"
    bad.write_text(
        SEED.read_text(encoding="utf-8") + '\n[[faq]]\nquestion = "x"\nanswer = 3\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "faq", "import", str(bad)]) == 1
    out = capsys.readouterr()
    assert "faq: 0 created, 0 updated, 7 unchanged, 1 skipped" in out.out
    assert "skipped entry 8: answer: required text" in out.err
    assert main(["--config", str(config), "faq", "import", str(tmp_path / "none.toml")]) == 1
