"""The 課 directory in Messenger, at the webhook boundary on every engine: browsing by kind
(a generic template with join-request buttons, paged by ten), the one suggestion after the three
invitations, and the 大説明会 naming the 課 it introduces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot import create_app
from bot.community.sections import SectionFields, create_section
from bot.messaging.worker import Worker
from bot.models import Application, OutboundMessage, Purpose
from bot.runtime import Runtime
from tests.clock import Clock
from tests.integration.messenger_threads import (
    PAGE,
    approved_applicant,
    body,
    drain,
    get_started_item,
    ms,
    prepared,
    sent_to,
    texts,
)
from tests.integration.test_messenger_flow import add_application, approve, post


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return prepared(runtime)


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def add_sections(rt: Runtime, *fields: SectionFields) -> None:
    with rt.db.transaction() as s:
        for values in fields:
            create_section(s, values, rt.now())


def postback_item(psid: str, minutes: float, payload: str) -> dict[str, Any]:
    """A tapped postback button (the persistent menu, a template's button)."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": ms(minutes),
        "postback": {"mid": f"m_pb_{psid}_{minutes}", "title": payload, "payload": payload},
    }


def quick_reply_item(psid: str, minutes: float, title: str, payload: str) -> dict[str, Any]:
    """A tapped quick reply: a message carrying the reply's payload."""
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


