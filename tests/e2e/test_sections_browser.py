"""The console's 課 page in Chromium: at 390 px and 1366 px nothing scrolls sideways, and a
reviewer on a phone adds a 課 with a hostile name (no script runs) and deactivates it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.community.sections import SEED_FILE, SectionFields, import_sections, read_seed
from bot.community.sections import create_section as add_section
from bot.models import Section
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
def test_the_sections_pages_fit_a_phone_and_a_desktop(
    console: tuple[str, Runtime], page: Any, width: int
) -> None:
    base, runtime = console
    with runtime.db.transaction() as db:
        import_sections(db, read_seed(SEED_FILE), actor="test", now=runtime.now())
        long = add_section(
            db,
            SectionFields(
                name="とても長い名前の課" * 8,
                kind="work",
                description="説明" * 100,
                group_url="https://www.facebook.com/groups/" + "x" * 200,
                leader_name="課長" * 20,
            ),
            runtime.now(),
        )
        long_id = long.id
    page.set_viewport_size({"width": width, "height": 900})
    _login(page, base)
    for shot, path in (
        ("sections", "/console/sections"),
        ("sections-inactive", "/console/sections?state=inactive"),
        ("section-edit", f"/console/sections/{long_id}"),
    ):
        page.goto(base + path)
        page.wait_for_load_state()
        assert page.evaluate(FITS), f"{shot}@{width}"
        page.screenshot(path=str(ARTIFACTS / f"page-{shot}-{width}.png"), full_page=True)


def test_a_reviewer_adds_a_hostile_name_and_deactivates_it_on_a_phone(
    console: tuple[str, Runtime], page: Any
) -> None:
    base, runtime = console
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base)
    page.goto(f"{base}/console/sections")
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    page.fill("#add input[name=name]", hostile)
    page.select_option("#add select[name=kind]", "hobby")
    page.fill("#add input[name=group_url]", "https://www.facebook.com/groups/evil")
    page.click("#add button[type=submit]")
    page.wait_for_load_state()
    assert "を追加しました" in page.inner_text("main")
    assert hostile in page.inner_text("main")  # shown as text
    page.click("text=無効にする")
    page.wait_for_load_state()
    assert "無効にしました" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "flow-390-sections.png"), full_page=True)
    with runtime.db.transaction() as db:
        row = db.scalars(select(Section)).one()
        assert (row.name, row.active) == (hostile, False)
