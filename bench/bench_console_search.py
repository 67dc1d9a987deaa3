"""Finding anyone among 10,000 applications of every status: ms per search, against a plain code
lookup in the same run, on SQLite (and PostgreSQL when TEST_DATABASE_URL is set).

Each search is the console's whole query work for one page of the すべて tab (`queue_page`: the
romaji pass when the text is Latin letters, the counts of every tab, one page of rows and their
join requests); the plain lookup is `SELECT … WHERE code = ?`. Target: ≤ 150 ms per search, as
for the queue pages (bench_console.py).
    .venv/bin/python bench/bench_console_search.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text

from bench.databases import databases
from bot.console.queue_query import QueueFilter, queue_page
from bot.db import Database
from bot.models import Application, ApplicationStatus, utcnow

N = 10_000
REPEAT = 15
TARGET_MS = 150.0
PAGE_SIZE = 50
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# (written, reading): variant kanji appear as people write them on the form
SURNAMES = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("髙橋", "タカハシ"),
    ("田中", "タナカ"),
    ("渡辺", "ワタナベ"),
    ("渡邉", "ワタナベ"),
    ("斎藤", "サイトウ"),
    ("齋藤", "サイトウ"),
    ("山崎", "ヤマザキ"),
    ("山\ufa11", "ヤマザキ"),
    ("伊藤", "イトウ"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
]
GIVEN = [
    ("花子", "ハナコ"),
    ("太郎", "タロウ"),
    ("一郎", "イチロウ"),
    ("美咲", "ミサキ"),
    ("大輔", "ダイスケ"),
    ("直子", "ナオコ"),
    ("健", "ケン"),
    ("彩", "アヤ"),
    ("翔", "ショウ"),
    ("陽菜", "ヒナ"),
]
ORGS = ["富山市", "射水市", "高岡市", "立山町", "富山県", "総務省", "舟橋村", "滑川市"]
STATUSES = list(ApplicationStatus)


def code_of(i: int) -> str:
    body = ""
    for _ in range(6):
        i, d = divmod(i, 32)
        body = ALPHABET[d] + body
    return "OC-" + body


def application_rows(n: int) -> list[dict[str, object]]:
    """n applications of every status with varied names, readings and organizations."""
    rng = random.Random(15)
    now = utcnow()
    rows = []
    for i in range(n):
        (surname, s_kana), (given, g_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
        space = rng.choice([" ", "\u3000", ""])
        org = rng.choice(ORGS)
        at = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        status = rng.choice(STATUSES)
        rows.append(
            {
                "code": code_of(i + 1),
                "link_token": f"t{i}",
                "status": status,
                "status_changed_at": at,
                "email": f"user{i}@city.example.lg.jp",
                "full_name": f"{surname}{space}{given}",
                "kana": f"{s_kana} {g_kana}",
                "facebook_name": "" if i % 3 else f"{given} {surname}",
                "service_type": "地方公務員",
                "organization_text": f"{org}役所 総務課",
                "department": "",
                "prefecture": "富山県",
                "employment_status": "",
                "interests": [],
                "consent": "",
                "referrer": "",
                "answers": {},
                "fingerprint": "",
                "submitted_at": at,
                "created_at": at,
                "updated_at": at,
                "verdict": rng.choice(["verified", "needs_review", "ineligible"]),
                "reasons": [],
                "organization_name": org,
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


def timed(run: Callable[[], object]) -> tuple[float, object]:
    """Median ms over REPEAT runs (after one warm-up) and the last result."""
    result = run()
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def bench(label: str, url: str) -> bool:
    """Fill one database and time each kind of search; True when all are within the target."""
    db = Database(url)
    db.upgrade()
    with db.transaction() as session:
        session.execute(insert(Application), application_rows(N))
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    target = code_of(4321)
    now = utcnow()
    searches = {
        "code OC-XXXXXX": target,
        "code, no OC-, lower": target[3:].lower(),
        "code, full width": target.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
        "name, no space": "佐藤花子",
        "name, variant kanji": "高橋",
        "kana": "さとう はなこ",
        "romaji, given first": "Hanako Sato",
        "romaji, one part": "sato",
        "email part": "user4321@",
        "organization": "射水市",
        "nothing matches": "存在しない名前",
    }
    ok = True
    print(f"{label}: {N} applications of every status, page size {PAGE_SIZE}")
    with db.transaction() as session:
        plain, _ = timed(
            lambda: session.scalars(select(Application).where(Application.code == target)).one()
        )
        print(f"  {'plain code lookup':<22} {plain:7.2f} ms  (1.0×)")
        for name, query in searches.items():
            f = QueueFilter.from_args({"tab": "all", "q": query})
            ms, page = timed(lambda f=f: queue_page(session, f, now=now, page_size=PAGE_SIZE))
            ok &= ms <= TARGET_MS
            print(
                f"  {name:<22} {ms:7.2f} ms  ({ms / plain:5.1f}×)  found {page.total:>5}"  # type: ignore[attr-defined]
            )
    db.dispose()
    return ok


def main() -> int:
    ok = True
    for label, url in databases("bench_console_search"):
        ok &= bench(label, url)
    print(f"target ≤ {TARGET_MS:.0f} ms per search: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
