"""Benchmark: one form sync of a 10,000-row, 20-column sheet through the real Sheets adapter.

Run: .venv/bin/python bench/bench_form_sync.py [ROWS]
Google's endpoints are answered in-process by `responses` (tests/google_fakes.py); gspread and
google-auth are the real ones. The database is a fresh, migrated SQLite file, then a private
PostgreSQL schema when TEST_DATABASE_URL is set. Reported, per engine:
- first import: every row new (applications, audit entries, verdicts, confirmation emails);
- no-change re-poll: the same sheet again, which must write nothing at all;
- fetch: the `values.get` round trip and JSON decoding inside gspread (served locally);
- processing: what happens after the response has arrived (parse, compare, write, commit).
Targets: processing ≤ 2 s, exactly one values request per poll, zero writes on a no-change poll.
"writes" counts INSERT/UPDATE/DELETE statements; PostgreSQL's COPY streams (the new applications
and their emails, `bot.db.insert_new_rows`) are not statements and are not in that count.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402

from bench.databases import databases  # noqa: E402
from bot.bootstrap import build_runtime  # noqa: E402
from bot.config import DEFAULT_COLUMNS, parse_settings  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.models import Application, OutboundMessage  # noqa: E402
from bot.onboarding.intake import sync_forms  # noqa: E402
from integrations.local import LocalMailer, LocalMessenger  # noqa: E402
from integrations.sheets import SheetsFormSource  # noqa: E402
from tests import google_fakes  # noqa: E402
from tests.labelled_set import load_rows  # noqa: E402

TARGET_SECONDS = 2.0
EXTRA_TITLES = [  # 13 mapped + 7 unmapped questions = 20 columns
    "事務局への連絡事項",
    "入庁年",
    "職種",
    "参加したい勉強会",
    "説明会の参加希望日",
    "紹介者のお名前",
    "その他",
]
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def sheet_values(n: int) -> list[list[Any]]:
    """A header and n distinct responses built from the labelled set."""
    base = load_rows()
    header = [*DEFAULT_COLUMNS, *EXTRA_TITLES]
    start = datetime(2026, 10, 1, 9, 0)
    rows: list[list[Any]] = [header]
    for i in range(n):
        r = base[i % len(base)]
        local, _, domain = (r["email"] or f"nobody{i}@example.jp").partition("@")
        at = start + timedelta(minutes=3 * i)
        rows.append(
            [
                google_fakes.serial(at),
                f"{local}.{i}@{domain or 'example.jp'}",
                f"{r['full_name']}{i}",
                "やまだ たろう",
                r["facebook_name"],
                r["service_type"],
                r["organization"],
                "企画課",
                r["prefecture"],
                r["employment_status"],
                "ライティング課, 法規課",
                r["consent"],
                "同僚の紹介",
                "",
                2015 + i % 10,
                "行政職",
                "財政",
                "2026/11/20",
                "",
                "",
            ]
        )
    return rows


@dataclass
class Poll:
    """The figures of one poll."""

    total_s: float
    fetch_s: float
    values_requests: int
    writes: int
    counts: str

    @property
    def processing_s(self) -> float:
        return self.total_s - self.fetch_s


def run(label: str, url: str, values: list[list[Any]]) -> list[str]:
    """Sync the sheet twice into a fresh database; print the figures, return missed targets."""
    n = len(values) - 1
    db = Database(url)
    db.upgrade()
    settings = parse_settings(
        {"app": {"secret_key": "bench", "database_url": url}, "forms": {"source": "csv"}}, env={}
    )
    runtime = build_runtime(settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer())

    writes: list[str] = []

    def count_writes(_c: Any, _cur: Any, statement: str, *_a: Any, **_k: Any) -> None:
        if WRITE.match(statement):
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_writes)

    with google_fakes.google_mock() as google:
        google.get(google_fakes.META_URL, json=google_fakes.metadata())
        google.get(google_fakes.VALUES_URL, json=google_fakes.values_body(values))
        source = google_fakes.sheets_source(google_fakes.service_account_info())
        source.fetch()  # token, metadata and first request outside the measurement
        timed = TimedSource(source)
        runtime.form_source = timed  # type: ignore[assignment]

        def poll() -> Poll:
            writes.clear()
            before = len(google_fakes.calls_to(google, google_fakes.VALUES_URL))
            start = time.perf_counter()
            counts = sync_forms(runtime)
            total = time.perf_counter() - start
            after = len(google_fakes.calls_to(google, google_fakes.VALUES_URL))
            return Poll(total, timed.last_s, after - before, len(writes), str(counts))

        first = poll()
        again = poll()

    with db.transaction() as session:
        apps = session.scalar(select(func.count()).select_from(Application))
        emails = session.scalar(
            select(func.count()).where(OutboundMessage.purpose == "confirmation")
        )
    db.dispose()

    print(f"form sync of {n} rows x {len(values[0])} columns ({label}, real gspread client)")
    print(f"{'poll':<18}{'total':>9}{'fetch':>9}{'process':>9}{'reads':>7}{'writes':>8}  counts")
    for name, p in (("first import", first), ("no-change re-poll", again)):
        print(
            f"{name:<18}{p.total_s:>8.2f}s{p.fetch_s:>8.2f}s{p.processing_s:>8.2f}s"
            f"{p.values_requests:>7}{p.writes:>8}  {p.counts}"
        )
    print(f"applications: {apps}, confirmation emails queued: {emails}")

    failures = [
        f"{label}: {name} processing {p.processing_s:.2f} s > {TARGET_SECONDS} s"
        for name, p in (("first import", first), ("re-poll", again))
        if p.processing_s > TARGET_SECONDS
    ]
    assert first.values_requests == 1 and again.values_requests == 1, "one values.get per poll"
    assert again.writes == 0, f"no-change poll wrote {again.writes} statements"
    assert apps == n, apps
    return failures


def main() -> int:
    """Run the benchmark on each engine, print its figures, and fail when a target is missed."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    logging.basicConfig(level=logging.ERROR)  # the column report would warn once per run
    values = sheet_values(n)
    failures: list[str] = []
    for label, url in databases("bench_forms"):
        failures += run(label, url, values)
    for failure in failures:
        print(f"MISSED: {failure}")
    print("targets: processing ≤ 2 s, 1 read per poll, 0 writes on no change:", end=" ")
    print("met" if not failures else "MISSED")
    return 1 if failures else 0


class TimedSource:
    """Wrap a SheetsFormSource and remember how long its last fetch took."""

    def __init__(self, source: SheetsFormSource) -> None:
        self.source = source
        self.last_s = 0.0

    def fetch(self) -> Any:
        start = time.perf_counter()
        try:
            return self.source.fetch()
        finally:
            self.last_s = time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
