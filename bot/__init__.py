"""cityhall: the onboarding and operations bot of オンライン市役所.

This package's own import is kept light on purpose: `import bot.onboarding.verification`
runs this file first, so nothing here imports Flask, SQLAlchemy or the domain at module level.
The app factory lives in `bot/app.py`; this is the name gunicorn and the README use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """Build the Flask service (see `bot.app.create_app`); gunicorn's `bot:create_app()`."""
    from bot.app import create_app as build  # keeps `import bot.<module>` free of Flask

    return build(*args, **kwargs)
