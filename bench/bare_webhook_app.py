"""The baseline of bench_webhook_ingest.py: a Flask app whose webhook only answers 200.

Served by gunicorn exactly like the real app (``bare_webhook_app:create_app()``), it measures
what the server, the WSGI stack and the load generator cost on their own.
"""

from __future__ import annotations

from flask import Flask, Response


def create_app() -> Flask:
    """A Flask app with one POST /webhooks/messenger endpoint that reads the body, answers 200."""
    app = Flask(__name__)

    @app.post("/webhooks/messenger")
    def receive() -> Response:
        from flask import request

        request.get_data(cache=False)
        return Response("EVENT_RECEIVED", mimetype="text/plain")

    return app
