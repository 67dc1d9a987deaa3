"""The console's イベント pages in Chromium: at 390 px and 1366 px nothing scrolls sideways, and
a reviewer on a phone adds a weekly series with a hostile title (no script runs), sees the
skipped holiday, and cancels one occurrence after confirming."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.community import events
from bot.models import Event
from bot.runtime import Runtime
from tests.e2e import test_console_browser as browser

pytestmark = browser.pytestmark
console = browser.console  # the served app (fixture)
page = browser.page  # a Chromium page (fixture)
ARTIFACTS = browser.ARTIFACTS
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


def _login(pg: Any, base: str) -> None:
    pg.goto(f"{base}/console/login")
    pg.fill("input[name=name]", "rev")
    pg.fill("input[name=password]", browser.PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_load_state()


@pytest.mark.parametrize("width", (390, 1366))
def test_the_event_pages_fit_a_phone_and_a_desktop(
    console: tuple[str, Runtime], page: Any, width: int
) -> None:
    base, runtime = console
    now = runtime.now()
    with runtime.db.transaction() as db:
        events.create_orientation_events(db, runtime.settings, now=now, actor="t")
        long = events.create_event(
            db,
            events.EventDraft(
                kind="study",
                title="とても長いタイトルの勉強会" * 14,
                starts_at=now + timedelta(days=2),
                ends_at=now + timedelta(days=2, hours=1),
                description="説明" * 500,
                zoom_url="https://zoom.us/j/" + "9" * 300,
                capacity=30,
            ),
            actor="t",
            now=now,
        )
        events.rsvp(db, long.id, psid="p", going=True, member=True, application_id=None, now=now)
        long_id = long.id
    page.set_viewport_size({"width": width, "height": 900})
    _login(page, base)
    for shot, path in (
        ("events", "/console/events"),
        ("event", f"/console/events/{long_id}"),
        ("dashboard-events", "/console/dashboard"),
    ):
        page.goto(base + path)
        page.wait_for_load_state()
        assert page.evaluate(FITS), f"{shot}@{width}"
        page.screenshot(path=str(ARTIFACTS / f"page-{shot}-{width}.png"), full_page=True)


def test_a_reviewer_adds_a_series_with_a_hostile_title_and_cancels_one_on_a_phone(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base)
    page.goto(f"{base}/console/events")
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    # 18 and 25 December, (1 January: 元日, skipped), 8 January
    first = datetime(runtime.now().year + 1, 12, 18).date()
    page.fill("input[name=title]", hostile)
    page.fill("input[name=date]", first.isoformat())
    page.select_option("select[name=repeat]", "weekly")
    page.fill("input[name=count]", "3")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "3回分作成しました" in main and "元日" in main
    assert hostile in main  # shown as text
    page.click("table.event-table a")  # the first occurrence
    page.wait_for_load_state()
    page.check("input[name=confirm]")
    page.click("button.danger")
    page.wait_for_load_state()
    assert "を中止しました" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "flow-390-events.png"), full_page=True)
    with runtime.db.transaction() as db:
        rows = db.scalars(select(Event).order_by(Event.starts_at)).all()
        assert [r.cancelled_at is not None for r in rows] == [True, False, False]
        assert rows[2].starts_at.astimezone(runtime.settings.tz).date().month == 1
