"""cityhall: the onboarding and operations bot of オンライン市役所."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from bot.config import Settings, load_settings
from bot.runtime import Runtime, build_runtime, start_up

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    check_schema: bool = True,
    **adapters: Any,
) -> Flask:
    """Build the Flask service: health, webhooks and the secretariat console.

    Adapters (messenger=, mailer=, form_source=) replace the configured transports (tests).
    """
    if runtime is None:
        runtime = build_runtime(settings or load_settings(), **adapters)
    settings = runtime.settings
    if check_schema:
        runtime.db.check_ready()
        start_up(runtime)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.app.secret_key or _ephemeral_key(),
        MAX_CONTENT_LENGTH=settings.app.max_webhook_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.app.secure_cookies
        or settings.app.base_url.startswith("https://"),
        SESSION_COOKIE_NAME="cityhall_session",
    )
    app.extensions["cityhall"] = runtime
    if settings.app.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.app.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from bot import health
    from bot.console import init_app as init_console
    from bot.webhooks import init_app as init_webhooks

    health.init_app(app)
    init_webhooks(app)
    init_console(app)
    return app


def _ephemeral_key() -> str:
    import secrets

    log.warning("app.secret_key is not set: using a random key (sessions end at restart)")
    return secrets.token_hex(32)


def current_runtime() -> Runtime:
    """The runtime of the Flask app handling this request."""
    from flask import current_app

    runtime: Runtime = current_app.extensions["cityhall"]
    return runtime
