"""Shared fixtures: no network beyond loopback, databases on every engine, a wired runtime."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.bootstrap import build_runtime
from bot.config import Settings, parse_settings
from bot.db import Database
from bot.models import Base
from bot.runtime import Runtime
from integrations.local import LocalMailer, LocalMessenger

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _loopback(address: Any) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection outside loopback (tests never touch the internet)."""

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)


# -- databases ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private, migrated schema on the test PostgreSQL server (dropped at the end)."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(TEST_DATABASE_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    db = Database(url)
    db.upgrade()
    db.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """The private PostgreSQL schema, emptied after the test."""
    yield postgres_url
    _truncate_all(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A migrated, empty database on each engine in turn."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    yield request.getfixturevalue("empty_postgres_url")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The Database of this test."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Demo-like settings with a secret key and a CSV path in the test's folder.

    Per-person pacing is off here, so that a test's one drain sends a person's three
    invitations; test_messenger_pacing.py tests it, and the acceptance tests run with the
    example configuration's pacing."""
    return parse_settings(
        {
            "app": {"secret_key": "test-secret", "database_url": "sqlite:///unused"},
            "forms": {"csv_path": str(tmp_path / "responses.csv"), "push_secret": "push-secret"},
            "messenger": {
                "app_secret": "app-secret",
                "verify_token": "verify-token",
                "page_id": "1000",
                "per_person_interval_seconds": 0,
            },
            "mail": {"secretariat_address": "jimukyoku@example.jp"},
            "worker": {"backoff_base_seconds": 1, "lease_seconds": 30},
        },
        env={},
    )


@pytest.fixture
def runtime(settings: Settings, database: Database) -> Runtime:
    """A runtime on the test database with recording (local, in-memory) transports."""
    return build_runtime(
        settings.replace(app=settings.app),
        db=database,
        messenger=LocalMessenger(),
        mailer=LocalMailer(),
    )


@pytest.fixture
def now() -> datetime:
    """A fixed instant for tests that pass time explicitly."""
    return datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
