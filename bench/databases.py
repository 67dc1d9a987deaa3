"""Throwaway databases for the benchmarks: a temporary SQLite file, a private PostgreSQL schema.

PostgreSQL is used when TEST_DATABASE_URL is set (as `.ci/run` does when the server answers);
each benchmark gets its own schema on that server, dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str | None]:
    """The URL of a private schema on TEST_DATABASE_URL's server (dropped after), or None."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base:
        yield None
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def databases(prefix: str) -> Iterator[tuple[str, str]]:
    """(label, url) of a fresh SQLite file, then of a private PostgreSQL schema if configured."""
    with tempfile.TemporaryDirectory(prefix=f"cityhall-{prefix}-") as tmp:
        yield "sqlite", f"sqlite:///{tmp}/bench.sqlite3"
    with postgres_schema(prefix) as url:
        if url is None:
            print("PostgreSQL: skipped (TEST_DATABASE_URL not set)")
            return
        yield "postgresql", url
