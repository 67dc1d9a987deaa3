"""A `cityhall clock` process living at a shifted time, for the takeover tests.

Usage: python -m tests.integration.clock_process CONFIG READY_FILE OFFSET_FILE

Once its imports are done (the slow part of starting) the process creates READY_FILE, waits for
OFFSET_FILE to hold a number of seconds, and then runs `cityhall clock` with its wall clock
(datetime, time.time: what APScheduler, the lease and the logs read) that far ahead of the real
one, ticking. Several processes given the same offset share one fake day, so a daily job's time
can come a few seconds after they start, however slowly the machine imports.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

import jobs.clock  # noqa: F401  # imported now: starting must not eat into the fake morning
from bot import cli


def main() -> None:
    config, ready, offset_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ready.touch()
    deadline = time.monotonic() + 60
    while not offset_file.exists() or not offset_file.read_text(encoding="utf-8").strip():
        if time.monotonic() > deadline:
            sys.exit("clock_process: no offset given")
        time.sleep(0.01)
    offset = float(offset_file.read_text(encoding="utf-8"))
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=offset), tick=True):
        sys.exit(cli.main(["--config", config, "clock"]))


if __name__ == "__main__":
    main()
