"""acceptance: the production path end to end, driven only from the outside (HTTP and CLI).

Real subprocesses as in the Procfile — `cityhall db upgrade` (release), gunicorn `bot:create_app()`
(web), `cityhall worker`, `cityhall clock` — on a fresh PostgreSQL database, with loopback
stand-ins for Google (OAuth token endpoint + Sheets API), Meta's Graph API and an SMTP relay.
Needs TEST_DATABASE_URL (PostgreSQL); skipped without it.

1. happy path: a form row → (clock poll) confirmation email → m.me link opened → join request
   imported → approved in the console → three invitations in Messenger → `invited`.
2. the prefecture group is missing at approval: two invitations go out, the third is held; an
   admin adds the group in the console, and the held invitation goes out by itself.
3. bad rows (an over-long 氏名, a NUL character) next to good rows: the good rows are taken in
   and confirmed; `cityhall forms quarantine --json` lists the bad ones with their row numbers.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import requests

from tests.acceptance.fake_smtp import Mail
from tests.acceptance.stack import GroupSpec, Stack

CONFIRMATION_SUBJECT = "アンケート確認メール"
ADMIN = "jimukyoku-admin"
# The clock polls the sheet every whole minute (`sync_forms_minutes = 1`, the minimum).
CLOCK_POLL_DEADLINE = 75.0


def confirmation_to(stack: Stack, address: str) -> Mail | None:
    """The confirmation email (アンケート確認メール) received for `address`, if any."""
    for mail in stack.mail_to(address):
        if CONFIRMATION_SUBJECT in mail.subject:
            return mail
    return None


def mail_summary(stack: Stack) -> str:
    return repr([(m.rcpt_tos, m.subject) for m in stack.smtp.mails()])


def wait_confirmation(stack: Stack, address: str, timeout: float) -> tuple[Mail, str, str]:
    """Wait for the confirmation email; return it with its 申込番号 and m.me `ref`."""
    mail = stack.wait_for(
        f"confirmation email to {address}",
        lambda: confirmation_to(stack, address),
        timeout=timeout,
        describe=lambda: (
            f"mails: {mail_summary(stack)}; sheet reads: {stack.google.values_reads()}"
        ),
    )
    assert mail is not None
    code, ref = mail.code(), mail.ref_token()
    assert code, f"no 申込番号 (OC-XXXXXX) in the confirmation email:\n{mail.subject}\n{mail.text}"
    assert code in mail.subject, f"the subject should name {code}: {mail.subject}"
    assert ref, f"no m.me link with ref= in the confirmation email:\n{mail.text}"
    return mail, str(code), str(ref)


def sends_summary(stack: Stack, psid: str) -> str:
    return json.dumps(stack.graph.sends(psid), ensure_ascii=False)[:3000]


def texts_to(stack: Stack, psid: str) -> list[str]:
    """The plain texts (and button-template texts) sent to `psid` through the Send API."""
    texts = []
    for body in stack.graph.sends(psid):
        message = body.get("message", {})
        payload = message.get("attachment", {}).get("payload", {})
        texts.append(str(message.get("text") or payload.get("text") or ""))
    return texts


def link_messenger(stack: Stack, code: str, psid: str, ref: str, *, new_thread: bool) -> None:
    """The applicant opens the m.me link; wait for the Page's "linked" reply in Messenger."""
    answer = stack.open_m_me_link(psid, ref, new_thread=new_thread)
    assert answer.status_code == 200, f"webhook: HTTP {answer.status_code} {answer.text[:300]}"
    assert answer.text == "EVENT_RECEIVED", answer.text
    stack.wait_for(
        f"{code}: the 連携 reply in Messenger",
        lambda: any("連携が完了しました" in t and code in t for t in texts_to(stack, psid)),
        timeout=30,
        describe=lambda: f"sends to {psid}: {sends_summary(stack, psid)}",
    )
    assert stack.graph.profile_lookups(psid) >= 1, "the User Profile API was not asked for a name"


def import_join_request(stack: Stack, name: str, code: str) -> None:
    """`cityhall join-requests import -` with `<name>\\t<code>` (as typed from Facebook)."""
    run = stack.cli_ok("join-requests", "import", "-", stdin=f"{name}\t{code}\n")
    assert f"matched    {code}" in run.stdout, run.describe()
    shown = stack.show(code)
    assert shown["join_request_seen"] is True, shown
    assert shown["messenger_linked"] is True, shown
    assert shown["status"] == "ready_for_review", shown["status"]


