"""Parallel password guesses against gunicorn with the Procfile's 2 workers, on PostgreSQL.

Thirty wrong guesses fired at once at one account: the throttle (one atomic statement in the
database per check-and-count) lets exactly the configured number be checked, whichever worker
takes which request, and every answer is the same.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.acceptance.processes import ProcessSet, venv_bin
from tests.acceptance.stack import free_port

FREE_ATTEMPTS = 5
GUESSES = 30
PASSWORD = "the real passphrase of boss"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, acceptance_database_url: str) -> Iterator[str]:
    """gunicorn as in the Procfile (2 workers) on a fresh, migrated PostgreSQL database."""
    workdir: Path = tmp_path_factory.mktemp("guessing")
    (workdir / "config.toml").write_text(
        "[app]\n"
        f'database_url = "{acceptance_database_url}"\n'
        'secret_key = "guessing-test-secret-key-0123456789abcdef"\n'
        "[console]\n"
        f"login_account_free_attempts = {FREE_ATTEMPTS}\n"
        "login_delay_seconds = 600\n"
        "login_max_delay_minutes = 60\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHALL_")}
    env.pop("DATABASE_URL", None)
    env["CITYHALL_CONFIG"] = str(workdir / "config.toml")
    procs = ProcessSet(workdir, env)
    try:
        for args, stdin in (
            (("db", "upgrade"), None),
            (("users", "add", "boss", "--role", "admin", "--password-stdin"), PASSWORD + "\n"),
        ):
            run = procs.cli(*args, stdin=stdin)
            assert run.returncode == 0, run.describe()
        port = free_port()
        procs.start(
            "web",
            [
                venv_bin("gunicorn"),
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "30",
                "bot:create_app()",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, procs.tails()
            time.sleep(0.2)
        yield url
    finally:
        procs.stop_all()


def _count(database_url: str, sql: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_thirty_parallel_guesses_check_at_most_the_configured_number(
    web: str, acceptance_database_url: str
) -> None:
    clients = []
    for _ in range(GUESSES):
        client = requests.Session()
        page = client.get(web + "/console/login", timeout=10)
        match = CSRF.search(page.text)
        assert match is not None
        clients.append((client, match.group(1)))
    start = threading.Barrier(GUESSES)
    answers: list[tuple[int, str]] = []

    def guess(i: int) -> None:
        client, token = clients[i]
        start.wait()
        response = client.post(
            web + "/console/login",
            data={"name": "boss", "password": f"wrong guess {i}", "csrf_token": token},
            allow_redirects=False,
            timeout=60,
        )
        answers.append((response.status_code, CSRF.sub("", response.text)))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == GUESSES
    assert len(set(answers)) == 1 and answers[0][0] == 401  # one answer, checked or not
    checked = _count(
        acceptance_database_url,
        "SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND actor = 'boss'",
    )
    refused = _count(
        acceptance_database_url,
        "SELECT count(*) FROM audit_log WHERE action = 'login_throttled' AND actor = 'boss'",
    )
    assert checked == FREE_ATTEMPTS, f"{checked} guesses were checked"
    assert refused == GUESSES - FREE_ATTEMPTS
    # the account now waits: even the right password is not checked
    client, token = clients[0]
    response = client.post(
        web + "/console/login",
        data={"name": "boss", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 401


def test_a_spoofed_forwarded_for_does_not_give_a_fresh_network_key(
    web: str, acceptance_database_url: str
) -> None:
    client = requests.Session()
    token = CSRF.search(client.get(web + "/console/login", timeout=10).text).group(1)  # type: ignore[union-attr]
    for i in range(3):
        client.post(
            web + "/console/login",
            data={"name": f"nobody{i}", "password": "guess-guess", "csrf_token": token},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
            timeout=30,
        )
    keys = _count(
        acceptance_database_url,
        "SELECT count(*) FROM login_throttles WHERE key LIKE 'network:198.51.100.%'",
    )
    assert keys == 0  # no trusted proxies configured: the header is ignored
    assert (
        _count(
            acceptance_database_url,
            "SELECT count(*) FROM login_throttles WHERE key = 'network:127.0.0.1'",
        )
        == 1
    )
