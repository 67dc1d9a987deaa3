"""GET /healthz: is the service up and can it reach its database?"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with the database status, 503 when the database is unreachable."""
    from bot import current_runtime

    try:
        current_runtime().db.ping()
    except SQLAlchemyError as exc:
        log.error("healthz: database unreachable (%s)", type(exc).__name__)
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


def init_app(app: Flask) -> None:
    """Register the health endpoint."""
    app.register_blueprint(bp)
