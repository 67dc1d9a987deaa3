"""/stats in real headless Chromium at a phone's width (390 px): no horizontal scroll, with
every list opened, and nothing blocked by the page's Content-Security-Policy."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import Settings
from bot.db import Database
from bot.models import Application
from bot.onboarding.registry import load_registry
from integrations.local import LocalMailer, LocalMessenger
from tests.e2e.test_console_browser import ARGS, ARTIFACTS, CHROMIUM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)",
    ),
]


@pytest.fixture
def base_url(tmp_path: Path, settings: Settings, sqlite_template: Path) -> Iterator[str]:
    """The app on a free loopback port, with members in every prefecture and national body."""
    path = tmp_path / "e2e.sqlite3"
    shutil.copy(sqlite_template, path)
    runtime = build_runtime(
        settings, db=Database(f"sqlite:///{path}"), messenger=LocalMessenger(), mailer=LocalMailer()
    )
    orgs = list(load_registry())[::2]  # half of everything: long lists, long names
    with runtime.db.transaction() as db:
        for i, org in enumerate(orgs):
            db.add(
                Application(
                    code=f"OC-E{i:05d}",
                    link_token=f"t{i}",
                    status="invited",
                    email=f"m{i}@example.jp",
                    organization_code=org.code,
                    submitted_at=runtime.now() - timedelta(days=i % 700 + 2),
                    approved_at=runtime.now() - timedelta(days=i % 700),
                )
            )
    server = make_server("127.0.0.1", 0, create_app(runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        runtime.db.dispose()


def test_stats_page_fits_a_390_px_phone_without_horizontal_scroll(base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(
            locale="ja-JP", viewport={"width": 390, "height": 844}, device_scale_factor=2
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base_url}/stats")
        assert page.locator("h1").inner_text() == "数字で見るオンライン市役所"
        assert page.locator("svg.chart").count() == 2
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " document.body.scrollWidth]"
        )
        page.screenshot(path=str(ARTIFACTS / "stats-390.png"), full_page=True)
        context.close()
        browser.close()
    scroll_width, client_width, body_width = widths
    assert client_width == 390
    assert scroll_width <= client_width and body_width <= client_width, widths
    assert errors == []
    assert all(url.startswith(base_url) for url in requests), requests
