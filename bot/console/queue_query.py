"""The pending-approval queue: filters, search and keyset pagination over open applications.

Pages are cut by (submitted_at, id) keyset cursors, so page N costs the same as page 1; the
index ix_applications_queue (status, submitted_at, id) serves the order and the status filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, load_only

from bot.console.params import MAX_ID, BadParameter, parse_int
from bot.models import Application, JoinRequest
from bot.onboarding.join_request_parsing import find_code
from bot.onboarding.lifecycle import OPEN
from bot.onboarding.names import to_hiragana, to_katakana

OPEN_STATUSES = tuple(s.value for s in OPEN)
VERDICTS = ("verified", "needs_review", "ineligible")
SERVICE_TYPES = {"national": "国家", "local": "地方"}
_COLUMNS = (
    Application.id,
    Application.code,
    Application.status,
    Application.full_name,
    Application.kana,
    Application.email,
    Application.facebook_name,
    Application.organization_name,
    Application.organization_text,
    Application.department,
    Application.prefecture,
    Application.service_type,
    Application.verdict,
    Application.reasons,
    Application.submitted_at,
    Application.join_request_seen_at,
    Application.messenger_identity_id,
)


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer asked to see (parsed strictly from the query string)."""

    q: str = ""
    verdict: str = ""
    status: str = ""
    prefecture: str = ""
    service: str = ""  # national | local
    seen: str = ""  # yes | no
    min_days: int | None = None
    order: str = "oldest"  # oldest | newest
    after: str = ""
    before: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilter:
        """Build from request args, dropping choices that are not allowed.

        A number or cursor that cannot be read is a BadParameter (400), not a silent drop:
        dropping `min_days` would show a different list than the one asked for.
        """

        def pick(name: str, allowed: Sequence[str]) -> str:
            value = args.get(name, "")
            return value if value in allowed else ""

        cursors = {name: args.get(name, "").strip() for name in ("after", "before")}
        for name, cursor in cursors.items():
            if cursor and decode_cursor(cursor) is None:
                raise BadParameter(name)
        return cls(
            q=args.get("q", "").strip()[:100],
            verdict=pick("verdict", VERDICTS),
            status=pick("status", OPEN_STATUSES),
            prefecture=args.get("prefecture", "").strip()[:8],
            service=pick("service", tuple(SERVICE_TYPES)),
            seen=pick("seen", ("yes", "no")),
            min_days=parse_int("min_days", args.get("min_days", ""), maximum=9_999),
            order="newest" if args.get("order") == "newest" else "oldest",
            after=cursors["after"],
            before=cursors["before"],
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for a link to this view (empty values left out)."""
        values = asdict(replace(self, **changes))
        return {
            k: v
            for k, v in values.items()
            if v not in ("", None) and not (k == "order" and v == "oldest")
        }


@dataclass
class QueuePage:
    """One page of the queue."""

    rows: list[Any]
    total: int
    next_cursor: str = ""
    prev_cursor: str = ""
    join_requests: dict[int, Any] | None = None


def encode_cursor(submitted_at: datetime, app_id: int) -> str:
    """A cursor naming one row's position in the order."""
    return f"{submitted_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}_{app_id}"


def decode_cursor(text: str) -> tuple[datetime, int] | None:
    """The (submitted_at, id) of a cursor, or None for junk (and for ids no row can have)."""
    stamp, _, raw_id = text.partition("_")
    if not (len(text) <= 60 and raw_id.isascii() and raw_id.isdigit() and stamp.isascii()):
        return None
    try:
        at = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    app_id = int(raw_id)
    return (at, app_id) if app_id <= MAX_ID else None


def _filtered(
    query: Select[Any], f: QueueFilter, now: datetime, *, sqlite: bool = False
) -> Select[Any]:
    query = query.where(Application.status.in_([f.status] if f.status else OPEN_STATUSES))
    if f.verdict:
        query = query.where(Application.verdict == f.verdict)
    if f.prefecture:
        query = query.where(Application.prefecture == f.prefecture)
    if f.service:
        query = query.where(Application.service_type.contains(SERVICE_TYPES[f.service]))
    if f.seen == "yes":
        query = query.where(Application.join_request_seen_at.is_not(None))
    elif f.seen == "no":
        query = query.where(Application.join_request_seen_at.is_(None))
    if f.min_days is not None:
        query = query.where(Application.submitted_at <= now - timedelta(days=f.min_days))
    if f.q:
        code = find_code(f.q)
        if code:
            query = query.where(Application.code == code)
        else:
            kana = {to_hiragana(f.q), to_katakana(f.q)}

            def has(column: Any) -> Any:
                # SQLite's LIKE already ignores ASCII case; lower() would only slow it down.
                if sqlite:
                    return column.contains(f.q, autoescape=True)
                return func.lower(column).contains(f.q.lower(), autoescape=True)

            query = query.where(
                or_(
                    has(Application.full_name),
                    has(Application.email),
                    has(Application.facebook_name),
                    *(Application.kana.contains(k, autoescape=True) for k in kana),
                )
            )
    return query


def queue_page(session: Session, f: QueueFilter, *, now: datetime, page_size: int) -> QueuePage:
    """Rows of one page of the queue, the total and the cursors around it."""
    newest = f.order == "newest"
    key = (Application.submitted_at, Application.id)
    sqlite = session.get_bind().dialect.name == "sqlite"
    base = _filtered(select(Application), f, now, sqlite=sqlite).options(load_only(*_COLUMNS[1:]))
    total = (
        session.scalar(_filtered(select(func.count(Application.id)), f, now, sqlite=sqlite)) or 0
    )
    cursor = decode_cursor(f.before) if f.before else decode_cursor(f.after)
    backwards = bool(f.before) and cursor is not None
    forward = not newest if not backwards else newest  # ascending SQL order?
    query = base
    if cursor is not None:
        at, app_id = cursor
        if forward:
            query = query.where(or_(key[0] > at, and_(key[0] == at, key[1] > app_id)))
        else:
            query = query.where(or_(key[0] < at, and_(key[0] == at, key[1] < app_id)))
    order = (key[0].asc(), key[1].asc()) if forward else (key[0].desc(), key[1].desc())
    rows = list(session.scalars(query.order_by(*order).limit(page_size + 1)).all())
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    page = QueuePage(rows=rows, total=total)
    if rows:
        first, last = rows[0], rows[-1]
        has_next = more if not backwards else True
        has_prev = more if backwards else cursor is not None
        if has_next:
            page.next_cursor = encode_cursor(last.submitted_at, last.id)
        if has_prev:
            page.prev_cursor = encode_cursor(first.submitted_at, first.id)
    ids = [r.id for r in rows]
    page.join_requests = {}
    if ids:
        for jr in session.scalars(
            select(JoinRequest)
            .where(JoinRequest.application_id.in_(ids), JoinRequest.status == "matched")
            .order_by(JoinRequest.id)
        ):
            page.join_requests[jr.application_id or 0] = jr
    return page
