"""The main flows at DEBUG: not one log line holds a personal field or a secret.

Form intake (poll and push), the Messenger webhook and its handshake, a console search (through
a real HTTP server, whose request log is captured too), the worker sending through the Graph
client to a fake Graph on loopback (urllib3 logs every URL at DEBUG), a database error logged
with its traceback, and the retention job. Every record of every logger is captured at DEBUG and
searched for the applicant's fields (also URL-encoded) and every configured secret.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import make_server

from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import DEFAULT_COLUMNS, Settings
from bot.db import Database, insert_new_rows
from bot.messaging.rate import RateLimiter
from bot.messaging.worker import Worker
from bot.messenger_commands import simulated_event
from bot.models import Application, SecretariatUser
from bot.onboarding.intake import sync_forms
from bot.webhooks.signature import sign
from integrations.csv_source import CsvFormSource
from integrations.graph import GraphClient
from integrations.local import LocalMailer
from jobs.registry import find
from jobs.runner import run_job
from tests.acceptance.fake_graph import FakeGraph
from tests.integration.test_console_helpers import logged_in

NAME, KANA, FB_NAME = "高橋 一郎", "たかはし いちろう", "Ichiro Takahashi"
EMAIL = "ichiro.takahashi@city.toyama.lg.jp"
DEPARTMENT = "危機管理課防災係"
PUSHED_NAME, PUSHED_EMAIL = "佐藤 花子", "hanako.sato@pref.toyama.lg.jp"
PSID = "7310000000000042"
TYPED = "はじめまして、よろしくお願いします"
SECRETS = {
    "page_token": "EAAG-page-token-9f8e7d6c5b4a",
    "app_secret": "app-secret-3c2b1a0f9e8d",
    "verify_token": "verify-token-7a6b5c4d3e2f",
    "push_secret": "push-secret-1f2e3d4c5b6a",
    "secret_key": "session-key-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
    "password": "correct-horse-battery-staple",
}


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph(page_token=SECRETS["page_token"], app_secret=SECRETS["app_secret"])
    fake.names[PSID] = FB_NAME
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def rt(settings: Settings, database: Database, graph: FakeGraph, tmp_path: Path):  # type: ignore[no-untyped-def]
    s = settings.replace(
        app=dataclasses.replace(settings.app, secret_key=SECRETS["secret_key"]),
        forms=dataclasses.replace(settings.forms, push_secret=SECRETS["push_secret"]),
        messenger=dataclasses.replace(
            settings.messenger,
            page_token=SECRETS["page_token"],
            app_secret=SECRETS["app_secret"],
            verify_token=SECRETS["verify_token"],
            graph_api_base=graph.base_url,
        ),
    )
    csv_path = tmp_path / "responses.csv"
    write_responses(csv_path)
    runtime = build_runtime(
        s,
        db=database,
        messenger=GraphClient(
            SECRETS["page_token"], SECRETS["app_secret"], base_url=graph.base_url
        ),
        mailer=LocalMailer(),
        form_source=CsvFormSource(csv_path),
    )
    return runtime


def write_responses(path: Path) -> None:
    answers = {
        "タイムスタンプ": "2026/11/20 9:30:00",
        "メールアドレス": EMAIL,
        "氏名": NAME,
        "氏名（ふりがな）": KANA,
        "Facebookでの登録名": FB_NAME,
        "国家公務員・地方公務員の別": "地方公務員",
        "所属団体名（例：富山市、国土交通省）": "富山市",
        "所属部署": DEPARTMENT,
        "勤務地の都道府県": "富山県",
        "現在の勤務状況": "在職中",
        "興味のある分野（課）": "防災課",
        "参加条件への同意": "同意します",
        "オンライン市役所を知ったきっかけ": "同僚の紹介",
    }
    broken = {**answers, "タイムスタンプ": "昨日", "メールアドレス": "broken." + EMAIL}
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(DEFAULT_COLUMNS))
        writer.writerow([answers[t] for t in DEFAULT_COLUMNS])
        writer.writerow([broken[t] for t in DEFAULT_COLUMNS])  # quarantined


def forbidden(extra: list[str]) -> list[str]:
    """Everything that must never be logged, as written and as a URL would carry it."""
    plain = [NAME, KANA, FB_NAME, EMAIL, DEPARTMENT, PUSHED_NAME, PUSHED_EMAIL, PSID, TYPED]
    plain += [*SECRETS.values(), *extra]
    variants = {v for p in plain for v in (p, quote(p, safe=""), quote_plus(p))}
    variants |= {NAME.replace(" ", ""), "高橋", "一郎"}
    return sorted(variants)


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger at DEBUG (no logger's level left above it)."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "werkzeug", "bot", "jobs", "integrations", "apscheduler"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """The captured lines as a handler would write them, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records)


