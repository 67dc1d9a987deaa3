"""Trace one application from a sheet row to the Graph call: files touched, calls up the layers.

Runs the whole way in one process on SQLite (the processes' entry functions called in turn):
the form poll, the confirmation email, the m.me referral webhook, the worker linking, a pasted
join request, approval, and the worker's Send API calls to a local fake Graph. A profiler hook
records every call between project functions. A call is "up the layers" when the callee's
layer is above the caller's (docs/architecture.md); such calls are listed, with the ones the
worker makes through the tables bootstrap installs (inbox handlers, after-send reactions)
counted apart.

Usage: python scripts/path_of_one_application.py [TREE]   (TREE: a checkout, default here)
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve()
sys.path.insert(0, str(TREE))
NEW_LAYOUT = (TREE / "bot" / "bootstrap.py").exists()

ENTRY = ("bot/__init__.py", "bot/app.py", "bot/cli.py", "bot/demo.py", "bot/health.py")
ENTRY_DIRS = ("bot/console/", "bot/webhooks/", "jobs/")
CORE = ("bot/db.py", "bot/models.py", "bot/config.py", "bot/outage.py", "bot/error_source.py")


def layer(rel: str) -> float:
    """5 entry points, 4 root, 3 domain, 2 delivery, 1.5 container, 1 core, 0 adapters."""
    if (
        rel in ENTRY
        or rel.startswith(ENTRY_DIRS)
        or rel in ("bot/web.py", "bot/messenger_commands.py")
    ):
        return 5
    if rel == "bot/messaging/commands.py":  # the old home of the messenger CLI
        return 5
    if rel in ("bot/bootstrap.py", "bot/wiring.py"):
        return 4
    if rel == "bot/runtime.py":
        return 1.5 if NEW_LAYOUT else 4  # the old runtime.py built the adapters
    if rel.startswith("bot/onboarding/"):
        return 3
    if rel.startswith("bot/messaging/") or rel == "bot/alerts.py":
        return 2
    if rel in CORE or rel == "bot/form_columns.py":
        return 1
    if rel.startswith("integrations/"):
        return 0
    return 5


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="path-"))
    os.chdir(work)
    sys.path.insert(0, str(TREE / "bench"))
    from bench.fake_graph import serve
    from bot import create_app
    from bot.config import DEFAULT_COLUMNS, parse_settings
    from bot.db import Database
    from bot.messaging.worker import Worker
    from bot.models import Application
    from bot.onboarding import applications
    from bot.onboarding.join_requests import import_join_requests

    if NEW_LAYOUT:
        from bot.bootstrap import build_runtime
    else:
        from bot.runtime import build_runtime  # type: ignore[attr-defined,no-redef]

    server, _log = serve()
    port = server.server_address[1]
    sheet = work / "responses.csv"
    answers = {
        "タイムスタンプ": "2026/11/20 9:30:00",
        "メールアドレス": "yashiki.masanori@city.toyama.lg.jp",
        "氏名": "屋敷 昌範",
        "氏名（ふりがな）": "やしき まさのり",
        "Facebookでの登録名": "Masanori Yashiki",
        "国家公務員・地方公務員の別": "地方公務員",
        "所属団体名（例：富山市、国土交通省）": "富山市",
        "所属部署": "企画管理部企画調整課",
        "勤務地の都道府県": "富山県",
        "現在の勤務状況": "在職中（正規職員）",
        "参加条件への同意": "同意します",
    }
    with sheet.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(DEFAULT_COLUMNS))
        writer.writerow([answers.get(title, "") for title in DEFAULT_COLUMNS])
    month = datetime.now(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m")
    raw = {
        "app": {"database_url": f"sqlite:///{work}/path.sqlite3", "secret_key": "x" * 40},
        "forms": {"source": "csv", "csv_path": str(sheet)},
        "messenger": {
            "transport": "graph",
            "page_id": "1000",
            "page_token": "page-token",
            "app_secret": "app-secret-for-the-path",
            "verify_token": "verify-token-for-the-path",
            "graph_api_base": f"http://127.0.0.1:{port}",
            "graph_api_version": "v25.0",
        },
        "groups": [
            {
                "kind": "prefecture",
                "key": "富山県",
                "name": "富山県",
                "invite_url": "https://m.me/j/a/",
            },
            {"kind": "village", "key": "village", "name": "村", "invite_url": "https://m.me/j/b/"},
            {"kind": "cohort", "key": month, "name": month, "invite_url": "https://m.me/j/c/"},
        ],
    }
    settings = parse_settings(raw, env={})
    Database(settings.app.database_url).upgrade()
    runtime = build_runtime(settings)
    start = (sys.modules.get("bot.bootstrap") or sys.modules["bot.runtime"]).start_up
    start(runtime)
    client = create_app(runtime=runtime, check_schema=False).test_client()

    calls: Counter[tuple[str, str, str, str]] = Counter()
    root = str(TREE) + os.sep

    def profile(frame, event, _arg):  # type: ignore[no-untyped-def]
        if event != "call":
            return
        callee = frame.f_code.co_filename
        caller_frame = frame.f_back
        if caller_frame is None or not callee.startswith(root):
            return
        caller = caller_frame.f_code.co_filename
        if not caller.startswith(root):
            return
        a, b = caller[len(root) :], callee[len(root) :]
        if a.startswith(("bot/", "integrations/", "jobs/")) and b.startswith(
            ("bot/", "integrations/", "jobs/")
        ):
            calls[(a, caller_frame.f_code.co_name, b, frame.f_code.co_name)] += 1

    sys.setprofile(profile)
    try:
        from bot.onboarding.intake import sync_forms

        sync_forms(runtime)  # the clock's poll
        Worker(runtime, worker_id="w").run(once=True)  # the confirmation email
        with runtime.db.transaction() as s:
            app = s.query(Application).one()
            code, token = app.code, app.link_token
        at_ms = int(time.time() * 1000)
        body = {
            "object": "page",
            "entry": [
                {
                    "id": "1000",
                    "time": at_ms,
                    "messaging": [
                        {
                            "sender": {"id": "psid-1"},
                            "recipient": {"id": "1000"},
                            "timestamp": at_ms,
                            "referral": {
                                "ref": token,
                                "source": "SHORTLINK",
                                "type": "OPEN_THREAD",
                            },
                        }
                    ],
                }
            ],
        }
        data = json.dumps(body).encode()
        signature = (
            "sha256=" + hmac.new(b"app-secret-for-the-path", data, hashlib.sha256).hexdigest()
        )
        client.post(
            "/webhooks/messenger",
            data=data,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )
        Worker(runtime, worker_id="w").run(once=True)  # linking
        with runtime.db.transaction() as s:
            import_join_requests(s, f"屋敷 昌範\t{code}\n", actor="alice", at=runtime.now())
        with runtime.db.transaction() as s:
            app = applications.get_by_code(s, code)
            applications.approve(s, app, settings=settings, actor="alice", at=runtime.now())
        Worker(runtime, worker_id="w").run(once=True)  # the invitations: Send API calls
    finally:
        sys.setprofile(None)
        server.shutdown()

    with runtime.db.transaction() as s:
        status = applications.get_by_code(s, code).status
    files = sorted({a for a, *_ in calls} | {b for _, _, b, _ in calls})
    up = sorted(
        {(a, fa, b, fb) for (a, fa, b, fb) in calls if layer(b) > layer(a)},
    )
    tables = [
        c for c in up if c[0] == "bot/messaging/worker.py" and c[1] in ("process_event", "_sent")
    ]
    direct = [c for c in up if c not in tables]
    print(f"tree: {TREE} ({'new' if NEW_LAYOUT else 'old'} layout); application ended {status}")
    print(f"project files on the path: {len(files)}")
    if os.environ.get("PATH_FILES"):
        print("\n".join(files))
    print(f"calls up the layers: {len(up)} distinct ({len(tables)} through bootstrap's tables)")
    for a, fa, b, fb in direct:
        print(f"  {a}:{fa} -> {b}:{fb}")
    for a, fa, b, fb in tables:
        print(f"  (table) {a}:{fa} -> {b}:{fb}")
    module_pairs = {(a, b) for a, _, b, _ in direct}
    print(f"module pairs called up the layers directly: {len(module_pairs)}")


if __name__ == "__main__":
    main()
