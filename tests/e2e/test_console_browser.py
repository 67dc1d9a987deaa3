"""The console in real headless Chromium: login, filter, keyboard approval, rejection,
pasted join requests, and stored-XSS attempts shown as text. Screenshots go to artifacts/."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from bot import create_app
from bot.accounts.users import add_user
from bot.bootstrap import build_runtime
from bot.config import Settings
from bot.db import Database
from bot.models import Application, InboundEvent, JoinRequest, OutboundMessage
from bot.runtime import Runtime
from integrations.local import LocalMailer, LocalMessenger

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "browser test password"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)",
    ),
]


@pytest.fixture
def console(
    tmp_path: Path, settings: Settings, sqlite_template: Path
) -> Iterator[tuple[str, Runtime]]:
    """The app served on a free loopback port against a fresh SQLite database."""
    import shutil

    path = tmp_path / "e2e.sqlite3"
    shutil.copy(sqlite_template, path)
    runtime = build_runtime(
        settings, db=Database(f"sqlite:///{path}"), messenger=LocalMessenger(), mailer=LocalMailer()
    )
    with runtime.db.transaction() as db:
        add_user(db, "rev", "reviewer", PASSWORD, actor="test", at=runtime.now())
    server = make_server("127.0.0.1", 0, create_app(runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", runtime
    finally:
        server.shutdown()
        thread.join(5)
        runtime.db.dispose()


@pytest.fixture
def page(console: tuple[str, Runtime]) -> Iterator[Any]:
    """A Chromium page; any JavaScript dialog (an XSS alert) fails the test."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(
            locale="ja-JP", viewport={"width": 1280, "height": 900}, has_touch=True
        )
        pg = context.new_page()
        dialogs: list[str] = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield pg
        context.close()
        browser.close()
        assert dialogs == [], f"a script ran: {dialogs}"
        assert not [e for e in errors if "Content Security Policy" in e], errors


def _add(runtime: Runtime, code: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "code": code,
        "link_token": f"t-{code}",
        "email": f"{code.lower()}@city.example.lg.jp",
        "full_name": "山田 太郎",
        "kana": "ヤマダ タロウ",
        "status": "awaiting_join_request",
        "submitted_at": runtime.now() - timedelta(days=fields.pop("days_ago", 1)),
        "verdict": "verified",
        "prefecture": "富山県",
        "service_type": "地方公務員",
        "organization_name": "富山市",
    }
    values.update(fields)
    with runtime.db.transaction() as db:
        db.add(Application(**values))


def _status(runtime: Runtime, code: str) -> str:
    with runtime.db.transaction() as db:
        return db.scalars(select(Application.status).where(Application.code == code)).one()


def _login(page: Any, base: str, name: str = "rev") -> None:
    page.goto(f"{base}/console/")
    assert "/console/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('承認待ち')")


