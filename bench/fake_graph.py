"""A tiny local fake of the Graph Send API for benchmarks: answers and counts, nothing else.

Run: ``python -m bench.fake_graph --port 8089`` (or ``python bench/fake_graph.py``), then point
``[messenger] graph_api_base`` at ``http://127.0.0.1:8089``. ``GET /stats`` returns the request
count, first/last request times and the peak requests in any one-second window;
``POST /reset`` clears them.

Faults (all off by default; bench/bench_send_workers.py turns them on): ``--slow-rate`` answers
that share of calls after ``--slow-seconds``; ``--p-500`` / ``--p-613`` / ``--p-1200`` answer
Meta's documented retryable errors (HTTP 500 code 2, HTTP 400 code 613, HTTP 400 code 1200);
``--p-reset`` reads the request and closes the connection without answering (the sender cannot
know whether the message went out); ``--unreachable-every N`` answers HTTP 400 code 10 subcode
2018108 to every call for a PSID divisible by N. With ``--log-arrivals`` every call is recorded
(wall-clock arrival and answer times, recipient, the ``[[key:…]]`` marker found in the body,
outcome, slow or not) and ``GET /arrivals`` returns them; ``GET /stats`` then adds ``calls`` and
``peak_calls_per_1s`` over all calls, failed ones included.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_PATH = "/v25.0/me/messages"
KEY_MARKER = re.compile(rb"\[\[key:([^\]]+)\]\]")  # "[[key:<idempotency key>]]" in the text
ARRIVAL_FIELDS = ("arrived", "answered", "recipient", "key", "outcome", "slow")
# outcome -> (HTTP status, Graph error body): Meta's documented Send API errors
ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "e500": (
        500,
        {
            "message": "An unexpected error has occurred.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        },
    ),
    "e613": (
        400,
        {
            "message": "Calls to this api have exceeded the rate limit.",
            "type": "OAuthException",
            "code": 613,
        },
    ),
    "e1200": (
        400,
        {
            "message": "Temporary send message failure. Please try again later.",
            "type": "OAuthException",
            "code": 1200,
        },
    ),
    "unreachable": (
        400,
        {
            "message": "This person isn't receiving messages from you right now.",
            "type": "OAuthException",
            "code": 10,
            "error_subcode": 2018108,
        },
    ),
}


@dataclass(frozen=True)
class Faults:
    """What share of calls the fake answers slowly, fails, or drops (0 = never)."""

    slow_rate: float = 0.0
    slow_seconds: float = 7.0
    p_500: float = 0.0
    p_613: float = 0.0
    p_1200: float = 0.0
    p_reset: float = 0.0
    unreachable_every: int = 0
    seed: int = 13

    def unreachable(self, recipient: str) -> bool:
        """Whether every call for this PSID is answered 10/2018108."""
        return (
            self.unreachable_every > 0
            and recipient.isdigit()
            and int(recipient) % self.unreachable_every == 0
        )


class Dice:
    """The fake's seeded random draws, shared by its handler threads."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()

    def draw(self, recipient: str) -> tuple[str, bool]:
        """(outcome, slow) for one call: ok, e500, e613, e1200, reset or unreachable."""
        f = self.faults
        with self._lock:
            roll, slow_roll = self._rng.random(), self._rng.random()
        slow = slow_roll < f.slow_rate
        if f.unreachable(recipient):
            return "unreachable", slow
        for outcome, share in (
            ("e500", f.p_500),
            ("e613", f.p_613),
            ("e1200", f.p_1200),
            ("reset", f.p_reset),
        ):
            if roll < share:
                return outcome, slow
            roll -= share
        return "ok", slow


class ArrivalLog:
    """Every call that reached the fake, failed ones included (wall-clock times)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: list[list[Any]] = []

    def arrive(self, recipient: str, key: str, outcome: str, slow: bool) -> int:
        """Record a call as it arrives; return its index for `answered`."""
        with self._lock:
            self.rows.append([time.time(), None, recipient, key, outcome, slow])
            return len(self.rows) - 1

    def answered(self, index: int) -> None:
        """Record when the call was answered (or its connection closed)."""
        with self._lock:
            self.rows[index][1] = time.time()

    def reset(self) -> None:
        """Forget every recorded call."""
        with self._lock:
            self.rows.clear()

    def snapshot(self) -> list[list[Any]]:
        """A copy of the rows, oldest first."""
        with self._lock:
            return [list(row) for row in self.rows]


def peak_per_window(times: Iterable[float], window: float = 1.0) -> int:
    """The largest number of `times` (sorted) within any half-open window of `window` s."""
    peak = 0
    recent: deque[float] = deque()
    for t in times:
        recent.append(t)
        while recent[0] <= t - window:
            recent.popleft()
        peak = max(peak, len(recent))
    return peak


class SendLog:
    """Thread-safe record of accepted sends (monotonic timestamps)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: list[float] = []

    def record(self) -> int:
        """Record one send now and return its 1-based number."""
        with self._lock:
            self.times.append(time.monotonic())
            return len(self.times)

    def reset(self) -> None:
        """Forget every recorded send."""
        with self._lock:
            self.times.clear()

    def stats(self) -> dict[str, Any]:
        """Return count, duration, mean rate and the peak count within any 1-second window."""
        with self._lock:
            times = list(self.times)
        peak = peak_per_window(times)
        duration = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "count": len(times),
            "duration_s": round(duration, 3),
            "mean_per_s": round((len(times) - 1) / duration, 1) if duration else None,
            "peak_per_1s": peak,
        }


