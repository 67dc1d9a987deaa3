"""/stats.json with 10,000 members: warm and cold request times on SQLite and PostgreSQL.

Target: warm ≤ 50 ms (median of 50 requests through the Flask test client). Cold (the numbers
counted afresh: the first request of the process, which also loads the registry, and requests
right after the cache was cleared) is reported, and so is a /healthz request of the same app,
as the floor a request costs here. PostgreSQL runs when TEST_DATABASE_URL is set.
    .venv/bin/python bench/bench_stats.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask.testing import FlaskClient
from sqlalchemy import insert, text

from bench.databases import databases
from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import parse_settings
from bot.db import Database
from bot.models import Application, utcnow
from bot.onboarding.registry import load_registry
from bot.public.stats import CACHE_KEY
from integrations.local import LocalMailer, LocalMessenger

N = 10_000
OTHERS = 2_000  # open and decided applications that are not members
TARGET_MS = 50.0
WARM_RUNS = 50
COLD_RUNS = 5


def application_rows() -> list[dict[str, object]]:
    """N members of ~1,200 governments and bodies over 30 months, plus non-members."""
    rng = random.Random(17)
    codes = [org.code for org in load_registry()]
    taking_part = rng.sample(codes, 1_200)
    now = utcnow()
    rows: list[dict[str, object]] = []
    for i in range(N + OTHERS):
        member = i < N
        approved = now - timedelta(minutes=rng.randint(0, 60 * 24 * 900)) if member else None
        submitted = (approved or now) - timedelta(days=rng.randint(0, 14))
        rows.append(
            {
                "code": f"OC-{i:06d}",
                "link_token": f"t{i}",
                "status": rng.choice(["approved", "invited", "invited"])
                if member
                else rng.choice(["submitted", "ready_for_review", "rejected", "expired"]),
                "email": f"user{i}@city.example.lg.jp",
                "full_name": f"山田 太郎{i}",
                "organization_code": rng.choice(taking_part) if rng.random() > 0.02 else None,
                "submitted_at": submitted,
                "approved_at": approved,
            }
        )
    return rows


def timed(client: FlaskClient, path: str) -> float:
    """One GET, in milliseconds (the response must be a 200)."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def bench(label: str, url: str, rows: list[dict[str, object]]) -> bool:
    """Fill one database and time /stats.json; True when the warm median is within target."""
    db = Database(url)
    db.upgrade()
    with db.transaction() as session:
        session.execute(insert(Application), rows)
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    settings = parse_settings({"app": {"secret_key": "bench", "database_url": url}}, env={})
    runtime = build_runtime(settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer())
    app = create_app(runtime=runtime)
    client = app.test_client()
    first = timed(client, "/stats.json")
    cold = []
    for _ in range(COLD_RUNS):
        app.extensions[CACHE_KEY].clear()
        cold.append(timed(client, "/stats.json"))
    warm = [timed(client, "/stats.json") for _ in range(WARM_RUNS)]
    page = [timed(client, "/stats") for _ in range(WARM_RUNS)]
    health = [timed(client, "/healthz") for _ in range(WARM_RUNS)]
    warm_ms, health_ms = statistics.median(warm), statistics.median(health)
    print(f"{label}: {N:,} members, {OTHERS:,} other applications")
    print(
        f"  /stats.json warm   median {warm_ms:6.2f} ms  max {max(warm):6.2f} ms  "
        f"({WARM_RUNS} runs)"
    )
    print(f"  /stats.json cold   first of the process {first:6.1f} ms (registry index built then)")
    print(f"  /stats.json cold   cache cleared: median {statistics.median(cold):6.1f} ms")
    print(f"  /stats page warm   median {statistics.median(page):6.2f} ms")
    print(
        f"  /healthz           median {health_ms:6.2f} ms  "
        f"(/stats.json warm = {warm_ms / health_ms:.2f}× /healthz)"
    )
    db.dispose()
    return warm_ms <= TARGET_MS


def main() -> int:
    rows = application_rows()
    ok = True
    for label, url in databases("bench_stats"):
        ok &= bench(label, url, rows)
    print(f"target /stats.json warm ≤ {TARGET_MS:.0f} ms: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
