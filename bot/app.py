"""The app factory: health, webhooks and the secretariat console on one Flask app."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, Response

from bot import health, log_privacy
from bot.bootstrap import build_runtime, start_up
from bot.config import ConfigError, Settings, check_deployment_secrets, load_settings
from bot.console import setup as console
from bot.db import DatabaseNotReady, describe_unreachable, is_connection_failure
from bot.proxies import TrustedProxies
from bot.public import events as public_events
from bot.public import stats as public_stats
from bot.runtime import Runtime
from bot.webhooks import forms, messenger

log = logging.getLogger(__name__)
APP_LOAD_ERROR = 4  # the exit status gunicorn reports as "App failed to load"
HSTS = "max-age=31536000"  # a year; not includeSubDomains: other hosts of the domain are not ours


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
    log_privacy.install()
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
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app,
            hops=settings.app.trusted_proxies,
            networks=settings.app.trusted_proxy_networks,
        )

    if app.config["SESSION_COOKIE_SECURE"]:
        app.after_request(_strict_transport_security)
    health.init_app(app)
    app.register_blueprint(messenger.bp)
    app.register_blueprint(forms.bp)
    console.init_app(app)
    public_stats.init_app(app)
    public_events.init_app(app)
    return app


def _strict_transport_security(response: Response) -> Response:
    """Tell browsers to use https only (HSTS): set when cookies are https-only."""
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _entry_point(settings: Settings | None, *, check_schema: bool, **adapters: Any) -> Flask:
    """Wire the configured runtime and build the app, or log why not in one line and exit.

    A configuration error or a database that is unreachable or not migrated ends the process
    with status 4, which gunicorn reports as "App failed to load" (instead of a long trace).
    """
    url = ""
    try:
        settings = settings or load_settings()
        check_deployment_secrets(settings)
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
    log.warning("app.secret_key is not set: using a random key (sessions end at restart)")
    return secrets.token_hex(32)