def test_login_filter_and_approve_with_the_keyboard(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    _add(runtime, "OC-AAAAA1", full_name="青木 一郎", days_ago=5)
    _add(
        runtime,
        "OC-AAAAA2",
        full_name="井上 二郎",
        days_ago=4,
        verdict="needs_review",
        reasons=[{"code": "personal_email", "message": "個人のメールアドレスです"}],
    )
    _add(  # the address proven (its m.me link opened): approved from the queue without a check
        runtime,
        "OC-AAAAA3",
        full_name="上田 三郎",
        days_ago=3,
        status="ready_for_review",  # its join request was matched: approval asks nothing more
        join_request_seen_at=runtime.now(),
        email_proven_by="messenger_ref",
        email_proven_at=runtime.now(),
    )
    _login(page, base)
    page.goto(f"{base}/console/?tab=all")  # the queue opens on 確認待ち; these wait for requests
    assert page.locator("tr.row").count() == 3
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    page.select_option("select[name=verdict]", "needs_review")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**verdict=needs_review**")
    assert page.locator("tr.row").count() == 1
    assert "個人のメールアドレスです" in page.inner_text("#queue")
    page.screenshot(path=str(ARTIFACTS / "queue-filtered.png"), full_page=True)

    page.goto(f"{base}/console/?tab=all")
    page.keyboard.press("j")  # first row is current on load; j moves to the second
    assert page.get_attribute("tr.row.current", "data-code") == "OC-AAAAA2"
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.get_attribute("tr.row.current", "data-code") == "OC-AAAAA3"
    with page.expect_navigation():
        page.keyboard.press("a")
    assert "1 件を承認しました" in page.inner_text("main")
    assert _status(runtime, "OC-AAAAA3") == "approved"
    assert _status(runtime, "OC-AAAAA1") == "awaiting_join_request"
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.screenshot(path=str(ARTIFACTS / "queue-after-approve.png"), full_page=True)


def test_reject_with_a_template_reason(console: tuple[str, Runtime], page: Any) -> None:
    base, runtime = console
    _add(runtime, "OC-BBBBB1", full_name="江藤 花子")
    _login(page, base)
    page.goto(f"{base}/console/?tab=awaiting")
    page.keyboard.press("r")
    assert page.is_visible("#reject-template")
    page.select_option("#reject-template", index=1)
    page.check("#reject-notify")
    page.screenshot(path=str(ARTIFACTS / "reject-panel.png"), full_page=True)
    with page.expect_navigation():
        page.click("#reject-submit")
    assert "1 件を却下しました" in page.inner_text("main")
    with runtime.db.transaction() as db:
        app = db.scalars(select(Application)).one()
        assert app.status == "rejected"
        assert app.decision_reason == runtime.settings.console.rejection_templates[0]
        assert app.reason_shared is True


def test_paste_join_requests_and_see_them_matched(console: tuple[str, Runtime], page: Any) -> None:
    base, runtime = console
    _add(runtime, "OC-CCCCC1", full_name="山田 太郎")
    _add(runtime, "OC-CCCCC2", full_name="鈴木 花子", kana="スズキ ハナコ")
    _login(page, base)
    page.click("text=参加リクエスト")
    page.fill(
        "#paste",
        "山田 太郎\n2日前\n申込番号を入力してください。\nｏｃ－ｃｃｃｃｃ１\n承認\n拒否\n"
        "Hanako Suzuki\n5時間前\n回答: よろしくお願いします\n"
        "謎の 人物\n1週間前\n回答: ？\n",
    )
    page.click("#paste-submit")
    page.wait_for_selector("#preview")
    assert _status(runtime, "OC-CCCCC1") == "awaiting_join_request"  # a preview saves nothing
    page.click("#preview-save")
    page.wait_for_selector("#import-result")
    result = page.inner_text("#import-result")
    assert "OC-CCCCC1" in result and "OC-CCCCC2" in result and "未一致" in result
    page.screenshot(path=str(ARTIFACTS / "join-requests.png"), full_page=True)
    assert _status(runtime, "OC-CCCCC1") == "ready_for_review"
    assert _status(runtime, "OC-CCCCC2") == "ready_for_review"
    with runtime.db.transaction() as db:
        assert (
            db.scalars(select(JoinRequest.status).where(JoinRequest.name == "謎の 人物")).one()
            == "unmatched"
        )


def test_select_all_and_dismiss_many_join_requests_at_once(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    _login(page, base)
    page.click("text=参加リクエスト")
    page.fill("#paste", "".join(f"スパム{i}\t広告です\n" for i in range(3)))
    page.click("#paste-submit")
    page.click("#preview-save")
    page.wait_for_selector("#import-result")
    page.check("#select-all-requests")
    assert page.evaluate("document.querySelectorAll('input[name=ids]:checked').length") == 3
    page.click("button:has-text('選択したものを対象外にする')")
    page.wait_for_selector("text=3 件を対象外にしました。")
    assert "未一致の参加リクエストはありません" in page.inner_text("main")
    with runtime.db.transaction() as db:
        assert set(db.scalars(select(JoinRequest.status))) == {"dismissed"}


def test_paste_preview_fits_a_phone(console: tuple[str, Runtime], page: Any) -> None:
    base, _runtime = console
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base)
    page.goto(f"{base}/console/join-requests")
    corpus = Path(__file__).resolve().parents[1] / "data" / "facebook_paste" / "ja_ui.txt"
    page.fill("#paste", corpus.read_text(encoding="utf-8"))
    page.click("#paste-submit")
    page.wait_for_selector("#preview")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "join-requests-preview-390.png"), full_page=True)


def test_stored_xss_attempts_are_shown_as_text(console: tuple[str, Runtime], page: Any) -> None:
    base, runtime = console
    script = "<script>alert('xss')</script>"
    formula = '=HYPERLINK("http://evil.example","click")'
    _add(
        runtime,
        "OC-DDDDD1",
        full_name=script,
        facebook_name="<img src=x onerror=alert(1)>",
        answers={"お名前": script, "所属": formula},
    )
    _add(runtime, "OC-DDDDD2", full_name=formula)
    _login(page, base)
    page.goto(f"{base}/console/?tab=all")
    queue = page.inner_text("#queue")
    assert script in queue and formula in queue
    page.click("a:has-text('<script>')")
    page.wait_for_selector("h2:has-text('フォームの回答')")
    body = page.inner_text("main")
    assert script in body and formula in body
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    page.screenshot(path=str(ARTIFACTS / "xss-as-text.png"), full_page=True)


def test_queue_is_usable_on_a_phone(console: tuple[str, Runtime], page: Any) -> None:
    base, runtime = console
    _add(runtime, "OC-EEEEE1", full_name="小川 四郎")
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # no horizontal scrolling: rows become cards
    page.screenshot(path=str(ARTIFACTS / "queue-phone.png"), full_page=True)


