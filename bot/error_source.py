"""Which outside system an error came from (Google Sheets, Graph API, SMTP, the database).

A job's failure is reported to people who must know where to look: "Google Sheets", not
"JSONDecodeError at models.py:1120". The source is read from the error's class and from the
modules its traceback passed through, by module name only, so nothing here imports an adapter
(or a driver) and no import cycle can form.
"""

from __future__ import annotations

import sysconfig
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

# Module-name prefixes and the source they stand for; the first match wins.
SOURCES: tuple[tuple[str, str], ...] = (
    ("integrations.sheets", "Google Sheets"),
    ("gspread", "Google Sheets"),
    ("google.auth", "Google Sheets"),  # the service account's token: only Sheets uses it
    ("google.oauth2", "Google Sheets"),
    ("integrations.graph", "Graph API"),
    ("integrations.mail", "SMTP"),
    ("smtplib", "SMTP"),
    ("sqlalchemy", "database"),
    ("psycopg", "database"),
    ("sqlite3", "database"),
    ("bot.db", "database"),
)
_LIBRARY_DIRS = tuple(
    {
        str(Path(path).resolve())
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)


def source_of_module(module: str) -> str | None:
    """The source a module belongs to, e.g. "gspread.http_client" → "Google Sheets"."""
    for prefix, source in SOURCES:
        if module == prefix or module.startswith(prefix + "."):
            return source
    return None


def error_source(exc: BaseException) -> str | None:
    """The outside system `exc` came from, or None when it is not one of them (a bug).

    Looked for in the error's classes, then in its traceback from the innermost frame out (a
    JSON decoder error raised under gspread is Google Sheets'), then in the error it was
    raised from.
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for cls in type(error).__mro__:
            if source := source_of_module(cls.__module__):
                return source
        for module in reversed([m for m, _ in _frames(error.__traceback__)]):
            if source := source_of_module(module):
                return source
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


def raised_at(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of the error in this project's code (not in a library), else the
    innermost frame: where a person can look."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not _in_library(frame.filename):
            return frame
    return frames[-1] if frames else None


def location(exc: BaseException) -> str:
    """ " at sheets.py:160 in fetch" for `raised_at`, or "" when the error has no traceback."""
    frame = raised_at(exc)
    return f" at {Path(frame.filename).name}:{frame.lineno} in {frame.name}" if frame else ""


def _frames(tb: TracebackType | None) -> Iterator[tuple[str, int]]:
    for frame, lineno in traceback.walk_tb(tb):
        yield str(frame.f_globals.get("__name__", "")), lineno


def _in_library(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    path = str(Path(filename).resolve())
    return any(path.startswith(directory + "/") for directory in _LIBRARY_DIRS)
