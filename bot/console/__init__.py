"""The secretariat's web console (事務局コンソール)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the console blueprint, its guards, headers and template helpers."""
    from bot.console import formatting, pages, security
    from bot.console.blueprint import bp

    security.init_app(app)
    formatting.init_app(app, app.extensions["cityhall"].settings.app.timezone)
    pages.load()
    app.register_blueprint(bp)
