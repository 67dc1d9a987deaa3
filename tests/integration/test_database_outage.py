"""Start-up and outage behaviour an operator can read: one line, bounded waits, quiet retries."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot import create_app
from bot.app import APP_LOAD_ERROR
from bot.bootstrap import build_runtime
from bot.cli import main
from bot.config import Settings, parse_settings
from bot.db import Database, describe_unreachable, is_connection_failure
from bot.messaging.worker import Worker
from bot.messenger_commands import simulated_event
from bot.outage import OutageLog
from bot.runtime import Runtime
from bot.webhooks.signature import sign
from integrations.local import LocalMailer, LocalMessenger
from jobs.clock import Clock

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "cityhall_operator", "s3cret-pw"
ONE_LINE = re.compile(
    r"^cityhall: database unreachable at 127\.0\.0\.1:\d+ \(OperationalError: [a-z ]+\)$"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def refused_url() -> str:
    """A PostgreSQL URL (with credentials) whose port refuses connections."""
    return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/cityhall"


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose connections complete but never get an answer (a silent partition)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accepted: the kernel completes the handshake, nobody answers
    yield int(listener.getsockname()[1])
    listener.close()


def offline_runtime(url: str, **sections: Any) -> Runtime:
    settings = parse_settings({"app": {"secret_key": "k"}, **sections}, env={})
    return build_runtime(
        settings, db=Database(url), messenger=LocalMessenger(), mailer=LocalMailer()
    )


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[app]\ndatabase_url = "{url}"\nsecret_key = "k"\n', encoding="utf-8")
    return path


def no_traces(records: list[logging.LogRecord]) -> bool:
    return all(r.exc_info is None and "Traceback" not in r.getMessage() for r in records)


# -- the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["serve"],
        ["worker"],
        ["worker", "--once"],
        ["clock"],
        ["jobs", "list"],
        ["applications", "list"],
        ["sync-forms"],
    ],
)
def test_commands_with_the_database_down_print_one_line_and_exit_2(
    command: list[str], refused_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_config(tmp_path, refused_url)), *command]) == 2
    err = capsys.readouterr().err
    assert ONE_LINE.match(err.strip()), err
    assert err.count("\n") == 1
    assert "connection refused" in err
    assert USER not in err and PASSWORD not in err


def test_the_installed_command_says_so_on_stderr(refused_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    env["CITYHALL_CONFIG"] = str(write_config(tmp_path, refused_url))
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert ONE_LINE.match(proc.stderr.strip()), proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_a_silent_database_is_given_up_on_within_the_connect_timeout(
    blackhole: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{blackhole}/x?connect_timeout=2"
    started = time.monotonic()
    assert main(["--config", str(write_config(tmp_path, url)), "applications", "list"]) == 2
    assert time.monotonic() - started < 6
    err = capsys.readouterr().err.strip()
    assert err == (
        f"cityhall: database unreachable at 127.0.0.1:{blackhole} "
        "(OperationalError: connection timed out)"
    )


def test_failed_logins_are_described_without_the_user_name() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(username=USER, password=PASSWORD)
    db = Database(url.render_as_string(hide_password=False))
    with pytest.raises(OperationalError) as caught:
        db.ping()
    db.dispose()
    assert is_connection_failure(caught.value)
    line = describe_unreachable(caught.value, db.url)
    assert line.endswith("(OperationalError: unknown role)") or "authentication" in line
    assert USER not in line and PASSWORD not in line


# -- the web process -------------------------------------------------------------------------------
def test_the_app_factory_refuses_in_one_line(
    refused_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CITYHALL_CONFIG", str(write_config(tmp_path, refused_url)))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        create_app()
    assert exited.value.code == APP_LOAD_ERROR
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), lines
    assert no_traces(caplog.records)


def test_gunicorn_with_the_database_down_fails_without_a_trace(
    refused_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    env["CITYHALL_CONFIG"] = str(write_config(tmp_path, refused_url))
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
            "--no-control-socket",
            "bot:create_app()",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == APP_LOAD_ERROR, proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "App failed to load" in output
    lines = [line for line in output.splitlines() if line.startswith("cityhall:")]
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), output
    assert USER not in output and PASSWORD not in output


def test_healthz_answers_503_within_seconds_when_the_database_is_silent(blackhole: int) -> None:
    url = f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{blackhole}/x"
    client = create_app(runtime=offline_runtime(url), check_schema=False).test_client()
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 10, f"healthz took {elapsed:.1f} s"


class FreezableProxy:
    """A TCP proxy to the database that can stop passing bytes without closing anything.

    Frozen, it looks like a silent network partition: established connections get no answer,
    and new ones complete their handshake (the listen backlog) but are never served.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        while not self.closed.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        for sock in self.sockets:
            sock.close()