def wait_status(stack: Stack, code: str, status: str, timeout: float = 30) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.clear()
        last.update(stack.show(code))
        return last.get("status") == status

    stack.wait_for(
        f"{code} becomes {status}",
        reached,
        timeout=timeout,
        interval=0.5,
        describe=lambda: f"status {last.get('status')}, history {last.get('history')}",
    )
    return last


def test_happy_path_form_row_to_three_invitations(stack: Stack) -> None:
    """acceptance: form row → email → m.me link → join request → console approval → invited."""
    email = "yashiki.masanori@city.toyama.lg.jp"
    psid = "7100000000000001"
    stack.graph.names[psid] = "Masanori Yashiki"
    stack.add_form_row(email=email, full_name="屋敷 昌範", facebook_name="Masanori Yashiki")

    # While the clock's next poll comes: Meta's webhook subscription handshake (verify token
    # from the environment), and the secretariat's admin account, logged in to the console.
    handshake = requests.get(
        stack.web_url + "/webhooks/messenger",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": stack.secrets["CITYHALL_MESSENGER_VERIFY_TOKEN"],
            "hub.challenge": "1158201444",
        },
        timeout=10,
    )
    assert (handshake.status_code, handshake.text) == (200, "1158201444")
    console = stack.console(ADMIN, stack.add_user(ADMIN, "admin"))

    # Nobody pushes: the clock's sync-forms job reads the sheet through the Sheets API.
    mail, code, ref = wait_confirmation(stack, email, timeout=CLOCK_POLL_DEADLINE)
    assert stack.config["app"]["facebook_group_url"] in mail.text, mail.text
    shown = stack.show(code)
    assert shown["status"] == "awaiting_join_request", shown["status"]
    assert shown["messenger_link"].endswith(f"?ref={ref}"), shown["messenger_link"]
    assert shown["verdict"] == "verified", shown["reasons"]

    link_messenger(stack, code, psid, ref, new_thread=True)
    import_join_request(stack, "Masanori Yashiki", code)

    console.approve(code)
    # The console's undo window ([console] undo_seconds, 30 in the example configuration): the
    # approval's messages wait for it to end, then go.
    undo = float(stack.config["console"]["undo_seconds"])
    time.sleep(min(5.0, undo / 2))
    assert stack.graph.invite_urls(psid) == [], "an invitation left inside the undo window"

    expected = {g.invite_url for g in stack.groups}
    stack.wait_for(
        "three invitations in Messenger",
        lambda: expected <= set(stack.graph.invite_urls(psid)),
        timeout=undo + 30,
        describe=lambda: f"invite URLs so far {stack.graph.invite_urls(psid)}",
    )
    urls = [u for u in stack.graph.invite_urls(psid) if u in expected]
    assert sorted(urls) == sorted(expected), f"each invitation exactly once: {urls}"
    wait_status(stack, code, "invited")
    assert not stack.problems(), stack.problems()


