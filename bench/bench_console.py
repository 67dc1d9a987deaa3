"""Queue page with 10,000 pending applications: server time per page on SQLite and PostgreSQL.

Target: ≤ 150 ms per page. PostgreSQL runs when TEST_DATABASE_URL is set (in a private schema).
    .venv/bin/python bench/bench_console.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench.databases import databases
from bot import create_app
from bot.accounts.users import add_user
from bot.bootstrap import build_runtime
from bot.config import parse_settings
from bot.db import Database
from bot.models import Application, utcnow
from integrations.local import LocalMailer, LocalMessenger

N = 10_000
TARGET_MS = 150.0
PASSWORD = "benchmark-password"
SURNAMES = ["山田", "鈴木", "佐藤", "田中", "高橋", "伊藤", "渡辺", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "一郎", "次郎", "美咲", "大輔", "直子", "健", "彩", "翔"]
PREFS = ["富山県", "東京都", "大阪府", "北海道", "福岡県", "石川県"]
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def code_of(i: int) -> str:
    body = ""
    for _ in range(6):
        i, d = divmod(i, 32)
        body = ALPHABET[d] + body
    return "OC-" + body


def application_rows(n: int) -> list[dict[str, object]]:
    """n open applications with varied names, verdicts and dates."""
    rng = random.Random(7)
    now = utcnow()
    rows = []
    for i in range(n):
        status = rng.choice(["submitted", "awaiting_join_request", "ready_for_review"])
        at = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        rows.append(
            {
                "code": code_of(i + 1),
                "link_token": f"t{i}",
                "status": status,
                "status_changed_at": at,
                "email": f"user{i}@city.example.lg.jp",
                "full_name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}{i}",
                "kana": "ヤマダ タロウ",
                "facebook_name": f"Taro Yamada {i}",
                "service_type": rng.choice(["地方公務員", "国家公務員"]),
                "organization_text": "市役所",
                "department": "",
                "prefecture": rng.choice(PREFS),
                "employment_status": "",
                "interests": [],
                "consent": "",
                "referrer": "",
                "answers": {"氏名": "x"},
                "fingerprint": "",
                "submitted_at": at,
                "created_at": at,
                "updated_at": at,
                "verdict": rng.choice(["verified", "needs_review", "ineligible"]),
                "reasons": [{"code": "personal_email", "message": "個人のメールアドレスです"}],
                "organization_name": "富山市",
                "join_request_reminders": 0,
                "link_reminders": 0,
                "approved_by": "",
                "cohort_key": "",
                "decision_reason": "",
                "reason_shared": False,
                "join_request_seen_at": at if status == "ready_for_review" else None,
            }
        )
    return rows


def bench(label: str, url: str) -> bool:
    """Fill one database and time the queue pages; True when within the target."""
    db = Database(url)
    db.upgrade()
    with db.transaction() as session:
        session.execute(insert(Application), application_rows(N))
        add_user(session, "bench", "reviewer", PASSWORD, actor="bench", at=utcnow())
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    settings = parse_settings({"app": {"secret_key": "bench", "database_url": url}}, env={})
    runtime = build_runtime(settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer())
    app = create_app(runtime=runtime)
    client = app.test_client()
    client.get("/console/login")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    client.post("/console/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token})
    cases = {
        "first page": "/console/",
        "newest first": "/console/?order=newest",
        "filtered": "/console/?verdict=needs_review&prefecture=富山県&service=local&seen=no",
        "waiting ≥ 30 days": "/console/?min_days=30",
        "search name": "/console/?q=山田",
        "search email": "/console/?q=user9999@",
        "search code": "/console/?q=oc-0000a1",
    }
    # a deep page: follow "next" 20 times (keyset pagination keeps it constant-time)
    import re

    page_url = "/console/"
    for _ in range(20):
        html = client.get(page_url).get_data(as_text=True)
        page_url = re.search(r'href="([^"]+)" rel="next"', html).group(1)  # type: ignore[union-attr]
    cases["page 21"] = page_url.replace("&amp;", "&")
    ok = True
    print(f"{label}: {N} pending applications, page size {settings.console.page_size}")
    for name, path in cases.items():
        server, wall = [], []
        for _ in range(15):
            started = time.perf_counter()
            response = client.get(path)
            wall.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
            server.append(float(response.headers["Server-Timing"].split("dur=")[1]))
        med, worst = statistics.median(server), max(server)
        ok &= med <= TARGET_MS
        print(
            f"  {name:<20} server median {med:6.1f} ms  max {worst:6.1f} ms  "
            f"(request incl. session check median {statistics.median(wall):6.1f} ms)"
        )
    db.dispose()
    return ok


def main() -> int:
    ok = True
    for label, url in databases("bench_console"):
        ok &= bench(label, url)
    print(f"target ≤ {TARGET_MS:.0f} ms per page: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
