"""A tiny local fake of the Graph Send API for benchmarks: answers and counts, nothing else.

Run: ``python -m bench.fake_graph --port 8089`` (or ``python bench/fake_graph.py``), then point
``[messenger] graph_api_base`` at ``http://127.0.0.1:8089``. ``GET /stats`` returns the request
count, first/last request times and the peak requests in any one-second window;
``POST /reset`` clears them.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_PATH = "/v25.0/me/messages"


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
        peak = 0
        window: deque[float] = deque()
        for t in times:
            window.append(t)
            while window[0] <= t - 1.0:
                window.popleft()
            peak = max(peak, len(window))
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


def make_handler(send_log: SendLog) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to `send_log`."""

    class FakeGraphHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like graph.facebook.com
        disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms stalls

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path == "/reset":
                send_log.reset()
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
            number = send_log.record()
            self._reply(200, {"recipient_id": recipient_id, "message_id": f"m_{number}"})

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/stats":
                self._reply(200, send_log.stats())
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
    args = parser.parse_args(argv)
    server = FakeGraphServer((args.host, args.port), make_handler(SendLog()))
    print(f"fake Graph API on http://{args.host}:{server.server_address[1]}{SEND_PATH}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
