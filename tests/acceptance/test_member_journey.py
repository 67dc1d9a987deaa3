"""acceptance: after the invitations, a member's Messenger conversation on the production path.

The same Procfile processes as `test_production_path.py` (gunicorn, worker, clock on PostgreSQL;
fake Google, Graph API and SMTP on loopback). Everything the member does is a signed webhook;
everything the bot says is read at the fake Graph API; the secretariat uses the console over
HTTP and the operator the CLI:

1. the operator loads the 課 and the FAQ (`cityhall sections import`, `cityhall faq import`);
2. an applicant goes through to `invited`, and then gets the 課 matching their interests;
3. 「参加費はかかりますか」 gets the FAQ's answer;
4. 課をさがす › 仕事直結型 gives a card with a URL button to the 課's Facebook group;
5. an event starting within the hour, created in the console: 参加する, then the
   `event-reminders` job sends the Zoom link;
6. an unknown question lands in the console's 質問 tab, and the reply typed there reaches them;
7. an anonymous consultation is shown to a reviewer with no trace of who sent it.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.acceptance.stack import Console, Stack
from tests.acceptance.test_production_path import (
    ADMIN,
    CLOCK_POLL_DEADLINE,
    import_join_request,
    link_messenger,
    sends_summary,
    wait_confirmation,
    wait_status,
)

ROOT = Path(__file__).resolve().parents[2]
JST = ZoneInfo("Asia/Tokyo")
REVIEWER = "jimukyoku-reviewer"
PSID = "7100000000000017"
KA_URL = "https://www.facebook.com/groups/minna.zaisei"
ZOOM_URL = "https://zoom.us/j/98765432100"
SECTIONS_TOML = f"""
[[sections]]
name = "みんなの財政課"
kind = "work"
description = "財政・予算の仕事の課題や事例を共有する課です。"
group_url = "{KA_URL}"
keywords = ["財政", "予算"]

