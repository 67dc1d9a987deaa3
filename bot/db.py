"""Engine, sessions and migrations: one transaction per request, event or job."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# PostgreSQL: give up on a new connection after this long (a silent network partition would
# otherwise hold it for minutes); `?connect_timeout=N` in the database URL overrides it.
CONNECT_TIMEOUT_SECONDS = 5
# How long a request waits for a pooled connection when all are in use (SQLAlchemy: 30 s).
POOL_TIMEOUT_SECONDS = 5.0


class DatabaseNotReady(Exception):
    """The database schema is missing or behind the code; names the command to run."""


# -- connection failures --------------------------------------------------------------------------
# What a failed connection's driver text says (matched in order), and the few words shown
# instead: the driver's own text can name the user or the database, and runs over several lines.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        (r"connection refused", "connection refused"),
        (r"timeout expired|timed out", "connection timed out"),
        (r"resolve host|translate host name|name or service not known", "unknown host"),
        (r"no route to host", "no route to host"),
        (r"network is unreachable", "network unreachable"),
        (r"password authentication failed|authentication failed", "authentication failed"),
        (r"no password supplied", "password required"),
        (r"no pg_hba\.conf entry", "refused by pg_hba.conf"),
        (r"role \S+ does not exist", "unknown role"),
        (r"database \S+ does not exist", "unknown database"),
        (r"starting up", "server starting up"),
        (r"shutting down|administrator command", "server shutting down"),
        (r"too many clients|too many connections", "too many connections"),
        (
            r"server closed the connection|connection is (closed|lost)|consuming input failed",
            "connection lost",
        ),
        (r"socket .* no such file or directory", "no server socket"),
        (r"unable to open database file", "unable to open database file"),
        (r"\bssl\b", "TLS failed"),
    )
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def is_connection_failure(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached, as opposed to a failed statement.

    Covers refused, timed-out and lost connections, a server shutting down or starting up, and
    refused logins; not lock or statement timeouts, constraint violations or SQLite's "database
    is locked".
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = _driver_error(exc)
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN
    if not type(orig).__module__.startswith("psycopg"):
        return False
    if not isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    sqlstate: str | None = orig.sqlstate
    if sqlstate is None:  # raised by the client: no server answered, or it hung up
        return True
    return sqlstate[:2] in ("08", "28") or sqlstate[:3] == "57P" or sqlstate in ("53300", "3D000")


def database_location(url: str | URL) -> str:
    """Where the database is, for a log line: host:port (PostgreSQL) or the file (SQLite).

    Never the user name or the password.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    query_host = parsed.query.get("host")
    host = parsed.host or (query_host if isinstance(query_host, str) else None) or "localhost"
    port = parsed.port or 5432
    return f"{host}:{port}" if not host.startswith("/") else f"{host} (socket)"


def failure_reason(exc: BaseException) -> str:
    """A few words on why a connection failed, without credentials (e.g. "connection refused")."""
    message = str(_driver_error(exc))
    for pattern, words in _REASONS:
        if pattern.search(message):
            return words
    first = (message.strip().splitlines() or [""])[0]
    first = _QUOTED.sub("…", first)  # host, user and database names
    return first[:80] or type(_driver_error(exc)).__name__


def describe_unreachable(exc: BaseException, url: str | URL) -> str:
    """One line for an operator, e.g.
    "database unreachable at 127.0.0.1:5432 (OperationalError: connection refused)"."""
    return (
        f"database unreachable at {database_location(url)} "
        f"({type(exc).__name__}: {failure_reason(exc)})"
    )


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
    """Create an engine (parameters hidden from errors); SQLite gets WAL, foreign keys and a
    busy timeout."""
    kwargs.setdefault("json_serializer", _to_json)
    # An error's text never carries the statement's values (answers, password hashes): they
    # would reach the logs, a job's recorded failure and the secretariat's alert email.
    kwargs.setdefault("hide_parameters", True)
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
    return create_engine(url, **_postgres_options(parsed, kwargs))


def _postgres_options(url: URL, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Engine options of a server database: bounded waits for a connection, pre-ping.

    A connection attempt gives up after CONNECT_TIMEOUT_SECONDS unless the URL sets its own
    `connect_timeout` (a libpq parameter, like `keepalives_idle`); idle pooled connections to a
    server that vanished are found dead by TCP keepalives within about a minute.
    """
    options: dict[str, Any] = {"pool_pre_ping": True}
    if "poolclass" not in kwargs:
        options["pool_timeout"] = POOL_TIMEOUT_SECONDS
    options.update(kwargs)
    if url.get_backend_name() == "postgresql":
        connect_args = dict(options.get("connect_args") or {})
        defaults = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        for name, value in defaults.items():
            if name not in url.query:
                connect_args.setdefault(name, value)
        options["connect_args"] = connect_args
    return options


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
        self._probe: Engine | None = None

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (leases use FOR UPDATE SKIP LOCKED there)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(
        self, *, statement_timeout: float | None = None, lock_timeout: float | None = None
    ) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error.

        On PostgreSQL, `statement_timeout` and `lock_timeout` (seconds) bound each statement of
        this transaction only (SET LOCAL): a request that must answer in time gives up instead
        of waiting behind a lock, while workers and jobs keep the server's limits. Other engines
        ignore them.
        """
        with self.sessions() as session, session.begin():
            given = (("statement_timeout", statement_timeout), ("lock_timeout", lock_timeout))
            limits = {name: value for name, value in given if value is not None}
            if limits and self.is_postgres:
                settings = ", ".join(f"set_config('{name}', :{name}, true)" for name in limits)
                session.execute(
                    text(f"SELECT {settings}"),
                    {name: f"{max(1, round(value * 1000))}ms" for name, value in limits.items()},
                )
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
        """Run a trivial query (raises when the database is unreachable).

        On PostgreSQL the query goes over a new connection, not a pooled one: in a silent
        network partition a pooled connection's query waits for TCP to give up (minutes), while
        a new connection fails within the connect timeout, so /healthz answers in seconds.
        """
        engine = self.engine
        if self.is_postgres:
            if self._probe is None:
                self._probe = make_engine(self.url, poolclass=NullPool)
            engine = self._probe
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections (before fork, at exit)."""
        self.engine.dispose()
        if self._probe is not None:
            self._probe.dispose()
