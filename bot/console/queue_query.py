"""The queue: tabs with counts, filters, search and keyset pagination over applications.

Tabs split the applications by status and verdict (TABS); the last one, すべて, holds every
status and is where the header's search box looks. Pages are cut by (submitted_at, id) keyset
cursors, so page N costs the same as page 1; the index ix_applications_queue (status,
submitted_at, id) serves the order and the status filter. The counts of all tabs come from one
query grouped by status and verdict (for a search, from the one pass that finds the matches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, load_only

from bot.console.card_facts import CardFacts, card_facts
from bot.console.formatting import STATUS_LABELS, VERDICT_LABELS
from bot.console.params import MAX_ID, BadParameter, parse_int
from bot.console.search import parse_search, search_where
from bot.models import Application, JoinRequest
from bot.models import ApplicationStatus as S
from bot.onboarding.lifecycle import OPEN

STATUSES = tuple(s.value for s in S)
OPEN_STATUSES = tuple(s for s in STATUSES if S(s) in OPEN)
VERDICTS = ("verified", "needs_review", "ineligible")


@dataclass(frozen=True)
class Tab:
    """One tab of the queue: the statuses and verdicts it holds (empty verdicts: any)."""

    key: str
    label: str
    statuses: tuple[str, ...]
    verdicts: tuple[str, ...] = ()

    @property
    def decidable(self) -> bool:
        """Whether any application in the tab can still be approved or rejected."""
        return any(s in OPEN_STATUSES for s in self.statuses)

    def holds(self, status: str, verdict: str) -> bool:
        """Whether an application with this status and verdict is in the tab."""
        return status in self.statuses and (not self.verdicts or verdict in self.verdicts)


# Open applications are split by verdict first, so each is in exactly one tab: 確認待ち holds the
# verified ones whose join request was seen (approve now), 参加リクエスト待ち the verified ones
# still waiting for it, 要確認 and 対象外 the open ones whose verdict asks a person to look.
# Withdrawn, expired and duplicate applications are only under すべて.
TABS = (
    Tab("ready", STATUS_LABELS[S.READY_FOR_REVIEW], (S.READY_FOR_REVIEW,), ("verified",)),
    Tab(
        "awaiting",
        STATUS_LABELS[S.AWAITING_JOIN_REQUEST],
        (S.SUBMITTED, S.AWAITING_JOIN_REQUEST),
        ("verified",),
    ),
    Tab("review", VERDICT_LABELS["needs_review"], OPEN_STATUSES, ("needs_review",)),
    Tab("ineligible", VERDICT_LABELS["ineligible"], OPEN_STATUSES, ("ineligible",)),
    Tab("approved", STATUS_LABELS[S.APPROVED], (S.APPROVED, S.INVITED)),
    Tab("rejected", STATUS_LABELS[S.REJECTED], (S.REJECTED,)),
    Tab("all", "すべて", STATUSES),
)
TAB_BY_KEY = {t.key: t for t in TABS}
DEFAULT_TAB = "ready"
SEARCH_TAB = "all"
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
    # read by the card's badges (email proof, held edit): without them, two loads per row
    Application.email_proven_by,
    Application.pending_change_at,
    Application.claimed_by,  # 「対応中」 on the card
    Application.claimed_at,
    Application.link_token,  # the card's m.me link
)


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer asked to see (parsed strictly from the query string)."""

    q: str = ""
    tab: str = DEFAULT_TAB
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
        q = args.get("q", "").strip()[:100]
        verdict = pick("verdict", VERDICTS)
        status = pick("status", STATUSES)
        tab = pick("tab", tuple(TAB_BY_KEY))
        if not tab:
            tab = SEARCH_TAB if q or verdict or status else DEFAULT_TAB
        return cls(
            q=q,
            tab=tab,
            verdict=verdict,
            status=status,
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

    @property
    def current_tab(self) -> Tab:
        """The tab being shown."""
        return TAB_BY_KEY[self.tab]

    def shows(self, status: str, verdict: str) -> bool:
        """Whether an application with this status and verdict is on this view's pages."""
        return (
            self.current_tab.holds(status, verdict)
            and (not self.status or status == self.status)
            and (not self.verdict or verdict == self.verdict)
        )


@dataclass
class QueuePage:
    """One page of the queue."""

    rows: list[Any]
    total: int
    next_cursor: str = ""
    prev_cursor: str = ""
    join_requests: dict[int, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)  # tab key -> applications in it
    romaji_capped: bool = False  # the romaji pass stopped at its bound: refine the search
    cards: dict[int, CardFacts] = field(default_factory=dict)  # notes, Messenger state per row


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


def _narrowed(f: QueueFilter, now: datetime) -> list[ColumnElement[bool]]:
    """The filters every tab's count shares: all but the tab, status and verdict."""
    where: list[ColumnElement[bool]] = []
    if f.prefecture:
        where.append(Application.prefecture == f.prefecture)
    if f.service:
        where.append(Application.service_type.contains(SERVICE_TYPES[f.service]))
    if f.seen == "yes":
        where.append(Application.join_request_seen_at.is_not(None))
    elif f.seen == "no":
        where.append(Application.join_request_seen_at.is_(None))
    if f.min_days is not None:
        where.append(Application.submitted_at <= now - timedelta(days=f.min_days))
    return where


def _in_view(f: QueueFilter) -> list[ColumnElement[bool]]:
    """The current tab, narrowed by the status and verdict chosen."""
    tab = f.current_tab
    where: list[ColumnElement[bool]] = []
    if f.status or tab.statuses != STATUSES:  # すべて: no condition, the order's index serves
        where.append(Application.status.in_([s for s in tab.statuses if f.status in ("", s)]))
    if tab.verdicts or f.verdict:
        verdicts = [v for v in tab.verdicts or VERDICTS if f.verdict in ("", v)]
        where.append(Application.verdict.in_(verdicts))
    return where


def tab_counts(grouped: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """How many applications each tab holds, from counts by (status, verdict)."""
    return {
        tab.key: sum(n for (status, verdict), n in grouped.items() if tab.holds(status, verdict))
        for tab in TABS
    }


def _sql_page(
    session: Session,
    f: QueueFilter,
    where: list[ColumnElement[bool]],
    cursor: tuple[datetime, int] | None,
    forward: bool,
    page_size: int,
) -> tuple[dict[tuple[str, str], int], list[Any]]:
    """A tab without a search: counts by one grouped query, the page by a keyset query."""
    grouped: dict[tuple[str, str], int] = {
        (status, verdict): n
        for status, verdict, n in session.execute(
            select(Application.status, Application.verdict, func.count(Application.id))
            .where(*where)
            .group_by(Application.status, Application.verdict)
        )
    }
    key = (Application.submitted_at, Application.id)
    query = select(Application).where(*where, *_in_view(f)).options(load_only(*_COLUMNS[1:]))
    if cursor is not None:
        at, app_id = cursor
        if forward:
            query = query.where(or_(key[0] > at, and_(key[0] == at, key[1] > app_id)))
        else:
            query = query.where(or_(key[0] < at, and_(key[0] == at, key[1] < app_id)))
    order = (key[0].asc(), key[1].asc()) if forward else (key[0].desc(), key[1].desc())
    return grouped, list(session.scalars(query.order_by(*order).limit(page_size + 1)).all())


def _search_page(
    session: Session,
    f: QueueFilter,
    where: list[ColumnElement[bool]],
    cursor: tuple[datetime, int] | None,
    forward: bool,
    page_size: int,
) -> tuple[dict[tuple[str, str], int], list[Any]]:
    """A search: one pass finds every match; counts and the page's keys come from it.

    A search cannot use an index, so reading the matches once (ids, status, verdict, time) and
    cutting the page in Python halves the work of a count query plus a page query.
    """
    grouped: dict[tuple[str, str], int] = {}
    keys: list[tuple[datetime, int]] = []
    for app_id, status, verdict, at in session.connection().execute(
        select(
            Application.id, Application.status, Application.verdict, Application.submitted_at
        ).where(*where)
    ):
        grouped[(status, verdict)] = grouped.get((status, verdict), 0) + 1
        if f.shows(status, verdict):
            keys.append((at, app_id))
    keys.sort(reverse=not forward)
    if cursor is not None:
        keys = [k for k in keys if (k > cursor if forward else k < cursor)]
    ids = [app_id for _, app_id in keys[: page_size + 1]]
    found = session.scalars(
        select(Application).where(Application.id.in_(ids)).options(load_only(*_COLUMNS[1:]))
    )
    by_id = {app.id: app for app in found}
    return grouped, [by_id[i] for i in ids if i in by_id]


def queue_page(session: Session, f: QueueFilter, *, now: datetime, page_size: int) -> QueuePage:
    """Rows of one page of the current tab, the counts of every tab and the cursors around."""
    newest = f.order == "newest"
    where = _narrowed(f, now)
    terms = parse_search(f.q) if f.q else None
    cursor = decode_cursor(f.before) if f.before else decode_cursor(f.after)
    backwards = bool(f.before) and cursor is not None
    forward = not newest if not backwards else newest  # ascending order?
    romaji_capped = False
    if terms is None:
        grouped, rows = _sql_page(session, f, where, cursor, forward, page_size)
    else:
        condition, romaji_capped = search_where(session, terms, where)
        grouped, rows = _search_page(session, f, [*where, condition], cursor, forward, page_size)
    total = sum(n for (status, verdict), n in grouped.items() if f.shows(status, verdict))
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    page = QueuePage(
        rows=rows, total=total, counts=tab_counts(grouped), romaji_capped=romaji_capped
    )
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
    page.cards = card_facts(session, rows, now=now)
    return page
