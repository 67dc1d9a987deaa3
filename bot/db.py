"""Engine, sessions and migrations: one transaction per request, event or job."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseNotReady(Exception):
    """The database schema is missing or behind the code; names the command to run."""


def _to_json(value: Any) -> str:
    """JSON columns as compact UTF-8 text, encoded by orjson.

    Japanese answers and email bodies stay one character each instead of six-byte \\u escapes,
    and encoding is several times faster than the json module: a first form import writes
    tens of thousands of JSON values. Non-string keys become strings, as with `json.dumps`.
    What orjson refuses (an integer beyond 64 bits in a webhook payload) goes through `json`.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs.setdefault("json_serializer", _to_json)
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


def insert_new_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many new rows in the session's transaction: COPY on PostgreSQL, else executemany.

    For rows that cannot conflict with stored ones (COPY has no ON CONFLICT). On PostgreSQL each
    value goes through its column type's bind processing, and a column missing from the rows
    takes its Python-side default, so both paths store exactly what `insert(table)` would; COPY
    streams the rows in one round trip instead of one execution per row. Statement events do
    not see a COPY.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    given: set[str] = set().union(*rows)
    columns: list[tuple[str, Any]] = []  # (name, value when a row lacks it)
    processors: list[tuple[int, Callable[[Any], Any]]] = []  # (position, bind processing)
    for column in table.columns:
        default = column.default
        if column.name in given:
            value = None
        elif default is not None and (default.is_scalar or default.is_callable):
            arg = default.arg  # type: ignore[attr-defined]
            value = arg(None) if default.is_callable else arg
        else:
            continue  # the server's default (the primary key, nullable columns)
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((len(columns), process))
        columns.append((column.name, value))
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name, _ in columns)
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = [row.get(name, value) for name, value in columns]
            for position, bind in processors:
                values[position] = bind(values[position])
            copy.write_row(values)


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
