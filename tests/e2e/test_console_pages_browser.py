"""Every console page in Chromium at a phone's 390 px and a desktop's 1366 px: none scrolls
sideways; a screenshot of each is kept in artifacts/. And one volunteer's flow on a phone:
paste → preview → save → matched → found again later by a name typed without a space."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.accounts.users import add_user
from bot.models import (
    Application,
    Consultation,
    ConsultationLink,
    Event,
    FaqEntry,
    MemberQuestion,
    Section,
)
from bot.onboarding import applications
from bot.runtime import Runtime
from tests.e2e import test_console_browser as browser
from tests.integration.console_scene import build_scene

pytestmark = browser.pytestmark
console = browser.console  # the served app (fixture)
page = browser.page  # a Chromium page (fixture)
ARTIFACTS = browser.ARTIFACTS
WIDTHS = (390, 1366)
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


def _login(pg: Any, base: str, name: str) -> None:
    pg.goto(f"{base}/console/login")
    pg.fill("input[name=name]", name)
    pg.fill("input[name=password]", browser.PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_load_state()


def _visit(pg: Any, url: str, shot: str, width: int, wide: list[str]) -> None:
    """Open `url`, keep a screenshot, and note it when the page is wider than the window."""
    pg.goto(url)
    pg.wait_for_load_state()
    if not pg.evaluate(FITS):
        over = pg.evaluate("document.documentElement.scrollWidth")
        wide.append(f"{shot}@{width}: {over}px")
    pg.screenshot(path=str(ARTIFACTS / f"page-{shot}-{width}.png"), full_page=True)


LONG = "とても長い説明文" * 30 + "https://example.jp/" + "a" * 120


def _seed_community(db: Any, now: datetime) -> dict[str, int]:
    """A 課, an event, a question, an FAQ entry and a consultation, all with long text."""
    section = Section(name="長い名前の課" * 5, kind="work", description=LONG[:300])
    event = Event(
        kind="study",
        title="勉強会" * 30,
        description=LONG,
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=3, hours=1),
        zoom_url="https://zoom.us/j/" + "9" * 60,
        capacity=30,
    )
    consultation = Consultation(text=LONG, submitted_at=now)
    db.add_all([section, event, consultation])
    db.add(MemberQuestion(psid="1" * 16, text=LONG, asked_at=now))
    db.add(FaqEntry(question="参加費" * 40, answer=LONG, keywords="参加費\n会費"))
    db.flush()
    db.add(ConsultationLink(consultation_id=consultation.id, psid="2" * 16))
    return {"section": section.id, "event": event.id, "consultation": consultation.id}


@pytest.mark.parametrize("width", WIDTHS)
def test_no_console_page_scrolls_sideways(
    console: tuple[str, Runtime], page: Any, width: int
) -> None:
    base, runtime = console
    scene = build_scene(runtime)
    with runtime.db.transaction() as db:
        add_user(db, "boss", "admin", browser.PASSWORD, actor="test", at=runtime.now())
        community = _seed_community(db, runtime.now())
    page.set_viewport_size({"width": width, "height": 900})
    _login(page, base, "boss")
    wide: list[str] = []
    pages = {
        **{f"queue-{t}": f"/console/?tab={t}" for t in ("ready", "awaiting", "review")},
        **{f"queue-{t}": f"/console/?tab={t}" for t in ("ineligible", "approved", "rejected")},
        "queue-all": "/console/?tab=all",
        "search": "/console/?tab=all&q=佐藤花子",
        "application": f"/console/applications/{scene.matched_code}",
        "application-approved": f"/console/applications/{scene.codes['approved']}",
        "join-requests": "/console/join-requests",
        "groups": "/console/groups",
        "outbox": "/console/outbox",
        "outbox-dead": "/console/outbox?state=dead",
        "inbox": "/console/inbox",
        "quarantine": "/console/quarantine",
        "audit": "/console/audit",
        "users": "/console/users",
        "templates": "/console/templates",
        "dashboard": "/console/dashboard",
        "password": "/console/password",
        "totp": "/console/totp",
        "404": "/console/applications/OC-ZZZZZZ",
        # after the invitations (issue 17)
        "sections": "/console/sections",
        "section": f"/console/sections/{community['section']}",
        "events": "/console/events",
        "event": f"/console/events/{community['event']}",
        "questions": "/console/questions",
        "faq": "/console/faq",
        "consultations": "/console/consultations",
        "consultation-sender": f"/console/consultations/{community['consultation']}/sender",
    }
    for shot, path in pages.items():
        _visit(page, base + path, shot, width, wide)
    page.goto(f"{base}/console/join-requests")
    page.fill("#paste", "佐藤 花子\n2日前\n申込番号を入力してください。\nOC-SCN002\n承認\n拒否\n")
    page.click("#paste-submit")
    page.wait_for_selector("#preview")
    if not page.evaluate(FITS):
        wide.append(f"join-requests-preview@{width}")
    page.screenshot(path=str(ARTIFACTS / f"page-join-requests-preview-{width}.png"), full_page=True)
    page.click("button:has-text('ログアウト')")
    _login(page, base, "rev")
    _visit(page, f"{base}/console/groups", "403", width, wide)
    assert page.locator("#error[data-status='403']").count() == 1
    assert wide == [], f"pages wider than the window: {wide}"


def test_paste_match_and_find_the_person_later_on_a_phone(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    browser._add(runtime, "OC-FLW001", full_name="佐藤 花子", kana="サトウ ハナコ")
    browser._add(runtime, "OC-FLW002", full_name="佐藤 太郎", kana="サトウ タロウ")
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base, "rev")
    page.goto(f"{base}/console/join-requests")
    page.fill(
        "#paste",
        "佐藤 花子\n3時間前\n富山市役所で働いています\n富山県 在住\n"
        "申込番号を入力してください。\nOC-FLW001\n承認\n拒否\n",
    )
    page.click("#paste-submit")
    page.wait_for_selector("#preview")
    assert browser._status(runtime, "OC-FLW001") == "awaiting_join_request"
    assert page.evaluate(FITS)
    page.screenshot(path=str(ARTIFACTS / "flow-390-1-preview.png"), full_page=True)
    page.click("#preview-save")
    page.wait_for_selector("#import-result")
    assert "OC-FLW001" in page.inner_text("#import-result")
    assert browser._status(runtime, "OC-FLW001") == "ready_for_review"
    page.screenshot(path=str(ARTIFACTS / "flow-390-2-matched.png"), full_page=True)
    page.goto(f"{base}/console/")  # 確認待ち: the card shows the profile lines beside the form
    card = page.locator("tr.row[data-code='OC-FLW001']")
    assert "富山市役所で働いています" in card.inner_text()
    assert page.evaluate(FITS)
    page.screenshot(path=str(ARTIFACTS / "flow-390-3-card.png"), full_page=True)
    with runtime.db.transaction() as db:  # the approval UI is another change's; the domain call
        app = db.scalars(select(Application).where(Application.code == "OC-FLW001")).one()
        applications.approve(
            db, app, settings=runtime.settings, actor="rev", at=runtime.now(), identity_checked=True
        )
    assert browser._status(runtime, "OC-FLW001") == "approved"
    page.fill("#site-search", "佐藤花子")  # the header's search, no space
    page.press("#site-search", "Enter")
    page.wait_for_selector("tr.row")
    rows = page.locator("tr.row")
    assert rows.count() == 1 and rows.first.get_attribute("data-code") == "OC-FLW001"
    assert "承認済み" in rows.first.inner_text()
    assert page.evaluate(FITS)
    page.screenshot(path=str(ARTIFACTS / "flow-390-4-found.png"), full_page=True)
