"""What console handlers share: fetching the row a URL names, paging lists of rows newest
first, counting rows by status, and auditing what the user did."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, g
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.console.params import is_row_id, parse_int
from bot.onboarding.lifecycle import audit
from bot.web import current_runtime

T = TypeVar("T")


def get_or_404(db: Session, model: type[T], key: Any) -> T:
    """The row of `model` with primary key `key`, or a 404 response."""
    row = db.get(model, key) if is_row_id(key) else None
    if row is None:
        abort(404)
    return row


def newest_page(
    db: Session, query: Select[tuple[T]], id_column: Any, *, before: str, size: int
) -> tuple[list[T], bool]:
    """One page of `query`'s rows, newest id first, below the id `before` (the cursor in the
    URL: blank for the first page, else an id, or BadParameter); and whether more rows follow."""
    cursor = parse_int("before", before, minimum=1)
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = list(db.scalars(query.order_by(id_column.desc()).limit(size + 1)))
    return rows[:size], len(rows) > size


def count_by_status(db: Session, status_column: Any) -> dict[str, int]:
    """How many rows of `status_column`'s table are in each status."""
    query = select(status_column, func.count()).group_by(status_column)
    return dict(db.execute(query).tuples().all())


def record(
    db: Session, *, action: str, detail: dict[str, Any] | None = None, reason: str = ""
) -> None:
    """Audit an action of the logged-in console user that concerns no single application."""
    db.add(
        audit(
            None,
            actor=g.user,
            at=current_runtime().now(),
            action=action,
            reason=reason,
            detail=detail,
        )
    )
