"""One `cityhall worker`-like process for bench/bench_send_workers.py (not a benchmark itself).

Builds the production runtime (parse_settings + build_runtime, the real GraphClient pointed at
the fake), prints ``ready`` once it is wired and has reached the database, waits for a line on
stdin, then runs ``Worker(runtime).run(stop=…)`` until the outbox holds no pending, leased or
waiting row (checked every 0.5 s by a watcher thread) or SIGTERM. Logs go to stderr (WARNING).

    python -m bench.send_worker --database-url URL --graph-base http://127.0.0.1:PORT [--cap 300]
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.bootstrap import build_runtime  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.messaging.worker import UNFINISHED, Worker  # noqa: E402
from bot.models import OutboundMessage  # noqa: E402
from integrations.local import LocalMailer  # noqa: E402


def unfinished(worker: Worker) -> int:
    """Outbound rows not yet sent or dead."""
    with worker.rt.db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(UNFINISHED))
            )
            or 0
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--graph-base", required=True)
    parser.add_argument("--cap", type=float, default=300.0, help="rate_limit_per_second")
    parser.add_argument("--timeout", type=float, default=10.0, help="[messenger] timeout_seconds")
    parser.add_argument("--backoff-base", type=float, default=0.2)
    parser.add_argument("--backoff-max", type=float, default=2.0)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--lease-seconds", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument(
        "--per-person-interval", type=float, default=1.0, help="per_person_interval_seconds"
    )
    parser.add_argument("--name", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )

    settings = parse_settings(
        {
            "app": {"secret_key": "bench", "database_url": args.database_url},
            "forms": {"csv_path": str(ROOT / "var" / "bench-unused.csv")},
            "messenger": {
                "transport": "graph",
                "page_token": "bench-page-token",
                "app_secret": "bench-app-secret",
                "verify_token": "bench-verify",
                "page_id": "1000",
                "graph_api_base": args.graph_base,
                "rate_limit_per_second": args.cap,
                "timeout_seconds": args.timeout,
                "per_person_interval_seconds": args.per_person_interval,
            },
            "worker": {
                "batch_size": args.batch_size,
                "lease_seconds": args.lease_seconds,
                "max_attempts": args.max_attempts,
                "backoff_base_seconds": args.backoff_base,
                "backoff_max_seconds": args.backoff_max,
                "poll_seconds": args.poll_seconds,
            },
        },
        env={},
    )
    runtime = build_runtime(settings, mailer=LocalMailer())
    worker = Worker(runtime, worker_id=args.name or None)
    unfinished(worker)  # connect before the start signal
    print("ready", flush=True)
    if not sys.stdin.readline():
        return 1

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            try:
                if unfinished(worker) == 0:
                    stop.set()
            except Exception:  # a database hiccup: the worker logs its own; look again later
                continue

    threading.Thread(target=watch, name="watch-outbox", daemon=True).start()
    worker.run(stop=stop)
    runtime.db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
