"""Engine, sessions and migrations: one transaction per request, event or job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseNotReady(Exception):
    """The database schema is missing or behind the code; names the command to run."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (leases use FOR UPDATE SKIP LOCKED there)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def alembic_config(self) -> AlembicConfig:
        """An Alembic configuration bound to this database."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        command.upgrade(self.alembic_config(), "head")

    def schema_status(self) -> tuple[str | None, str]:
        """Return (current revision, head revision)."""
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head() or ""
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, head

    def check_ready(self) -> None:
        """Raise DatabaseNotReady unless the schema is at the head revision."""
        current, head = self.schema_status()
        if current is None:
            raise DatabaseNotReady("database has no schema yet: run `cityhall db upgrade` first")
        if current != head:
            raise DatabaseNotReady(
                f"database schema is at {current}, code expects {head}: run `cityhall db upgrade`"
            )

    def ping(self) -> None:
        """Run a trivial query (raises when the database is unreachable)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections (before fork, at exit)."""
        self.engine.dispose()
