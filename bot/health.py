"""GET /healthz: is the service up and can it reach its database?"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from bot.outage import OutageLog
from bot.web import current_runtime

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
OUTAGE_KEY = "cityhall_health_outage"


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with the database status, 503 when the database is unreachable.

    On PostgreSQL the check connects afresh, so a silent network partition answers 503 within
    the connect timeout. A failure is logged once a minute per class (probes are frequent).
    """
    outage: OutageLog = current_app.extensions[OUTAGE_KEY]
    try:
        current_runtime().db.ping()
    except SQLAlchemyError as exc:
        outage.failure("database check failed", exc)
        return jsonify(status="error", database="unreachable"), 503
    outage.recovered()
    return jsonify(status="ok", database="ok")


def init_app(app: Flask) -> None:
    """Register the health endpoint."""
    app.extensions[OUTAGE_KEY] = OutageLog(log, "healthz", url=app.extensions["cityhall"].db.url)
    app.register_blueprint(bp)