def test_admin_sees_and_dismisses_an_unreadable_webhook_on_a_phone(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    with runtime.db.transaction() as db:
        add_user(db, "boss", "admin", PASSWORD, actor="test", at=runtime.now())
        db.add(
            InboundEvent(
                source="messenger",
                event_key="bad-1",
                status="invalid",
                payload={"entry": [{"messaging": [{"x": "<img src=x onerror=alert(1)>" * 8}]}]},
                last_error="messaging item has no sender id",
            )
        )
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base, "boss")
    page.click("nav >> text=受信")
    page.wait_for_selector("h1:has-text('受信')")
    assert page.is_visible("text=messaging item has no sender id")
    page.click("summary:has-text('受信した内容')")
    assert "<img src=x" in page.inner_text("pre.payload")  # shown as text, not markup
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(ARTIFACTS / "inbox-phone.png"), full_page=True)
    page.click("button:has-text('確認済みにする')")
    page.wait_for_selector("text=要対応の受信イベントはありません")
    with runtime.db.transaction() as db:
        assert db.scalars(select(InboundEvent.status)).one() == "dismissed"


def _ready(runtime: Runtime, code: str, **fields: Any) -> None:
    """A matched, proven, verified application (the 確認待ち tab)."""
    _add(
        runtime,
        code,
        status="ready_for_review",
        join_request_seen_at=runtime.now(),
        email_proven_by="messenger_ref",
        email_proven_at=runtime.now(),
        **fields,
    )


def test_approve_by_one_tap_on_a_phone_and_undo_it(console: tuple[str, Runtime], page: Any) -> None:
    """From the list at 390 px: one tap on the card's 承認 approves (no confirmation for a
    matched, proven, verified application); the toast offers the undo and the reminder."""
    base, runtime = console
    _ready(runtime, "OC-GGGGG1", full_name="田中 一郎", facebook_name="Ichiro Tanaka")
    _ready(runtime, "OC-GGGGG2", full_name="中村 二郎", days_ago=2)
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base)
    card = page.locator("tr.row[data-code=OC-GGGGG1]")
    box = card.locator("[data-approve]").bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44  # a thumb-sized target
    with page.expect_navigation():
        card.locator("[data-approve]").tap()  # tap 1 of 1
    assert _status(runtime, "OC-GGGGG1") == "approved"
    toast = page.locator("#undo-toast")
    assert toast.is_visible()
    assert "取り消す（残り" in toast.inner_text()
    assert "「Ichiro Tanaka」さんの参加リクエストも承認してください" in toast.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "approve-toast-390.png"), full_page=True)
    with page.expect_navigation():
        page.locator("#undo-submit").tap()
    assert "1 件の承認を取り消しました" in page.inner_text("main")
    assert _status(runtime, "OC-GGGGG1") == "ready_for_review"
    with runtime.db.transaction() as db:
        rows = db.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "approved"))
        assert {r.status for r in rows} == {"cancelled"}
    # selecting a card brings the action bar to the bottom of the screen
    page.locator("tr.row[data-code=OC-GGGGG2] input[name=codes]").tap()
    bar = page.locator("#decide-bar").bounding_box()
    assert bar["y"] + bar["height"] >= 844 - 2
    page.screenshot(path=str(ARTIFACTS / "action-bar-390.png"))


def test_keyboard_approval_works_with_a_japanese_ime_on(
    console: tuple[str, Runtime], page: Any
) -> None:
    """Shortcuts go by event.code: with an IME on, the key is "Process"/"ｊ", not "j"; keys
    belonging to a composition are left to the IME."""
    base, runtime = console
    _ready(runtime, "OC-HHHHH1", full_name="木村 一郎", days_ago=3)
    _ready(runtime, "OC-HHHHH2", full_name="林 二郎", days_ago=2)
    _login(page, base)

    def key(code: str, key: str, composing: bool = False) -> None:
        page.evaluate(
            """([code, key, composing]) => document.dispatchEvent(new KeyboardEvent("keydown",
                {code, key, isComposing: composing, bubbles: true, cancelable: true}))""",
            [code, key, composing],
        )

    key("KeyJ", "ｊ", composing=True)  # part of a composition: ignored
    assert page.get_attribute("tr.row.current", "data-code") == "OC-HHHHH1"
    key("KeyJ", "ｊ")  # the IME's full-width j: still "next"
    assert page.get_attribute("tr.row.current", "data-code") == "OC-HHHHH2"
    with page.expect_navigation():
        key("KeyA", "ａ")
    assert _status(runtime, "OC-HHHHH2") == "approved"
    assert _status(runtime, "OC-HHHHH1") == "ready_for_review"
    assert page.locator("#undo-toast").is_visible()
    page.screenshot(path=str(ARTIFACTS / "keyboard-ime-approve.png"), full_page=True)
