"""The `cityhall` command and the embedded demo, as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import parse_settings
from bot.db import Database
from integrations.local import LocalMailer, LocalMessenger

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_FIELDS = {
    "code",
    "status",
    "verdict",
    "reasons",
    "email",
    "full_name",
    "organization_code",
    "organization_name",
    "prefecture",
    "submitted_at",
    "join_request_seen",
    "messenger_linked",
}


def cityhall(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unmigrated_database_names_the_command_to_run(tmp_path: Path) -> None:
    proc = cityhall(tmp_path, "applications", "list")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "cityhall: database has no schema yet: run `cityhall db upgrade` first"
    )


def test_cli_round_trip_upgrade_user_list_and_errors(tmp_path: Path) -> None:
    assert cityhall(tmp_path, "db", "upgrade").returncode == 0
    added = cityhall(
        tmp_path,
        "users",
        "add",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    again = cityhall(
        tmp_path,
        "users",
        "add",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert (again.returncode, again.stderr.strip()) == (1, "cityhall: user 'alice' already exists")
    short = cityhall(
        tmp_path, "users", "add", "bob", "--role", "reviewer", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    listed = cityhall(tmp_path, "applications", "list", "--json")
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])
    missing = cityhall(tmp_path, "applications", "show", "OC-ZZZZZZ")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "cityhall: no application with code 'OC-ZZZZZZ'"
    bad_status = cityhall(tmp_path, "applications", "list", "--status", "pending")
    assert bad_status.returncode == 1 and "unknown status 'pending'" in bad_status.stderr


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = parse_settings({"app": {"secret_key": "k"}}, env={})
    runtime = build_runtime(
        settings,
        db=Database("postgresql+psycopg://postgres@127.0.0.1:9/x"),
        messenger=LocalMessenger(),
        mailer=LocalMailer(),
    )
    client = create_app(runtime=runtime, check_schema=False).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}


def test_demo_serves_health_and_login_and_lists_samples_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            assert time.monotonic() - started < 60, "demo did not answer /healthz within 60 s"
            assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
            try:
                health = requests.get(f"{base}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        assert health.json() == {"status": "ok", "database": "ok"}
        login = requests.get(f"{base}/console/login", timeout=5)
        assert login.status_code == 200 and "ログイン" in login.text
        listed = cityhall(tmp_path, "applications", "list", "--json")
        rows = json.loads(listed.stdout)
        assert len(rows) >= 25
        assert all(DOCUMENTED_FIELDS <= set(row) for row in rows)
        assert all(row["submitted_at"].endswith("+09:00") for row in rows)
        assert {row["verdict"] for row in rows} == {"verified", "needs_review", "ineligible"}
        quarantine = cityhall(tmp_path, "forms", "quarantine", "--json")
        reasons = {q["reason_code"] for q in json.loads(quarantine.stdout)}
        assert {"missing_email", "bad_timestamp"} <= reasons
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, output
    assert "demo-password" in output


def test_cli_approval_of_an_unproven_address_needs_identity_checked(tmp_path: Path) -> None:
    """The console asks the reviewer to confirm; the command asks for --identity-checked."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bot.models import Application, AuditEntry

    assert cityhall(tmp_path, "db", "upgrade").returncode == 0
    db = Database(f"sqlite:///{tmp_path / 'var' / 'cityhall.sqlite3'}")
    with db.transaction() as session:
        session.add(
            Application(
                code="OC-CX4ABC",
                link_token="tok-cli",
                email="hanako@city.toyama.lg.jp",
                full_name="山田 花子",
                status="ready_for_review",
                verdict="verified",
                prefecture="富山県",
                submitted_at=datetime(2026, 11, 30, tzinfo=UTC),
            )
        )
    refused = cityhall(tmp_path, "applications", "approve", "OC-CX4ABC")
    assert refused.returncode == 1 and "OC-CX4ABC" in refused.stderr
    assert "no application" not in refused.stderr
    unanswered = cityhall(tmp_path, "applications", "approve", "OC-CX4ABC", "--identity-checked")
    assert unanswered.returncode == 1 and "join request" in unanswered.stderr
    approved = cityhall(
        tmp_path,
        "applications",
        "approve",
        "OC-CX4ABC",
        "--identity-checked",
        "--join-request",
        "seen",
    )
    assert approved.returncode == 0, approved.stderr
    with db.transaction() as session:
        app = session.scalars(select(Application)).one()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "approve")).one()
        assert (app.status, entry.detail["identity_checked_by_reviewer"]) == ("approved", True)
        assert entry.detail["join_request_confirmed_by_reviewer"] is True
    db.dispose()
