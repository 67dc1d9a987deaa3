"""The overview on every page and card: the alerts banner, notes, the Facebook request's
evidence beside the form, the m.me link and Messenger state, what the last edit changed; and
the pages speak Japanese from one catalog (no English status, purpose or reason leaks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from bot.console import alerts_banner
from bot.console.formatting import (
    INBOUND_LABELS,
    JOIN_REQUEST_STATUS_LABELS,
    OUTBOX_LABELS,
    PURPOSE_LABELS,
    QUARANTINE_REASON_LABELS,
    ROLE_LABELS,
    STATUS_LABELS,
    VERDICT_LABELS,
)
from bot.models import Alert
from bot.runtime import Runtime
from bot.stats import secretariat
from tests.integration.console_scene import build_scene
from tests.integration.test_console_helpers import (
    console_app,
    login,
    make_application,
    make_user,
    text_of,
)


@contextmanager
def counted(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)


def test_the_banner_counts_open_problems_with_links_to_fix_them(
    runtime: Runtime, admin: FlaskClient
) -> None:
    build_scene(runtime)
    html = admin.get("/console/dashboard").get_data(as_text=True)
    banner = html.split('id="alerts-banner"', 1)[1].split("</aside>", 1)[0]
    text = " ".join(text_of(banner).split())
    assert "満員間近のグループ 1" in text
    assert "空きのあるグループがない 2" in text  # group_missing + cohort_missing
    assert "グループ待ちの招待 1人" in text
    assert "メールの送信を停止中" in text
    assert f"送れなかったメッセージ・メール {len(PURPOSE_LABELS)}" in text
    assert "処理できなかった受信 2" in text
    assert "その他のアラート 6" in text
    assert 'href="/console/outbox?state=dead"' in banner
    assert 'href="/console/groups"' in banner and 'href="/console/inbox"' in banner


def test_the_banner_is_gone_when_nothing_is_open(runtime: Runtime, admin: FlaskClient) -> None:
    html = admin.get("/console/").get_data(as_text=True)
    assert 'id="alerts-banner"' not in html
    with runtime.db.transaction() as db:
        db.add(Alert(kind="group_nearly_full", key="x", message="m", created_at=runtime.now()))
    assert 'id="alerts-banner"' in admin.get("/console/").get_data(as_text=True)


def test_reviewers_see_the_banner_without_admin_links(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    build_scene(runtime)
    html = reviewer.get("/console/").get_data(as_text=True)
    banner = html.split('id="alerts-banner"', 1)[1].split("</aside>", 1)[0]
    assert "管理者に伝えてください" in banner and "href" not in banner


def test_the_banner_costs_two_statements_once_per_request(
    runtime: Runtime, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_scene(runtime)
    for url in ("/console/", "/console/dashboard", "/console/groups", "/console/users"):
        admin.get(url)  # first visits seed things (rejection templates)
        with counted(runtime) as with_banner:
            assert admin.get(url).status_code == 200
        with monkeypatch.context() as m:
            m.setattr(alerts_banner, "summarize", lambda db: alerts_banner.AlertSummary())
            with counted(runtime) as without:
                admin.get(url)
        assert len(with_banner) - len(without) == 2, url


def test_queue_cards_show_notes_evidence_and_messenger_in_bounded_statements(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    scene = build_scene(runtime)
    html = reviewer.get("/console/?tab=all").get_data(as_text=True)
    row = html.split(f'data-code="{scene.matched_code}"', 1)[1].split("</tr>", 1)[0]
    assert "メモ2 &lt;b&gt;x&lt;/b&gt;" in row and "メモ1" in row and "メモ0" not in row
    assert row.index("メモ2") < row.index("メモ1")  # newest first
    assert "Works at 富山市役所" in row and "フォームの所属" in row and "勤務先" in row
    assert 'href="https://m.me/' in row and "ref=tok2-scene" in row
    assert "未連携" in row
    first = html.split('data-code="OC-SCN000"', 1)[1].split("</tr>", 1)[0]
    assert "24時間以内に会話あり" in first and "Hanako Sato" in first
    second = html.split('data-code="OC-SCN001"', 1)[1].split("</tr>", 1)[0]
    assert "事務局が会話中" in second
    with counted(runtime) as few:
        reviewer.get("/console/?tab=all")
    for _ in range(30):
        make_application(runtime)
    with counted(runtime) as many:
        reviewer.get("/console/?tab=all")
    assert len(many) == len(few)  # the cards' facts are loaded per page, not per card


def test_application_page_shows_the_last_edit_and_the_evidence(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    scene = build_scene(runtime)
    html = reviewer.get(f"/console/applications/{scene.matched_code}").get_data(as_text=True)
    details = html.split('id="card-details"', 1)[1].split("</section>", 1)[0]
    assert "Works at 富山市役所" in details and "富山市役所" in details
    assert "最後の回答の変更" in details and "富山県庁" in details
    assert "シートの取り込み" in details
    assert "https://m.me/" in details


# Tokens that must never be visible: the stored values of statuses, verdicts, purposes,
# quarantine reasons, join-request states, queue states and roles.
LEAKS = (
    set(STATUS_LABELS)
    | set(VERDICT_LABELS)
    | set(PURPOSE_LABELS)
    | set(QUARANTINE_REASON_LABELS)
    | set(JOIN_REQUEST_STATUS_LABELS)
    | set(OUTBOX_LABELS)
    | set(INBOUND_LABELS)
    | set(ROLE_LABELS)
    | {"email", "messenger", "answers_updated", "Forbidden", "Not Found", "Bad Request"}
)


def visible_words(html: str) -> set[str]:
    """Words a person reads: no tags, scripts, emails, URLs or codes."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = text_of(html)
    text = re.sub(r"\S+@\S+|https?://\S+|OC-\w+", " ", text)
    return set(re.findall(r"[A-Za-z_]+(?: [A-Z][a-z]+)?", text)) | set(
        re.findall(r"[A-Za-z_]+", text)
    )


def test_every_console_page_speaks_japanese(
    runtime: Runtime, admin: FlaskClient, reviewer: FlaskClient
) -> None:
    scene = build_scene(runtime)
    pages = [
        "/console/",
        *(f"/console/?tab={t}" for t in ("awaiting", "review", "ineligible", "approved")),
        "/console/?tab=rejected",
        "/console/?tab=all",
        "/console/?q=佐藤花子",
        *(f"/console/applications/{code}" for code in scene.codes.values()),
        "/console/join-requests",
        "/console/groups",
        "/console/outbox",
        "/console/outbox?state=dead",
        "/console/inbox",
        "/console/quarantine",
        "/console/audit",
        "/console/users",
        "/console/templates",
        "/console/dashboard",
        "/console/password",
        "/console/totp",
        "/console/no-such-page",
        "/console/applications/OC-ZZZZZZ",
        "/console/?min_days=abc",
    ]
    for url in pages:
        html = admin.get(url).get_data(as_text=True)
        leaked = visible_words(html) & LEAKS
        assert not leaked, f"{url}: {sorted(leaked)}"
    forbidden = reviewer.get("/console/groups")
    assert forbidden.status_code == 403
    assert not visible_words(forbidden.get_data(as_text=True)) & LEAKS


def test_a_server_error_is_a_japanese_page_without_the_banner(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(runtime, "boss2", "admin")
    app = console_app(runtime)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "boss2")

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(secretariat, "queue_by_state", broken)
    monkeypatch.setattr(alerts_banner, "summarize", broken)  # the banner must not be asked
    response = client.get("/console/dashboard")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "サーバーでエラーが起きました" in html and "Internal Server Error" not in html
