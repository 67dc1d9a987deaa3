"""GET /stats (a Japanese page for phones) and /stats.json: the community's public numbers.

Counted by `bot/stats/community.py` from the database, at most once per `[stats]
cache_seconds` per process; nothing personal, no cookies, no script, no external asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import orjson
from flask import Blueprint, Flask, Response, current_app, render_template
from markupsafe import Markup

from bot.public.charts import monthly_chart, prefecture_chart, shown
from bot.runtime import Runtime
from bot.stats.cache import TimedValue
from bot.stats.community import CommunityNumbers, community_numbers
from bot.web import current_runtime

bp = Blueprint(
    "stats",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/stats/static",
)
CACHE_KEY = "cityhall_stats"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Published:
    """One snapshot of the numbers and its JSON body (serialised once per snapshot)."""

    numbers: CommunityNumbers
    json: bytes


def _count(runtime: Runtime) -> Published:
    with runtime.db.transaction() as db:
        numbers = community_numbers(db, now=runtime.now(), tz=runtime.settings.tz)
    return Published(numbers, orjson.dumps(numbers.as_json()))


def _published() -> Published:
    cache: TimedValue[Published] = current_app.extensions[CACHE_KEY]
    return cache.get()


def _headers(response: Response) -> Response:
    seconds = current_runtime().settings.stats.cache_seconds
    response.headers["Cache-Control"] = f"public, max-age={seconds}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/stats")
def stats_page() -> Response:
    """The numbers as a page: key figures, two charts, the table and the list of governments."""
    numbers = _published().numbers
    html = render_template(
        "public/stats.html",
        n=numbers,
        shown=shown,
        month_chart=Markup(monthly_chart(numbers.months)),  # noqa: S704 (escaped inside)
        prefecture_chart=Markup(prefecture_chart(numbers.prefectures)),  # noqa: S704
    )
    response = _headers(Response(html, mimetype="text/html"))
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.get("/stats.json")
def stats_json() -> Response:
    """The numbers as JSON (any site may read them: they are public)."""
    response = _headers(Response(_published().json, mimetype="application/json"))
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def init_app(app: Flask) -> None:
    """Register /stats and /stats.json with this app's cache of the numbers."""
    runtime: Runtime = app.extensions["cityhall"]
    app.extensions[CACHE_KEY] = TimedValue(
        lambda: _count(runtime),
        ttl=timedelta(seconds=runtime.settings.stats.cache_seconds),
        clock=lambda: runtime.now(),
    )
    app.register_blueprint(bp)