def test_healthz_answers_503_within_seconds_in_a_partition_with_pooled_connections(
    postgres_url: str,
) -> None:
    real = make_url(postgres_url)
    proxy = FreezableProxy((real.host or "127.0.0.1", real.port or 5432))
    try:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        runtime = offline_runtime(url)
        client = create_app(runtime=runtime, check_schema=False).test_client()
        with runtime.db.transaction() as session:  # a pooled connection through the proxy
            assert session.scalar(text("SELECT 1")) == 1
        assert client.get("/healthz").status_code == 200
        proxy.frozen.set()
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert elapsed < 10, f"healthz took {elapsed:.1f} s"
        assert runtime.db.engine.pool.timeout() <= 10  # type: ignore[attr-defined]
    finally:
        proxy.close()


def test_healthz_logs_an_outage_once_and_its_end(
    refused_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = offline_runtime(refused_url)
    client = create_app(runtime=runtime, check_schema=False).test_client()
    caplog.set_level(logging.INFO, logger="bot.health")
    assert {client.get("/healthz").status_code for _ in range(20)} == {503}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and no_traces(caplog.records)
    assert errors[0].getMessage().startswith("healthz: database check failed: database unreachable")
    monkeypatch.setattr(runtime.db, "ping", lambda: None)
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    recovered = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].startswith("healthz: database reachable again")


