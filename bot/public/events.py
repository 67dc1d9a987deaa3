"""GET /events/<id>.ics: one event as an iCalendar file (RFC 5545), no login.

A `public` event's file is for anyone; a `members` event's only with its token (`?t=`, see
`bot.community.events.calendar_token`, put in the card's カレンダーに追加 URL and the console's
link), so walking ids shows nothing: without the right token it is 404, as are cancelled and
unknown events. The file holds the event's title, description and times (UTC); the Zoom URL
only for `public` events (a card, and so its token, can be forwarded). Text values are escaped
(backslash, semicolon, comma, newline) and every line is folded at 75 octets without splitting
a UTF-8 character; lines end with CRLF.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, request

from bot.community.events import PUBLIC, calendar_token_valid
from bot.models import Event
from bot.web import current_runtime

bp = Blueprint("public_events", __name__)
MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL
LINE_OCTETS = 75
PRODID = "-//Online City Hall//cityhall events//JA"


def escape_text(value: str) -> str:
    """An RFC 5545 TEXT value: \\ ; , escaped, newlines as \\n, other control characters gone."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(c for c in value if c in "\n\t" or (ord(c) >= 0x20 and ord(c) != 0x7F))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (RFC 5545 3.1), CRLF-terminated.

    Continuation lines start with one space, which counts towards their 75 octets; a UTF-8
    character is never split.
    """
    chunks: list[str] = []
    current, size, limit = "", 0, LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            chunks.append(current)
            current, size, limit = "", 0, LINE_OCTETS - 1
        current += char
        size += width
    chunks.append(current)
    return "\r\n ".join(chunks) + "\r\n"


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _safe_uri(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    return value


def event_calendar(event: Event, *, host: str, now: datetime) -> str:
    """The VCALENDAR text of one event."""
    zoom = _safe_uri(event.zoom_url) if event.audience == PUBLIC and event.zoom_url else None
    description = event.description.strip()
    if zoom:
        description = f"{description}\n\nZoom: {zoom}" if description else f"Zoom: {zoom}"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:event-{event.id}@{host}",
        f"DTSTAMP:{_stamp(now)}",
        f"DTSTART:{_stamp(event.starts_at)}",
        f"DTEND:{_stamp(event.ends_at)}",
        f"SUMMARY:{escape_text(event.title)}",
    ]
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description)}")
    if zoom:
        lines += [f"LOCATION:{escape_text(zoom)}", f"URL:{zoom}"]
    lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) for line in lines)


@bp.get("/events/<int:event_id>.ics")
def event_ics(event_id: int) -> Response:
    """The event's .ics (404 when unknown, cancelled, or members-only without its token)."""
    if not 1 <= event_id <= MAX_ID:
        abort(404)
    rt = current_runtime()
    host = urlsplit(rt.settings.app.base_url).hostname or "cityhall"
    token = request.args.get("t", "")
    with rt.db.transaction() as db:
        event = db.get(Event, event_id)
        if event is None or event.cancelled_at is not None:
            abort(404)
        public = event.audience == PUBLIC
        if not public and not calendar_token_valid(rt.settings, event.id, token):
            abort(404)
        body = event_calendar(event, host=host, now=rt.now())
    response = Response(body.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="event-{event_id}.ics"'
    response.headers["Cache-Control"] = "public, max-age=300" if public else "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def init_app(app: Flask) -> None:
    """Register /events/<id>.ics."""
    app.register_blueprint(bp)