def templates(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The payloads of the `kind` (generic|button) templates among `messages`."""
    return [
        m["attachment"]["payload"]
        for m in messages
        if "attachment" in m and m["attachment"]["payload"].get("template_type") == kind
    ]


WRITING = SectionFields(
    name="ライティング課",
    kind="skill",
    description="伝わる文章を書く力を磨く課です。",
    group_url="https://www.facebook.com/groups/writing",
    leader_name="山田 花子",
    keywords="文章\n広報",
    position=10,
)
DRAWING = SectionFields(
    name="図解・グラレコ課", kind="skill", description="図解で伝える課です。", position=20
)
LIBRARY = SectionFields(
    name="図書室",
    kind="hobby",
    description="本が好きな人の集まりです。",
    group_url="https://www.facebook.com/groups/library",
    keywords="読書",
)
HIDDEN = SectionFields(name="動画課", kind="skill", active=False)


def test_an_applicant_browses_sections_by_kind_and_gets_a_join_request_button(
    rt: Runtime, client: FlaskClient
) -> None:
    add_sections(rt, WRITING, DRAWING, LIBRARY, HIDDEN)
    assert post(client, rt, body(postback_item("p9", 1, "SECTIONS"))).status_code == 200
    drain(rt)
    menu = [m for m in sent_to(rt, "p9") if "quick_replies" in m][-1]
    assert "どの種類の課" in menu["text"]
    assert [(q["title"], q["payload"]) for q in menu["quick_replies"]] == [
        ("仕事直結型", "SECTIONS_KIND:work"),
        ("共通スキル育成型", "SECTIONS_KIND:skill"),
        ("趣味・サークル型", "SECTIONS_KIND:hobby"),
    ]
    post(client, rt, body(quick_reply_item("p9", 2, "共通スキル育成型", "SECTIONS_KIND:skill")))
    drain(rt)
    (page,) = templates(sent_to(rt, "p9"), "generic")
    assert page["elements"] == [
        {
            "title": "ライティング課",
            "subtitle": "伝わる文章を書く力を磨く課です。 課長: 山田 花子",
            "buttons": [
                {
                    "type": "web_url",
                    "url": "https://www.facebook.com/groups/writing",
                    "title": "参加リクエストへ",
                }
            ],
        },
        {"title": "図解・グラレコ課", "subtitle": "図解で伝える課です。"},  # no URL yet: no button
    ]  # the inactive 動画課 is not shown
    with rt.db.transaction() as s:
        reply = s.scalars(
            select(OutboundMessage).where(OutboundMessage.idempotency_key.like("%sections_kind%"))
        ).one()
        assert (reply.status, reply.history[-1]["messaging_type"]) == ("sent", "RESPONSE")


def test_a_kind_with_more_than_ten_sections_pages_with_more(
    rt: Runtime, client: FlaskClient
) -> None:
    add_sections(
        rt, *(SectionFields(name=f"サークル{n:02d}", kind="hobby", position=n) for n in range(12))
    )
    post(client, rt, body(postback_item("p9", 1, "SECTIONS_KIND:hobby")))
    drain(rt)
    first = [m for m in sent_to(rt, "p9") if "attachment" in m][-1]
    assert len(first["attachment"]["payload"]["elements"]) == 10
    more = first["quick_replies"][0]
    assert (more["title"], more["payload"]) == ("もっと見る", "SECTIONS_KIND:hobby:2")
    post(client, rt, body(quick_reply_item("p9", 2, "もっと見る", more["payload"])))
    drain(rt)
    second = [m for m in sent_to(rt, "p9") if "attachment" in m][-1]
    assert [e["title"] for e in second["attachment"]["payload"]["elements"]] == [
        "サークル10",
        "サークル11",
    ]
    assert [q["payload"] for q in second["quick_replies"]] == ["SECTIONS"]
    post(client, rt, body(postback_item("p9", 3, "SECTIONS_KIND:hobby:3")))  # an old button
    drain(rt)
    assert "これで全部です" in texts(sent_to(rt, "p9"))[-1]


@pytest.mark.parametrize(
    "payload", ["SECTIONS_KIND:work", "SECTIONS_KIND:castle", "SECTIONS_KIND:work:²"]
)
def test_an_empty_or_unknown_kind_gets_a_clear_text(
    rt: Runtime, client: FlaskClient, payload: str
) -> None:
    add_sections(rt, LIBRARY)
    post(client, rt, body(postback_item("p9", 1, payload)))
    drain(rt)
    last = sent_to(rt, "p9")[-1]
    assert "attachment" not in last
    expected = (
        "仕事直結型の課は、いまはご案内できるものがありません" if "work" in payload else "どの種類"
    )
    assert expected in last["text"]
    assert len(last["quick_replies"]) == 3


def test_nothing_is_sent_under_standby(rt: Runtime, client: FlaskClient) -> None:
    add_sections(rt, LIBRARY)
    post(client, rt, body(postback_item("p9", 1, "SECTIONS_KIND:hobby"), standby=True))
    drain(rt)
    assert sent_to(rt, "p9") == []


def _suggestions(rt: Runtime) -> list[OutboundMessage]:
    with rt.db.transaction() as s:
        return list(
            s.scalars(
                select(OutboundMessage).where(
                    OutboundMessage.purpose == Purpose.SECTION_SUGGESTIONS
                )
            )
        )


def _set_interests(rt: Runtime, code: str, interests: list[str]) -> None:
    with rt.db.transaction() as s:
        app = s.scalars(select(Application).where(Application.code == code)).one()
        app.interests = interests


def test_after_the_three_invitations_a_member_gets_one_suggestion_of_matching_sections(
    runtime: Runtime,
) -> None:
    rt = approved_applicant(runtime)
    add_sections(rt, WRITING, DRAWING, LIBRARY, HIDDEN)
    _set_interests(rt, "OC-AAAAAA", ["読書", "ﾗｲﾃｨﾝｸﾞ課", "動画課"])
    client = create_app(runtime=rt).test_client()
    started = body(get_started_item("p1", 1, "tok-OC-AAAAAA"))
    post(client, rt, started)
    drain(rt)
    drain(rt)
    messages = sent_to(rt, "p1")
    invitations = [
        p for p in templates(messages, "button") if p["buttons"][0]["title"] == "参加する"
    ]
    assert len(invitations) == 3
    (suggestion,) = [p for p in templates(messages, "button") if "おすすめの課" in p["text"]]
    kinds = [
        "suggestion" if "おすすめの課" in str(m) else "invitation"
        for m in messages
        if "attachment" in m
    ]
    assert kinds == ["invitation"] * 3 + ["suggestion"]  # after the invitations
    assert "図書室" in suggestion["text"] and "ライティング課" in suggestion["text"]
    assert "動画課" not in suggestion["text"]  # inactive
    assert [b.get("url") or b["payload"] for b in suggestion["buttons"]] == [
        "https://www.facebook.com/groups/writing",  # an exact name before a keyword
        "https://www.facebook.com/groups/library",
        "SECTIONS",
    ]
    # Redeliveries: the same webhook again, the invitations' after-send reaction again.
    post(client, rt, started)
    drain(rt)
    with rt.db.transaction() as s:
        for row in s.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == Purpose.INVITATION)
        ):
            rt.after_sent[Purpose.INVITATION](s, row, rt)
    drain(rt)
    (row,) = _suggestions(rt)
    assert (row.idempotency_key, row.status) == (f"sections:{row.application_id}", "sent")
    assert len([m for m in sent_to(rt, "p1") if "おすすめの課" in str(m)]) == 1


def test_a_member_whose_interests_match_nothing_is_pointed_to_the_directory(
    runtime: Runtime,
) -> None:
    rt = approved_applicant(runtime)
    add_sections(rt, WRITING)
    _set_interests(rt, "OC-AAAAAA", ["ラーメン"])
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(get_started_item("p1", 1, "tok-OC-AAAAAA")))
    drain(rt)
    (suggestion,) = [p for p in templates(sent_to(rt, "p1"), "button") if "課をさがす" in p["text"]]
    assert suggestion["buttons"] == [
        {"type": "postback", "title": "課をさがす", "payload": "SECTIONS"}
    ]


def test_no_suggestion_before_all_three_invitations_are_delivered(runtime: Runtime) -> None:
    rt = prepared(runtime)
    add_sections(rt, LIBRARY)
    add_application(rt, prefecture="沖縄県")  # no 沖縄県 group: that invitation is held
    approve(rt, "OC-AAAAAA")
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(get_started_item("p1", 1, "tok-OC-AAAAAA")))
    drain(rt)
    with rt.db.transaction() as s:
        app = s.scalars(select(Application)).one()
        assert app.status == "approved"
        count = s.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.purpose == Purpose.SECTION_SUGGESTIONS)
        )
    assert count == 0


def test_the_orientation_reply_names_the_sections_of_the_grand_session(
    rt: Runtime, client: FlaskClient
) -> None:
    add_sections(
        rt,
        SectionFields(name="法規課", kind="work", introduce_at_grand=True),
        SectionFields(name="図書室", kind="hobby", introduce_at_grand=True, position=1),
        SectionFields(name="動画課", kind="skill", introduce_at_grand=True, active=False),
        SectionFields(name="音楽サークル", kind="hobby"),
    )
    # The day before the third Friday of November 2026: the next session is the 大説明会.
    rt.now = Clock(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    item = postback_item("p9", 0, "MENU_ORIENTATION")
    item["timestamp"] = int(rt.now().timestamp() * 1000)
    post(client, rt, body(item))
    drain(rt)
    reply = texts(sent_to(rt, "p9"))[-1]
    assert "11月20日 21:00" in reply
    assert "大説明会では、次の課が紹介されます：法規課、図書室" in reply
    # On a weekly 説明会 the 課 are not named.
    rt.now = Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    item = postback_item("p9", 0, "MENU_ORIENTATION")
    item["timestamp"] = int(rt.now().timestamp() * 1000)
    post(client, rt, body(item))
    Worker(rt).run(once=True)
    reply = texts(sent_to(rt, "p9"))[-1]
    assert "11月27日 21:00" in reply and "紹介されます" not in reply


def test_no_suggestion_while_the_directory_is_empty(runtime: Runtime) -> None:
    rt = approved_applicant(runtime)
    add_sections(rt, HIDDEN)  # inactive only
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(get_started_item("p1", 1, "tok-OC-AAAAAA")))
    drain(rt)
    with rt.db.transaction() as s:
        assert s.scalars(select(Application.status)).one() == "invited"
    assert _suggestions(rt) == []
