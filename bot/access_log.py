"""gunicorn's access log without query strings (Procfile: `--logger-class bot.access_log.Logger`).

The console's searches put names and emails in the query string, the webhook handshake its
verify token, and the page a visitor came from repeats them in the Referer. The access log keeps
method, path, status, size, time and user agent; every atom that could carry a query (`r`, `q`,
`f`, the request's URI and Referer headers and environ entries) loses it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

_HEADERS_WITH_URLS = ("{referer}i", "{raw_uri}e", "{request_uri}e")


def without_query(uri: str) -> str:
    """A URI or URL without its query string (and fragment)."""
    return uri.split("?", 1)[0].split("#", 1)[0]


class Logger(GunicornLogger):
    """gunicorn's Logger, its access-log atoms stripped of query strings."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> Any:
        """The format atoms of one request, with no query string anywhere."""
        atoms = super().atoms(resp, req, environ, request_time)
        method = environ.get("REQUEST_METHOD", "-")
        uri = without_query(str(environ.get("RAW_URI") or environ.get("PATH_INFO") or ""))
        atoms["r"] = f"{method} {uri} {environ.get('SERVER_PROTOCOL', '-')}"
        atoms["q"] = atoms["{query_string}e"] = ""
        atoms["f"] = without_query(str(atoms.get("f", "-")))
        for key in _HEADERS_WITH_URLS:
            if key in atoms:
                atoms[key] = without_query(str(atoms[key]))
        return atoms