# -- the worker and the clock ----------------------------------------------------------------------
def test_worker_retries_quietly_while_the_database_is_down(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = offline_runtime(refused_url, worker={"poll_seconds": 0.02})
    worker = Worker(runtime, worker_id="w1")
    calls = 0
    drain = worker.drain_once

    def counted(*args: Any) -> int:
        nonlocal calls
        calls += 1
        return drain(*args)

    worker.drain_once = counted  # type: ignore[method-assign]
    stop = threading.Event()
    caplog.set_level(logging.INFO)
    thread = threading.Thread(target=worker.run, kwargs={"stop": stop})
    thread.start()
    time.sleep(1.5)
    stop.set()
    thread.join(timeout=10)
    assert calls >= 10  # it kept retrying
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert no_traces(caplog.records)
    assert errors[0].getMessage() == (
        "worker w1: drain failed, retrying: "
        f"database unreachable at 127.0.0.1:{make_url(refused_url).port} "
        "(OperationalError: connection refused)"
    )
    assert len(caplog.records) <= 3  # started, the failure, stopped


def test_worker_logs_the_end_of_an_outage_once(
    runtime: Runtime, refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(OperationalError) as down:
        Database(refused_url).ping()
    worker = Worker(runtime, worker_id="w2")
    drain = worker.drain_once
    calls = 0
    stop = threading.Event()

    def flaky(*args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise down.value
        if calls >= 8:
            stop.set()
        return drain(*args)

    worker.drain_once = flaky  # type: ignore[method-assign]
    worker.cfg = type(worker.cfg)(poll_seconds=0.01)
    caplog.set_level(logging.INFO)
    worker.run(stop=stop)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 2, messages
    assert "database unreachable" in messages[0]
    assert re.fullmatch(r"worker w2: database reachable again after \d+ s", messages[1])


def test_clock_heartbeat_and_lease_checks_log_an_outage_once(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(offline_runtime(refused_url), holder="c1")
    caplog.set_level(logging.INFO)
    for _ in range(10):
        assert clock.heartbeat() is False
    assert clock.fire("sync-forms") is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and no_traces(caplog.records)
    assert (
        errors[0]
        .getMessage()
        .startswith("clock c1: lease heartbeat failed: database unreachable at 127.0.0.1:")
    )


def test_outage_log_says_still_failing_once_a_minute_then_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    outage = OutageLog(
        logging.getLogger("test.outage"),
        "worker w",
        url="postgresql+psycopg://u:p@db.internal:5433/x",
        clock=lambda: now[0],
    )
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    down.connection_invalidated = True
    caplog.set_level(logging.INFO, logger="test.outage")
    for step in range(121):  # a minute of failures every half second, and one more
        now[0] = step * 0.5
        outage.failure("drain failed", down)
    now[0] = 61.0
    bug = KeyError("x")
    outage.failure("drain failed", bug)  # another failure class: its own first line
    outage.failure("drain failed", bug)
    outage.recovered()
    outage.recovered()
    assert [r.getMessage() for r in caplog.records] == [
        "worker w: drain failed: database unreachable at db.internal:5433 "
        "(OperationalError: connection refused)",
        "worker w: still failing (120 times in the last minute): drain failed: database "
        "unreachable at db.internal:5433 (OperationalError: connection refused)",
        "worker w: database reachable again after 61 s",  # it answered, with another error
        "worker w: drain failed: KeyError",
        "worker w: working again after 0 s of KeyError",
    ]
    now[0] = 100.0
    outage.failure("heartbeat", down)
    now[0] = 400.0
    outage.failure("heartbeat", down)
    assert caplog.records[-1].getMessage() == (
        "worker w: still failing (1 time in the last 5 minutes): heartbeat: database unreachable "
        "at db.internal:5433 (OperationalError: connection refused)"
    )


# -- webhooks: bounded statement and lock waits ----------------------------------------------------
@pytest.fixture
def pg_runtime(empty_postgres_url: str, settings: Settings) -> Iterator[Runtime]:
    db = Database(empty_postgres_url)
    yield build_runtime(settings, db=db, messenger=LocalMessenger(), mailer=LocalMailer())
    db.dispose()


def test_webhook_transactions_alone_get_statement_and_lock_timeouts(pg_runtime: Runtime) -> None:
    from bot.webhooks.database import webhook_transaction

    def limits(session: Any) -> tuple[str, str]:
        row = session.execute(
            text("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
        ).one()
        return row[0], row[1]

    with webhook_transaction(pg_runtime) as session:
        assert limits(session) == ("10s", "5s")
    with pg_runtime.db.transaction() as session:  # the worker, the jobs, a form import
        assert limits(session) == ("0", "0")


def test_webhook_behind_a_lock_answers_503_in_time_and_is_taken_on_redelivery(
    pg_runtime: Runtime, empty_postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app(runtime=pg_runtime).test_client()
    raw = json.dumps(simulated_event("psid-1", page_id="1000", text="こんにちは")).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, "app-secret")}
    holder = Database(empty_postgres_url)
    try:
        with holder.engine.connect() as conn:
            conn.execute(text("LOCK TABLE inbound_events IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            response = client.post("/webhooks/messenger", data=raw, headers=headers)
            elapsed = time.monotonic() - started
            conn.rollback()
    finally:
        holder.dispose()
    assert response.status_code == 503  # Meta delivers a non-2xx again later
    assert elapsed < 10, f"the webhook answered after {elapsed:.1f} s"
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.webhooks"]
    assert warnings == [
        "POST /webhooks/messenger: database busy (OperationalError (LockNotAvailable)); "
        "answered 503"
    ]
    assert no_traces(caplog.records)
    again = client.post("/webhooks/messenger", data=raw, headers=headers)
    assert again.status_code == 200
