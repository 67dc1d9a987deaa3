"""What console handlers share: fetching the row a URL names, and auditing what the user did."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, g
from sqlalchemy.orm import Session

from bot import current_runtime
from bot.onboarding.lifecycle import audit

T = TypeVar("T")


def get_or_404(db: Session, model: type[T], key: Any) -> T:
    """The row of `model` with primary key `key`, or a 404 response."""
    row = db.get(model, key)
    if row is None:
        abort(404)
    return row


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
