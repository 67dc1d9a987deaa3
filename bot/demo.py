"""The embedded demo: a fresh SQLite database, sample form responses, web + worker + clock."""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from bot.bootstrap import build_runtime
from bot.config import GroupSettings, Settings, load_settings
from bot.db import Database

log = logging.getLogger(__name__)
SAMPLE_CSV = Path(__file__).resolve().parent / "demo_data" / "form_responses.csv"
FAQ_SEED = Path(__file__).resolve().parent / "community" / "data" / "faq.toml"
DEMO_USERS = (("demo", "admin", "demo-password"), ("reviewer", "reviewer", "reviewer-password"))


def seed_community(session: Any, settings: Settings, now: Any) -> None:
    """The 課 (with example group URLs), the FAQ and the coming 説明会, as an operator would."""
    from bot.community import events, questions, sections

    entries = sections.read_seed(sections.SEED_FILE)
    for number, entry in enumerate(entries, start=1):
        entry["group_url"] = (
            entry.get("group_url") or f"https://www.facebook.com/groups/demo.ka{number}"
        )
        entry["introduce_at_grand"] = number <= 3
    sections.import_sections(session, entries, actor="demo", now=now)
    seeds, _ = questions.parse_faq_file(FAQ_SEED.read_text(encoding="utf-8"))
    questions.import_faq(session, seeds, actor="demo", now=now)
    events.create_orientation_events(session, settings, now=now, actor="demo")


class DemoError(Exception):
    """The demo refuses to run on a non-embedded set-up."""


def demo_groups(month_key: str) -> tuple[GroupSettings, ...]:
    """A few groups so invitations can be tried (some prefectures deliberately have none)."""
    prefectures = ("東京都", "神奈川県", "大阪府", "富山県", "北海道", "京都府", "福岡県")
    groups = [
        GroupSettings(
            kind="prefecture",
            key=p,
            name=f"{p}メッセンジャーグループ",
            invite_url=f"https://m.me/j/demo-{i:02d}/",
            capacity=250,
        )
        for i, p in enumerate(prefectures)
    ]
    groups.append(
        GroupSettings(
            kind="prefecture",
            key="東京都",
            name="東京都メッセンジャーグループ2",
            invite_url="https://m.me/j/demo-tokyo2/",
            capacity=250,
        )
    )
    groups.append(
        GroupSettings(
            kind="village",
            key="village",
            name="村Facebookグループ",
            invite_url="https://www.facebook.com/groups/demo.village",
            capacity=100000,
        )
    )
    year, month = month_key.split("-")
    groups.append(
        GroupSettings(
            kind="cohort",
            key=month_key,
            name=f"{year}年{int(month)}月入庁同期",
            invite_url="https://m.me/j/demo-cohort/",
            capacity=250,
        )
    )
    return tuple(groups)


def _prepare(settings: Settings, keep: bool) -> Settings:
    url = make_url(settings.app.database_url)
    if url.get_backend_name() != "sqlite":
        raise DemoError(
            "the demo runs only on the embedded SQLite database; "
            "remove database_url from config.toml (or run without one)"
        )
    if settings.messenger.transport != "outbox" or settings.mail.transport != "outbox":
        raise DemoError("the demo runs only with the local outbox transports")
    db_path = Path(url.database or "var/cityhall.sqlite3")
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree("var/outbox", ignore_errors=True)
    csv_path = Path(settings.forms.csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    if not keep or not csv_path.exists():
        shutil.copy(SAMPLE_CSV, csv_path)
    app_settings = settings.app
    if not app_settings.secret_key:
        app_settings = replace(app_settings, secret_key=secrets.token_hex(32))
    return settings.replace(app=app_settings)


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    keep: bool = False,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Set up and run the demo until Ctrl-C (or `stop`)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot import create_app
    from bot.accounts.users import add_user
    from bot.messaging.worker import Worker
    from bot.onboarding.groups import apply_configured_groups
    from bot.onboarding.intake import sync_forms
    from jobs.clock import Clock

    settings = _prepare(load_settings(), keep)
    Database(settings.app.database_url).upgrade()
    runtime = build_runtime(settings)
    now = runtime.now()
    with runtime.db.transaction() as session:
        month = now.astimezone(settings.tz).strftime("%Y-%m")
        apply_configured_groups(session, settings.groups or demo_groups(month), now)
        if not keep:
            for name, role, password in DEMO_USERS:
                add_user(session, name, role, password, actor="demo", at=now)
            seed_community(session, settings, now)
    counts = sync_forms(runtime)
    log.info("demo data loaded: %s", counts)

    stop = stop or threading.Event()
    worker = Worker(runtime)
    threads = [
        threading.Thread(target=worker.run, kwargs={"stop": stop}, name="worker", daemon=True)
    ]
    clock = Clock(runtime)
    clock.start()
    app = create_app(runtime=runtime)
    server = make_server(host, port, app, threaded=True)
    threads.append(threading.Thread(target=server.serve_forever, name="web", daemon=True))
    for t in threads:
        t.start()

    def _stop(*_: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    url = f"http://{host}:{port}"
    print(f"\ncityhall demo is running at {url}/console/login", flush=True)
    for name, role, password in DEMO_USERS:
        print(f"  {role:<8} login: {name} / {password}", flush=True)
    print(f"  form responses: {settings.forms.csv_path} ({counts})", flush=True)
    print("  messages that would be sent: var/outbox/*.jsonl", flush=True)
    print("Press Ctrl-C to stop.\n", flush=True)
    if ready is not None:
        ready.set()
    stop.wait()
    print("stopping…", flush=True)
    server.shutdown()
    clock.shutdown()
    for t in threads:
        t.join(timeout=10)
    runtime.db.dispose()
    return 0
