"""What request handlers share: the runtime of the Flask app that is handling the request."""

from __future__ import annotations

from flask import current_app

from bot.runtime import Runtime


def current_runtime() -> Runtime:
    """The runtime of the Flask app handling this request."""
    runtime: Runtime = current_app.extensions["cityhall"]
    return runtime