class FakeGraphServer(ThreadingHTTPServer):
    """Threaded server with a listen backlog fit for many concurrent senders."""

    daemon_threads = True
    request_queue_size = 256


def make_handler(
    send_log: SendLog, faults: Faults | None = None, arrivals: ArrivalLog | None = None
) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to `send_log` (and to faults and an arrival log)."""
    dice = Dice(faults) if faults is not None else None

    class FakeGraphHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like graph.facebook.com
        disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms stalls

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path == "/reset":
                send_log.reset()
                if arrivals is not None:
                    arrivals.reset()
                self._reply(200, {"result": "success"})
                return
            if path != SEND_PATH:
                self._reply(404, {"error": {"message": "Unknown path", "code": 803}})
                return
            try:
                recipient_id = json.loads(raw)["recipient"]["id"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"error": {"message": "Invalid parameter", "code": 100}})
                return
            outcome, slow = dice.draw(str(recipient_id)) if dice is not None else ("ok", False)
            index = -1
            if arrivals is not None:
                found = KEY_MARKER.search(raw)
                key = found.group(1).decode("ascii", "replace") if found else ""
                index = arrivals.arrive(str(recipient_id), key, outcome, slow)
            if slow and dice is not None:
                time.sleep(dice.faults.slow_seconds)
            if outcome == "ok":
                number = send_log.record()
                self._reply(200, {"recipient_id": recipient_id, "message_id": f"m_{number}"})
            elif outcome == "reset":
                # The request was read (it may have gone out): drop the connection unanswered.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
            else:
                status, error = ERRORS[outcome]
                self._reply(status, {"error": {**error, "fbtrace_id": "AbCdEfGhIjK"}})
            if arrivals is not None:
                arrivals.answered(index)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/stats":
                stats = send_log.stats()
                if arrivals is not None:
                    rows = arrivals.snapshot()
                    stats["calls"] = len(rows)
                    stats["peak_calls_per_1s"] = peak_per_window(row[0] for row in rows)
                self._reply(200, stats)
            elif path == "/arrivals" and arrivals is not None:
                self._reply(200, {"fields": ARRIVAL_FIELDS, "rows": arrivals.snapshot()})
            else:
                self._reply(404, {"error": {"message": "Unknown path", "code": 803}})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: thousands of requests per run."""

    return FakeGraphHandler


def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[FakeGraphServer, SendLog]:
    """Start the fake in a daemon thread; return the server (see server_address) and its log."""
    send_log = SendLog()
    server = FakeGraphServer((host, port), make_handler(send_log))
    threading.Thread(target=server.serve_forever, name="fake-graph", daemon=True).start()
    return server, send_log


def main(argv: list[str] | None = None) -> None:
    """Run the fake in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=7.0)
    parser.add_argument("--p-500", type=float, default=0.0, help="HTTP 500 code 2")
    parser.add_argument("--p-613", type=float, default=0.0, help="HTTP 400 code 613")
    parser.add_argument("--p-1200", type=float, default=0.0, help="HTTP 400 code 1200")
    parser.add_argument("--p-reset", type=float, default=0.0, help="close without answering")
    parser.add_argument("--unreachable-every", type=int, default=0, help="10/2018108 PSIDs")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--log-arrivals", action="store_true", help="serve GET /arrivals")
    args = parser.parse_args(argv)
    faults = Faults(
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        p_500=args.p_500,
        p_613=args.p_613,
        p_1200=args.p_1200,
        p_reset=args.p_reset,
        unreachable_every=args.unreachable_every,
        seed=args.seed,
    )
    arrivals = ArrivalLog() if args.log_arrivals else None
    server = FakeGraphServer((args.host, args.port), make_handler(SendLog(), faults, arrivals))
    print(f"fake Graph API on http://{args.host}:{server.server_address[1]}{SEND_PATH}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
