"""A worker process for the concurrency tests: drains a database into a file-recording mailer.

Usage: python -m tests.integration.worker_process DATABASE_URL OUTFILE LEASE_SECONDS SEND_DELAY
It keeps draining until no outbound row is unfinished (so it also takes over expired leases).
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import func, select

from bot.bootstrap import build_runtime
from bot.config import parse_settings
from bot.db import Database
from bot.messaging.worker import Worker
from bot.models import OutboundMessage
from integrations.local import LocalMailer, LocalMessenger
from integrations.ports import EmailMessage, SendResult


class SlowMailer(LocalMailer):
    """Records like LocalMailer, taking `delay` seconds per email."""

    def __init__(self, path: str, delay: float) -> None:
        super().__init__(path)
        self.delay = delay

    def send(self, message: EmailMessage) -> SendResult:
        time.sleep(self.delay)
        return super().send(message)


def main() -> None:
    url, outfile, lease, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    settings = parse_settings({"worker": {"lease_seconds": lease, "batch_size": 10}}, env={})
    runtime = build_runtime(
        settings, db=Database(url), messenger=LocalMessenger(), mailer=SlowMailer(outfile, delay)
    )
    worker = Worker(runtime)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.drain_once():
            continue
        with runtime.db.transaction() as session:
            left = session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(["pending", "leased"]))
            )
        if not left:
            return
        time.sleep(0.2)
    sys.exit("worker_process: deadline reached")


if __name__ == "__main__":
    main()
