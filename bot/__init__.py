"""cityhall: the onboarding and operations bot of オンライン市役所."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from bot.config import ConfigError, Settings, load_settings
from bot.db import DatabaseNotReady, describe_unreachable, is_connection_failure
from bot.runtime import Runtime, build_runtime, start_up

log = logging.getLogger(__name__)
APP_LOAD_ERROR = 4  # the exit status gunicorn reports as "App failed to load"


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    check_schema: bool = True,
    **adapters: Any,
) -> Flask:
    """Build the Flask service: health, webhooks and the secretariat console.

    Adapters (messenger=, mailer=, form_source=) replace the configured transports (tests).
    Without a runtime this is the web process's entry point (gunicorn's `bot:create_app()`):
    a start-up failure there is logged as one line and ends the process (see `_entry_point`).
    """
    if runtime is None:
        return _entry_point(settings, check_schema=check_schema, **adapters)
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


def _entry_point(settings: Settings | None, *, check_schema: bool, **adapters: Any) -> Flask:
    """Wire the configured runtime and build the app, or log why not in one line and exit.

    A configuration error or a database that is unreachable or not migrated ends the process
    with status 4, which gunicorn reports as "App failed to load" (instead of a long trace).
    """
    url = ""
    try:
        settings = settings or load_settings()
        url = settings.app.database_url
        runtime = build_runtime(settings, **adapters)
        return create_app(runtime=runtime, check_schema=check_schema)
    except ConfigError as exc:
        reason = f"config error: {exc}"
    except DatabaseNotReady as exc:
        reason = str(exc)
    except Exception as exc:
        if not is_connection_failure(exc):
            raise
        reason = describe_unreachable(exc, url)
    log.critical("cityhall: %s", reason)
    raise SystemExit(APP_LOAD_ERROR)


def _ephemeral_key() -> str:
    import secrets

    log.warning("app.secret_key is not set: using a random key (sessions end at restart)")
    return secrets.token_hex(32)


def current_runtime() -> Runtime:
    """The runtime of the Flask app handling this request."""
    from flask import current_app

    runtime: Runtime = current_app.extensions["cityhall"]
    return runtime
