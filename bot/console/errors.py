"""The console's error pages: a short Japanese page with the status, never a stack trace.

Only console requests get them; webhooks and /healthz keep their own answers.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from bot.console.alerts_banner import skip_banner
from bot.console.params import BadParameter, refuse_nul

HANDLED = (400, 403, 404, 405, 413)


def _in_console() -> bool:
    # By path, not blueprint: a URL under /console that matches no route is the console's too.
    return request.path == "/console" or request.path.startswith("/console/")


def bad_parameter(error: BadParameter) -> ResponseReturnValue:
    """400 naming the parameter whose value the route cannot take."""
    return render_template("console/error.html", code=400, parameter=error.name), 400


def http_error(error: HTTPException) -> ResponseReturnValue:
    """The status with its Japanese explanation (and the abort's own, when it gave one)."""
    if not _in_console():
        return error
    code = error.code or 500
    own = error.description if error.description != type(error).description else ""
    return render_template("console/error.html", code=code, description=own), code


def server_error(error: InternalServerError) -> ResponseReturnValue:
    """500 in Japanese; the page asks the database nothing more (it may be why we are here)."""
    if not _in_console():
        return error
    skip_banner()
    return render_template("console/error.html", code=500, description=""), 500


def _refuse_nul_in_console() -> None:
    if _in_console():
        refuse_nul()


def init_app(app: Flask) -> None:
    """Install the console's error pages and its refusal of NUL in parameters."""
    app.register_error_handler(BadParameter, bad_parameter)
    for code in HANDLED:
        app.register_error_handler(code, http_error)
    app.register_error_handler(InternalServerError, server_error)
    app.before_request(_refuse_nul_in_console)