def test_held_prefecture_invitation_goes_out_when_the_group_is_added(stack: Stack) -> None:
    """acceptance: no 石川県 chat at approval → 2 invitations; admin adds it → the 3rd follows."""
    password = stack.add_user(ADMIN, "admin")
    email = "kaga.hanako@city.kanazawa.lg.jp"
    psid = "7100000000000002"
    stack.graph.names[psid] = "Hanako Kaga"
    row = stack.add_form_row(
        email=email,
        full_name="加賀 花子",
        kana="かが はなこ",
        facebook_name="Hanako Kaga",
        organization="金沢市",
        department="都市政策局",
        prefecture="石川県",
    )
    # The Apps Script trigger pushes the new row at once (no waiting for the poll).
    pushed = stack.push_form_row(row)
    assert pushed.status_code == 200, f"forms push: HTTP {pushed.status_code} {pushed.text}"
    counts = pushed.json()
    # Normally new=1; the clock's poll may have taken the row in a moment earlier.
    taken = counts["new"] + counts["unchanged"] + counts["updated"]
    assert counts["quarantined"] == 0 and taken == 1, counts
    _, code, ref = wait_confirmation(stack, email, timeout=20)

    link_messenger(stack, code, psid, ref, new_thread=False)
    import_join_request(stack, "Hanako Kaga", code)
    console = stack.console(ADMIN, password)
    console.approve(code)

    present = {g.invite_url for g in stack.groups if g.kind != "prefecture"}
    stack.wait_for(
        "the village and cohort invitations",
        lambda: present <= set(stack.graph.invite_urls(psid)),
        timeout=float(stack.config["console"]["undo_seconds"]) + 30,
        describe=lambda: f"invite URLs so far {stack.graph.invite_urls(psid)}",
    )
    secretariat = str(stack.config["mail"]["secretariat_address"])
    stack.wait_for(
        "the secretariat is told that 石川県's group is missing",
        lambda: any("石川県" in m.text for m in stack.mail_to(secretariat)),
        timeout=20,
        describe=lambda: f"mails: {mail_summary(stack)}",
    )
    shown = stack.show(code)
    assert shown["status"] == "approved", f"not invited yet with one invitation held: {shown}"
    assert len(stack.graph.invite_urls(psid)) == 2, stack.graph.invite_urls(psid)

    ishikawa = GroupSpec(
        "prefecture", "石川県", "石川県メッセンジャーグループ", "https://m.me/j/Ishikawa0001/", 250
    )
    console.add_group(ishikawa)

    # Nothing else is done: adding the group must place the held invitation and send it.
    stack.wait_for(
        "the held 石川県 invitation",
        lambda: ishikawa.invite_url in stack.graph.invite_urls(psid),
        timeout=30,
        describe=lambda: f"invite URLs so far {stack.graph.invite_urls(psid)}",
    )
    wait_status(stack, code, "invited")
    urls = stack.graph.invite_urls(psid)
    assert sorted(urls) == sorted([*present, ishikawa.invite_url]), urls
    assert not stack.problems(), stack.problems()


def test_bad_rows_are_quarantined_and_good_rows_still_confirmed(stack: Stack) -> None:
    """acceptance: an over-long 氏名 and a NUL character are quarantined, the rest goes on."""
    good = ["hokuriku.ichiro@city.toyama.lg.jp", "tateyama.jiro@pref.toyama.lg.jp"]
    long_name = ("寿限無寿限無五劫の擦り切れ海砂利水魚の" * 12)[:201]
    good_row_1 = stack.add_form_row(email=good[0], full_name="北陸 一郎", kana="ほくりく いちろう")
    long_row = stack.add_form_row(email="jugemu@city.toyama.lg.jp", full_name=long_name)
    nul_row = stack.add_form_row(
        email="nul.byte@city.toyama.lg.jp", full_name="富山 三郎", department="企画\x00調整課"
    )
    good_row_2 = stack.add_form_row(email=good[1], full_name="立山 次郎", kana="たてやま じろう")
    assert len(long_name) == 201
    assert (long_row, nul_row, good_row_2) == (good_row_1 + 1, good_row_1 + 2, good_row_1 + 3)

    run = stack.cli("sync-forms")
    assert run.returncode == 0, run.describe()
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", run.stdout)}
    assert counts.get("quarantined") == 2, run.describe()
    # Every other row of the (shared) sheet is an application: the 2 new ones (unless the
    # clock's poll took them a moment earlier) and those of the tests before.
    taken = counts.get("new", 0) + counts.get("unchanged", 0) + counts.get("updated", 0)
    assert taken == good_row_2 - 1 - 2, run.describe()

    for address in good:
        wait_confirmation(stack, address, timeout=30)

    listed = stack.cli_ok("forms", "quarantine", "--json")
    rows = json.loads(listed.stdout)
    assert sorted(r["row"] for r in rows) == [long_row, nul_row], json.dumps(
        rows, ensure_ascii=False, indent=2
    )[:3000]
    for bad in ("jugemu@city.toyama.lg.jp", "nul.byte@city.toyama.lg.jp"):
        assert not stack.mail_to(bad), f"a quarantined row was emailed: {bad}"
    statuses = {
        a["email"]: a["status"]
        for a in json.loads(stack.cli_ok("applications", "list", "--json").stdout)
        if a["email"] in (*good, "jugemu@city.toyama.lg.jp", "nul.byte@city.toyama.lg.jp")
    }
    assert statuses == dict.fromkeys(good, "awaiting_join_request"), statuses
    assert not stack.problems(), stack.problems()
