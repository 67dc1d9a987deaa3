"""gunicorn's access log keeps no query string: console searches, Referers, the verify token.

Unit-level through gunicorn's own Logger API (its atoms, its formats, its file handler), and
end to end: gunicorn started with the Procfile's web command line, asked what a browser and
Meta would ask, its access log read back.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from gunicorn.config import Config

from bot.access_log import Logger

ROOT = Path(__file__).resolve().parents[2]
NAME, EMAIL = "高橋 一郎", "ichiro.takahashi@city.toyama.lg.jp"
VERIFY_TOKEN = "verify-token-7a6b5c4d3e2f"
NEEDLES = (NAME, quote(NAME), EMAIL, quote(EMAIL), VERIFY_TOKEN, "q=")


def access_line(tmp_path: Path, fmt: str | None, raw_uri: str, referer: str) -> str:
    cfg = Config()
    log_file = tmp_path / "access.log"
    cfg.set("accesslog", str(log_file))
    if fmt is not None:
        cfg.set("access_log_format", fmt)
    logger = Logger(cfg)
    path, _, query = raw_uri.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    request = SimpleNamespace(headers=[("REFERER", referer), ("USER-AGENT", "Mozilla/5.0")])
    response = SimpleNamespace(status="200 OK", sent=512, headers=[("Content-Type", "text/html")])
    logger.access(response, request, environ, timedelta(microseconds=4200))
    for handler in logger.access_log.handlers:
        handler.flush()
    return log_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "fmt",
    [
        None,  # gunicorn's default: the combined format, with the Referer
        '%(h)s "%(r)s" %(s)s query[%(q)s] ref[%({referer}i)s] uri[%({raw_uri}e)s] f[%(f)s]',
    ],
)
def test_access_log_line_has_no_query_string_or_referer_query(
    tmp_path: Path, fmt: str | None
) -> None:
    search = f"/console/?q={quote(NAME)}&verdict=needs_review"
    line = access_line(tmp_path, fmt, search, f"https://cityhall.example.jp/console/?q={EMAIL}")
    assert "GET /console/ HTTP/1.1" in line and " 200 " in line
    assert [n for n in NEEDLES if n in line] == [], line


def test_webhook_handshake_token_is_not_in_the_access_log(tmp_path: Path) -> None:
    uri = f"/webhooks/messenger?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=9"
    line = access_line(tmp_path, None, uri, "-")
    assert "GET /webhooks/messenger HTTP/1.1" in line
    assert VERIFY_TOKEN not in line and "hub." not in line


def test_path_without_query_is_logged_unchanged(tmp_path: Path) -> None:
    line = access_line(tmp_path, None, "/healthz", "-")
    assert re.search(r'"GET /healthz HTTP/1\.1" 200 512 "-" "Mozilla/5\.0"', line), line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_web(port: int) -> list[str]:
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            filled = re.sub(
                r"\$\{(\w+):-([^}]*)\}",
                lambda m: {"PORT": str(port), "WEB_CONCURRENCY": "1"}.get(m.group(1), m.group(2)),
                command,
            )
            words = shlex.split(filled)
            return [sys.executable, "-m", words[0], *words[1:]]
    raise AssertionError("no web process in the Procfile")


def test_gunicorn_from_the_procfile_logs_requests_without_queries(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[app]\n"
        f'database_url = "sqlite:///{tmp_path / "cityhall.sqlite3"}"\n'
        f'secret_key = "{"s" * 8}{"e" * 8}{"c" * 8}{"r" * 8}{"t" * 8}"\n'
        "[messenger]\n"
        f'verify_token = "{VERIFY_TOKEN}"\n'
        f'app_secret = "app-secret-3c2b1a0f9e8d"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    env |= {"CITYHALL_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    upgrade = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    out = tmp_path / "gunicorn.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            procfile_web(port), cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"{base}/healthz", timeout=10)
                    break
                except requests.RequestException:
                    assert time.monotonic() < deadline, out.read_text()
                    time.sleep(0.2)
            requests.get(f"{base}/console/", params={"q": NAME}, timeout=10)
            requests.get(
                f"{base}/console/login",
                headers={"Referer": f"{base}/console/?q={quote(EMAIL)}"},
                timeout=10,
            )
            handshake = requests.get(
                f"{base}/webhooks/messenger",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": VERIFY_TOKEN,
                    "hub.challenge": "77",
                },
                timeout=10,
            )
            assert handshake.text == "77"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    logged = out.read_text(encoding="utf-8")
    assert '"GET /console/ HTTP/1.1" 302' in logged, logged
    assert '"GET /webhooks/messenger HTTP/1.1" 200' in logged, logged
    assert [n for n in NEEDLES if n in logged] == [], logged
