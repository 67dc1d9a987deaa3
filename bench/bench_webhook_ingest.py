"""Webhook ingest under gunicorn: signed Messenger POSTs at a constant rate, real app vs bare Flask.

Starts gunicorn as the Procfile does (sync workers, access log) on the real app
(`bot:create_app()`, a temporary SQLite database, then PostgreSQL in a private schema when
TEST_DATABASE_URL is set) and on a bare Flask app whose endpoint only answers 200
(bench/bare_webhook_app.py). A pure-asyncio open-loop client sends distinct signed batches at a
fixed rate: each request starts on its schedule whatever the server does, and its latency is
counted from that scheduled instant, so a stalled server cannot hide its queue (no coordinated
omission). Target: p99 ≤ 50 ms for the real endpoint at ≥ 200 requests/s.

    .venv/bin/python bench/bench_webhook_ingest.py [--rate 200] [--duration 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.databases import postgres_schema  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.models import InboundEvent  # noqa: E402
from bot.webhooks.signature import sign  # noqa: E402

SECRET = "bench-app-secret"
PAGE = "1000"
TARGET_P99_MS = 50.0
WARMUP_S = 3.0
GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass(frozen=True)
class Figures:
    """What one load run measured (after the warm-up)."""

    label: str
    sent: int
    ok: int
    errors: int
    throughput: float
    median_ms: float
    p99_ms: float
    max_ms: float


# -- requests -------------------------------------------------------------------------------------
def batch(i: int, base_ms: int) -> bytes:
    """Request i: a distinct signed batch of 1–3 items (messages, a postback, a read)."""
    at = base_ms + i
    items: list[dict[str, object]] = [
        {
            "sender": {"id": f"bench-{i % 5000}"},
            "recipient": {"id": PAGE},
            "timestamp": at,
            "message": {"mid": f"m_bench_{i}_{uuid.uuid4().hex}", "text": "説明会はいつですか？"},
        }
    ]
    if i % 3 == 1:
        items.append(
            {
                "sender": {"id": f"bench-{i % 5000}"},
                "recipient": {"id": PAGE},
                "timestamp": at,
                "postback": {"title": "申込状況", "payload": "MENU_STATUS"},
            }
        )
    if i % 5 == 2:
        items.append(
            {
                "sender": {"id": f"bench-{i % 5000}"},
                "recipient": {"id": PAGE},
                "timestamp": at,
                "read": {"watermark": at - 1},
            }
        )
    body = {"object": "page", "entry": [{"id": PAGE, "time": at, "messaging": items}]}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = (
        "POST /webhooks/messenger HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n"
        f"X-Hub-Signature-256: {sign(raw, SECRET)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + raw


def items_in(i: int) -> int:
    """How many messaging items request i carries (as batch() builds it)."""
    return 1 + (i % 3 == 1) + (i % 5 == 2)


# -- the open-loop client -------------------------------------------------------------------------
async def _one(port: int, request: bytes, due: float) -> tuple[int, float]:
    """Send one request on a new connection; return (status or 0, seconds since it was due)."""
    loop = asyncio.get_running_loop()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await asyncio.wait_for(reader.readexactly(length), 10)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
        status = 0
    finally:
        if writer is not None:
            writer.close()
    return status, loop.time() - due


async def _drive(port: int, requests: list[bytes], rate: float) -> list[tuple[int, float]]:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(port, request, due)))
    return list(await asyncio.gather(*tasks))


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0 < q ≤ 1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def load(label: str, port: int, rate: float, duration: float, offset: int) -> Figures:
    """Drive one server at `rate` for warm-up + `duration` seconds; figures after the warm-up."""
    base_ms = int(time.time() * 1000) * 10  # distinct timestamps for distinct event keys
    warm = int(WARMUP_S * rate)
    count = warm + int(duration * rate)
    requests = [batch(offset + i, base_ms) for i in range(count)]
    started = time.perf_counter()
    results = asyncio.run(_drive(port, requests, rate))[warm:]
    wall = time.perf_counter() - started - WARMUP_S
    latencies = [seconds * 1000 for status, seconds in results if status == 200]
    ok = len(latencies)
    return Figures(
        label=label,
        sent=len(results),
        ok=ok,
        errors=len(results) - ok,
        throughput=ok / wall,
        median_ms=percentile(latencies, 0.5) if latencies else math.nan,
        p99_ms=percentile(latencies, 0.99) if latencies else math.nan,
        max_ms=max(latencies) if latencies else math.nan,
    )


# -- servers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(
    app: str, *, env: dict[str, str], workers: int, threads: int, log: Path, chdir: Path = ROOT
) -> Iterator[int]:
    """Serve `app` with gunicorn on a free loopback port until the block ends."""
    port = free_port()
    command = [
        str(GUNICORN),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--access-logfile",
        "-",
        "--chdir",
        str(chdir),
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, app], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start within 30 s") from None
                time.sleep(0.1)
        time.sleep(1.0)  # let every worker finish booting (create_app runs per worker)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_config(folder: Path, database_url: str) -> Path:
    """A config.toml for the real app: the given database, the outbox transports."""
    path = folder / "config.toml"
    path.write_text(
        "[app]\n"
        f"database_url = {json.dumps(database_url)}\n"
        'secret_key = "bench-secret-key"\n'
        'log_level = "WARNING"\n'
        "[messenger]\n"
        f'app_secret = "{SECRET}"\n'
        'verify_token = "bench-verify"\n'
        f'page_id = "{PAGE}"\n'
        "[forms]\n"
        f"csv_path = {json.dumps(str(folder / 'responses.csv'))}\n",
        encoding="utf-8",
    )
    return path


def stored_events(url: str) -> int:
    db = Database(url)
    try:
        with db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(InboundEvent)) or 0)
    finally:
        db.dispose()


def run_real(label: str, url: str, folder: Path, args: argparse.Namespace, offset: int) -> Figures:
    """Migrate the database, serve the real app, drive it, check that every event was stored."""
    db = Database(url)
    db.upgrade()
    db.dispose()
    env = {"CITYHALL_CONFIG": str(write_config(folder, url)), "DATABASE_URL": url}
    with gunicorn(
        "bot:create_app()",
        env=env,
        workers=args.workers,
        threads=args.threads,
        log=folder / "gunicorn-real.log",
    ) as port:
        figures = load(label, port, args.rate, args.duration, offset)
    count = int((WARMUP_S + args.duration) * args.rate)
    expected = sum(items_in(offset + i) for i in range(count))
    stored = stored_events(url)
    if figures.errors == 0 and stored != expected:
        raise SystemExit(f"{label}: {stored} events stored, {expected} sent")
    print(f"  {label}: {stored} events stored from {count} requests")
    return figures


# -- report ---------------------------------------------------------------------------------------
def table(rows: list[Figures]) -> None:
    print(
        f"  {'server':<22} {'sent':>6} {'ok':>6} {'err':>4} {'req/s':>7} "
        f"{'median ms':>10} {'p99 ms':>8} {'max ms':>8}"
    )
    for f in rows:
        print(
            f"  {f.label:<22} {f.sent:>6} {f.ok:>6} {f.errors:>4} {f.throughput:>7.1f} "
            f"{f.median_ms:>10.2f} {f.p99_ms:>8.2f} {f.max_ms:>8.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds, after warm-up")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (Procfile: 2)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()

    print(
        f"webhook ingest: {args.rate:.0f} signed requests/s for {args.duration:.0f} s "
        f"(+{WARMUP_S:.0f} s warm-up), gunicorn {args.workers} worker(s) × {args.threads} thread(s)"
    )
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        with gunicorn(
            "bare_webhook_app:create_app()",
            env={},
            workers=args.workers,
            threads=args.threads,
            log=folder / "gunicorn-bare.log",
            chdir=ROOT / "bench",
        ) as port:
            rows.append(load("bare Flask", port, args.rate, args.duration, 0))
        rows.append(
            run_real("cityhall (SQLite)", f"sqlite:///{folder}/bench.sqlite3", folder, args, 10**6)
        )
        if args.no_postgres:
            print("  PostgreSQL: skipped (--no-postgres)")
        else:
            with postgres_schema("bench_ingest") as url:
                if url is None:
                    print("  PostgreSQL: skipped (TEST_DATABASE_URL not set)")
                else:
                    rows.append(run_real("cityhall (PostgreSQL)", url, folder, args, 2 * 10**6))

    table(rows)
    bare = rows[0]
    ok = True
    for real in rows[1:]:
        within = real.p99_ms <= TARGET_P99_MS and real.errors == 0
        ok &= within
        print(
            f"  {real.label} / bare: throughput {real.throughput / bare.throughput:.2f}×, "
            f"median {real.median_ms / bare.median_ms:.1f}×, p99 {real.p99_ms / bare.p99_ms:.1f}× "
            f"— p99 target ≤ {TARGET_P99_MS:.0f} ms: {'OK' if within else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