def serve(app: object) -> tuple[str, threading.Thread, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", thread, server


def drain(rt) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(rt)
    worker.limiter = RateLimiter(0)
    worker.run(once=True)


def test_main_flows_at_debug_log_no_personal_data_and_no_secret(
    rt, captured: pytest.LogCaptureFixture, graph: FakeGraph
) -> None:
    # form intake: the poll (one row taken in, one quarantined) and a signed push
    assert sync_forms(rt).new == 1
    with rt.db.transaction() as s:
        app = s.scalars(select(Application).where(Application.email == EMAIL)).one()
        code, token = app.code, app.link_token
    app = create_app(runtime=rt)
    client = app.test_client()
    push = json.dumps(
        {
            "namedValues": {
                "タイムスタンプ": ["2026/11/20 10:00:00"],
                "メールアドレス": [PUSHED_EMAIL],
                "氏名": [PUSHED_NAME],
            },
            "timestamp": rt.now().timestamp(),
        },
        ensure_ascii=False,
    ).encode()
    answer = client.post(
        "/webhooks/forms",
        data=push,
        headers={"X-Cityhall-Signature": sign(push, SECRETS["push_secret"])},
    )
    assert answer.status_code == 200

    # the Messenger webhook: the m.me referral links the PSID; then a text; the worker replies
    # through the Graph client (the page token is in every call's query string)
    for event in (
        simulated_event(PSID, page_id="1000", ref=token),
        simulated_event(PSID, page_id="1000", text=f"{TYPED} {EMAIL}"),
    ):
        raw = json.dumps(event, ensure_ascii=False).encode()
        signature = sign(raw, SECRETS["app_secret"])
        answer = client.post(
            "/webhooks/messenger", data=raw, headers={"X-Hub-Signature-256": signature}
        )
        assert answer.status_code == 200
    drain(rt)
    assert [r for r in graph.recorded() if r.path.endswith("/me/messages")]

    # a console search by a logged-in reviewer (its query string holds the name)
    reviewer = logged_in(rt, "rev", "reviewer")
    assert reviewer.get("/console/", query_string={"q": NAME}).status_code == 200
    assert reviewer.get("/console/", query_string={"q": EMAIL}).status_code == 200

    # the same through a real HTTP server, whose request log names every request line;
    # the Referer of the next page repeats the search, and the handshake carries its token
    base, thread, server = serve(app)
    try:
        searched = requests.get(f"{base}/console/", params={"q": NAME}, timeout=10)
        requests.get(
            f"{base}/console/login",
            headers={"Referer": f"{base}/console/?q={quote(EMAIL)}"},
            timeout=10,
        )
        handshake = requests.get(
            f"{base}/webhooks/messenger",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": SECRETS["verify_token"],
                "hub.challenge": "1158201444",
            },
            timeout=10,
        )
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(timeout=10)
    assert searched.status_code == 200 and handshake.text == "1158201444"

    # a database error with values (a duplicate code and address), logged with its traceback
    with pytest.raises(IntegrityError) as refused:
        with rt.db.transaction() as s:
            s.add(
                Application(
                    code=code,
                    link_token="another-token",
                    email=EMAIL,
                    full_name=NAME,
                    submitted_at=rt.now(),
                )
            )
    logging.getLogger("bot.flows").error("unexpected database error", exc_info=refused.value)
    if rt.db.is_postgres:  # COPY: the driver's CONTEXT line quotes the row's value
        with pytest.raises(Exception) as copy_refused:
            with rt.db.transaction() as s:
                insert_new_rows(s, Application.__table__, [{"code": NAME * 10, "email": EMAIL}])
        logging.getLogger("bot.flows").error("copy refused", exc_info=copy_refused.value)

    # retention erases the application once it has been closed long enough
    with rt.db.transaction() as s:
        closed = s.scalars(select(Application).where(Application.code == code)).one()
        closed.status = "rejected"
        closed.status_changed_at = rt.now() - timedelta(days=400)
        password_hash = s.scalars(select(SecretariatUser.password_hash)).first() or ""
    result = run_job(rt, find("retention"))
    assert result.outcome == "ok" and result.detail.startswith("erased 1")

    text = logged_text(captured)
    assert "GET /console/" in text and "/me/messages" in text  # the flows were logged
    leaked = [needle for needle in forbidden([token, password_hash]) if needle in text]
    assert leaked == [], [line for line in text.splitlines() if any(n in line for n in leaked)]


def test_engine_errors_name_no_parameter_values(rt) -> None:  # type: ignore[no-untyped-def]
    with rt.db.transaction() as s:
        s.add(Application(code="OC-AAAAAA", link_token="t1", email=EMAIL, submitted_at=rt.now()))
    with pytest.raises(IntegrityError) as refused:
        with rt.db.transaction() as s:
            s.add(
                Application(
                    code="OC-AAAAAA",
                    link_token="t2",
                    email=PUSHED_EMAIL,
                    full_name=PUSHED_NAME,
                    submitted_at=rt.now(),
                )
            )
    message = str(refused.value)
    assert "SQL parameters hidden" in message
    assert PUSHED_EMAIL not in message.split("DETAIL")[0]