[[sections]]
name = "ライティング課"
kind = "skill"
description = "伝わる文章を書く練習をする課です。"
"""


def say(stack: Stack, **message: Any) -> None:
    """The member sends something: a text (`text=`) or taps a button (`postback=`)."""
    item: dict[str, Any] = {
        "sender": {"id": PSID},
        "recipient": {"id": str(stack.config["messenger"]["page_id"])},
        "timestamp": int(time.time() * 1000),
    }
    if "postback" in message:
        item["postback"] = {
            "title": "button",
            "payload": message["postback"],
            "mid": f"m_pb_{secrets.token_hex(8)}",
        }
    else:
        item["message"] = {"mid": f"m_{secrets.token_hex(8)}", "text": message["text"]}
    answer = stack.messenger_webhook([item])
    assert (answer.status_code, answer.text) == (200, "EVENT_RECEIVED"), answer.text


def sends(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.graph.sends(PSID))


def wait_send(stack: Stack, what: str, found: Any, after: int, timeout: float = 30) -> Any:
    """Wait for a Send API call to the member (after the first `after`) that `found` accepts."""
    result: list[Any] = []

    def seen() -> bool:
        for body in sends(stack)[after:]:
            if found(body):
                result.append(body)
                return True
        return False

    stack.wait_for(what, seen, timeout=timeout, describe=lambda: sends_summary(stack, PSID))
    return result[0]


def text_of(body: dict[str, Any]) -> str:
    message = body.get("message", {})
    payload = message.get("attachment", {}).get("payload", {})
    return str(message.get("text") or payload.get("text") or "")


def elements(body: dict[str, Any]) -> list[dict[str, Any]]:
    payload = body.get("message", {}).get("attachment", {}).get("payload", {})
    return list(payload.get("elements", [])) if payload.get("template_type") == "generic" else []


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    payload = body.get("message", {}).get("attachment", {}).get("payload", {})
    found = list(payload.get("buttons", []))
    for element in elements(body):
        found += element.get("buttons", [])
    return found


def csrf(console: Console, path: str) -> tuple[str, str]:
    page = console.session.get(console.base_url + path, timeout=10)
    assert page.status_code == 200, f"GET {path}: HTTP {page.status_code}"
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"GET {path}: no CSRF token"
    return match.group(1), page.text


def post_form(console: Console, path: str, form_page: str, **data: str) -> str:
    token, _ = csrf(console, form_page)
    answer = console.session.post(
        console.base_url + path, data={"csrf_token": token, **data}, timeout=15
    )
    assert answer.status_code == 200, f"POST {path}: HTTP {answer.status_code}\n{answer.text[:800]}"
    return answer.text


def soon_event_times() -> tuple[str, str, str]:
    """(date, start, end) in Asia/Tokyo of an event starting within the coming hour."""
    start = datetime.now(JST).replace(second=0, microsecond=0) + timedelta(minutes=20)
    end = start + timedelta(minutes=30)
    if end.date() != start.date():  # near midnight: an event that starts sooner, ends by 23:59
        start = datetime.now(JST).replace(second=0, microsecond=0) + timedelta(minutes=2)
        end = start.replace(hour=23, minute=59)
    return start.strftime("%Y-%m-%d"), start.strftime("%H:%M"), end.strftime("%H:%M")


def test_a_member_after_the_invitations(stack: Stack) -> None:
    """acceptance: 課, FAQ, RSVP + Zoom link, a question answered, an anonymous consultation."""
    sections_file = stack.workdir / "sections.toml"
    sections_file.write_text(SECTIONS_TOML, encoding="utf-8")
    run = stack.cli_ok("sections", "import", str(sections_file))
    assert "2" in run.stdout, run.describe()
    stack.cli_ok("faq", "import", str(ROOT / "bot" / "community" / "data" / "faq.toml"))

    # -- through to invited: the form asks 興味のある分野（課） and the answer is 財政
    email = "zaisei.taro@city.toyama.lg.jp"
    stack.graph.names[PSID] = "Taro Zaisei"
    stack.add_form_row(
        email=email,
        full_name="財政 太郎",
        kana="ざいせい たろう",
        facebook_name="Taro Zaisei",
        interests="財政, 広報",
    )
    console = stack.console(ADMIN, stack.add_user(ADMIN, "admin"))
    _, code, ref = wait_confirmation(stack, email, timeout=CLOCK_POLL_DEADLINE)
    link_messenger(stack, code, PSID, ref, new_thread=True)
    import_join_request(stack, "Taro Zaisei", code)
    console.approve(code)
    undo = float(stack.config["console"]["undo_seconds"])
    wait_status(stack, code, "invited", timeout=undo + 40)
    suggestion = wait_send(
        stack,
        "the 課 suggested after the invitations",
        lambda b: any(x.get("url") == KA_URL for x in buttons(b)),
        after=0,
    )
    assert "みんなの財政課" in str(suggestion), suggestion

    # -- the FAQ answers a question phrased unlike its keywords
    before = len(sends(stack))
    say(stack, text="参加費はかかりますか")
    answer = wait_send(stack, "the FAQ's answer", lambda b: "無料" in text_of(b), after=before)
    assert answer["messaging_type"] == "RESPONSE", answer

    # -- 課をさがす › 仕事直結型: a card with the URL button to the group
    before = len(sends(stack))
    say(stack, postback="SECTIONS")
    kinds = wait_send(stack, "the kinds of 課", lambda b: "quick_replies" in b["message"], before)
    assert "SECTIONS_KIND:work" in str(kinds["message"]["quick_replies"]), kinds
    say(stack, postback="SECTIONS_KIND:work")
    cards = wait_send(stack, "the 課 cards", lambda b: bool(elements(b)), after=before)
    assert [e["title"] for e in elements(cards)] == ["みんなの財政課"], cards
    assert any(x.get("url") == KA_URL for x in buttons(cards)), cards

    # -- an event within the hour, made in the console; 参加する; the reminder job
    day, start, end = soon_event_times()
    made = post_form(
        console,
        "/console/events",
        "/console/events",
        kind="study",
        title="財政勉強会（受入テスト）",
        date=day,
        start=start,
        end=end,
        zoom_url=ZOOM_URL,
        capacity="30",
        audience="members",
        repeat="once",
    )
    assert "財政勉強会（受入テスト）" in made
    before = len(sends(stack))
    say(stack, postback="EVENTS")
    listed = wait_send(stack, "the events' cards", lambda b: "EVENT_GO:" in str(b), after=before)
    event_id = re.search(r"EVENT_GO:(\d+)", str(listed))
    assert event_id, listed
    assert ZOOM_URL not in str(listed), "the Zoom link is for those going, an hour before"
    say(stack, postback=f"EVENT_GO:{event_id.group(1)}")
    wait_send(stack, "参加する confirmed", lambda b: "Zoom" in text_of(b), after=before)
    before = len(sends(stack))
    stack.cli_ok("jobs", "run", "event-reminders")
    reminder = wait_send(
        stack,
        "the Zoom link an hour before",
        lambda b: any(x.get("url") == ZOOM_URL for x in buttons(b)),
        after=before,
    )
    assert reminder["messaging_type"] == "UPDATE", reminder
    stack.cli_ok("jobs", "run", "event-reminders")
    time.sleep(3)
    again = [b for b in sends(stack)[before:] if ZOOM_URL in str(b)]
    assert len(again) == 1, f"the Zoom link went {len(again)} times"

    # -- an unknown question: the console's 質問 tab, and the reply typed there
    question = "来週の勉強会のテーマは決まっていますか？"
    before = len(sends(stack))
    say(stack, text=question)
    wait_send(stack, "事務局に伝えました", lambda b: "事務局に" in text_of(b), after=before)
    inbox = console.session.get(console.base_url + "/console/questions", timeout=10).text
    assert question.rstrip("？") in inbox, inbox[:2000]
    reply_to = re.search(r'action="(/console/questions/(\d+)/reply)"', inbox)
    assert reply_to, inbox[:2000]
    reply = "テーマは「予算書の読み方」です。ぜひご参加ください。"
    post_form(console, reply_to.group(1), "/console/questions", reply=reply)
    delivered = wait_send(stack, "the secretariat's reply", lambda b: reply in text_of(b), before)
    assert delivered["messaging_type"] == "RESPONSE", delivered

    # -- an anonymous consultation: a reviewer sees the text and nobody
    before = len(sends(stack))
    say(stack, postback="CONSULT")
    wait_send(stack, "the request to write", lambda b: "相談" in text_of(b), after=before)
    worry = "職場の人間関係で悩んでいます。どうしたらよいでしょうか。"
    say(stack, text=worry)
    wait_send(stack, "the consultation received", lambda b: "受け付けました" in text_of(b), before)
    reviewer = stack.console(REVIEWER, stack.add_user(REVIEWER, "reviewer"))
    page = reviewer.session.get(reviewer.base_url + "/console/consultations", timeout=10)
    assert page.status_code == 200 and worry in page.text, page.text[:2000]
    for trace in (PSID, code, email, "財政 太郎", "財政太郎", "Taro Zaisei", "ざいせい"):
        assert trace not in page.text, f"the reviewer's page shows {trace!r}"
    assert not stack.problems(), stack.problems()
