"""Install the console on an app: its blueprint, guards, headers, error pages and helpers."""

from __future__ import annotations

from flask import Flask

from bot.console import alerts_banner, card_facts, errors, formatting, pages, security
from bot.console.blueprint import bp


def init_app(app: Flask) -> None:
    """Register the console blueprint, its guards, headers and template helpers."""
    security.init_app(app)
    errors.init_app(app)
    formatting.init_app(app, app.extensions["cityhall"].settings.app.timezone)
    alerts_banner.init_app(app)
    card_facts.init_app(app)
    pages.load()
    app.register_blueprint(bp)
