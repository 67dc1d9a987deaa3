"""What the webhooks share: a transaction with bounded waits, and the 503 when it fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import Response, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from bot.db import describe_unreachable, is_connection_failure
from bot.outage import failure_class
from bot.runtime import Runtime
from bot.web import current_runtime

log = logging.getLogger("bot.webhooks")  # the name operators filter on (kept from before the move)
# Meta gives a webhook 20 s to answer. On PostgreSQL a webhook's statements give up well before
# (a 503 makes Meta deliver again later); the worker and the jobs keep the server's limits.
STATEMENT_TIMEOUT_SECONDS = 10.0
LOCK_TIMEOUT_SECONDS = 5.0
# What `database_unavailable` answers, registered on each webhook blueprint (the console keeps
# its own error pages): psycopg's own class too, for a COPY issued on the driver's cursor.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    PoolTimeout,
    psycopg.OperationalError,
)


@contextmanager
def webhook_transaction(rt: Runtime) -> Iterator[Session]:
    """The transaction of a webhook request: bounded statement and lock waits."""
    with rt.db.transaction(
        statement_timeout=STATEMENT_TIMEOUT_SECONDS, lock_timeout=LOCK_TIMEOUT_SECONDS
    ) as session:
        yield session


def database_unavailable(exc: Exception) -> Response:
    """503 for a webhook whose database is down, locked or slow: one log line, no trace.

    The sender delivers again later (Meta retries a non-2xx answer; the form poll reconciles a
    missed push).
    """
    if is_connection_failure(exc):
        detail = describe_unreachable(exc, current_runtime().db.url)
    else:  # a lock or statement timeout, or no pooled connection free in time
        detail = f"database busy ({failure_class(exc)})"
    log.warning("%s %s: %s; answered 503", request.method, request.path, detail)
    return Response("database unavailable", status=503, mimetype="text/plain")
