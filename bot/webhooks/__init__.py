"""Inbound webhooks (Messenger, Forms push): verify, store, answer fast."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the webhook blueprints."""
    from bot.webhooks import forms, messenger

    app.register_blueprint(messenger.bp)
    app.register_blueprint(forms.bp)
