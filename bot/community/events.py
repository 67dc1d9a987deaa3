"""Events with RSVP: orientations, the 大説明会, study sessions, broadcasts.

An `Event` row is one occurrence (times stored in UTC, entered and shown in Asia/Tokyo); the
occurrences of a series made together share a `series_key`. A series is weekly, every other
week, or the n-th weekday of the month, and skips Japanese public holidays (jpholiday, as the
orientation calendar does), reporting the dates it skipped. The next 説明会 and 大説明会 can be
made from `[orientation]`, once per start time and kind however often it is asked.

Who sees what: `public` events are shown to anyone who writes to the Page, `members` events to
members only (approved or invited). An RSVP (参加する / やめる) is one row per (event, PSID); the
event row is locked while seats are counted, so two workers never overbook it. Cancelled and
past events refuse answers. RSVPs are not audited (a member's own choice) but logged, without
PSIDs or names.

In Messenger: `EVENTS` lists the next events as cards (generic template) with 参加する
(`EVENT_GO:<id>`), やめる (`EVENT_CANCEL:<id>`) and the event's `.ics` when `[app] base_url` is
https; `MENU_ORIENTATION` lists the upcoming 説明会 when there are any in the table. The `.ics` of
a `members` event needs the token in its URL (`calendar_token`, an HMAC of the id with
`[app] secret_key`), so walking ids shows nothing.

Before an event starts (`[events] reminder_minutes`), `remind_attendees` (the `event-reminders`
job) sends each person going the Zoom link: by Messenger when their 24-hour window stays open
until the start, else by email; a `members` event only to those still members. Moving the start
or changing the Zoom URL (`update_event`) withdraws the unsent reminders and sends them again; a
reminder still unsent when its event started (waiting for a window) is withdrawn by the next run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import jpholiday
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.community.conversation import MEMBER_STATUSES, MemberConversation, payload
from bot.config import Settings
from bot.messaging.compose import (
    generic_element,
    generic_template,
    postback_button,
    text_message,
    url_button,
    url_buttons,
)
from bot.messaging.outbox import WAITING, enqueue_email, enqueue_messenger, withdraw_unsent
from bot.messaging.policy import STANDARD_WINDOW, in_window
from bot.messaging.texts import render
from bot.models import (
    Application,
    Event,
    EventRsvp,
    MessengerIdentity,
    OutboundMessage,
    Purpose,
    QueueStatus,
)
from bot.onboarding.conversation import MENU_ORIENTATION
from bot.onboarding.orientation import LARGE, WEEKLY, upcoming_sessions

log = logging.getLogger(__name__)

ORIENTATION, GRAND, STUDY, BROADCAST, OTHER = "orientation", "grand", "study", "broadcast", "other"
KINDS = (ORIENTATION, GRAND, STUDY, BROADCAST, OTHER)
ORIENTATION_EVENT_KINDS = (ORIENTATION, GRAND)  # the sessions meant for newcomers
PUBLIC, MEMBERS = "public", "members"
AUDIENCES = (PUBLIC, MEMBERS)
GOING, CANCELLED = "going", "cancelled"
WEEKLY_RULE, BIWEEKLY_RULE, MONTHLY_RULE = "weekly", "biweekly", "monthly"
RULES = (WEEKLY_RULE, BIWEEKLY_RULE, MONTHLY_RULE)
SHOWN = 5  # events listed in Messenger at once
WEEKDAYS_JA = "月火水木金土日"
_SERIES_HORIZON = 200  # candidate dates looked at for one series (holidays, short months)
# Button titles (≤ 20 characters, Meta's limit).
GO_BUTTON, CANCEL_BUTTON, CALENDAR_BUTTON, ZOOM_BUTTON = (
    "参加する",
    "やめる",
    "カレンダーに追加",
    "Zoomに参加",
)
EVENTS = "EVENTS"
EVENT_GO = "EVENT_GO"
EVENT_CANCEL = "EVENT_CANCEL"


class EventError(ValueError):
    """An event or RSVP refused; `reason` is one of the RSVP outcomes below."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# RSVP outcomes (also the names of the replies' templates: messenger_event_<outcome>.txt).
GONE = "going"  # now going
ALREADY = "already"  # was going already
WITHDRAWN = "withdrawn"  # やめる taken
NOT_GOING = "not_going"  # やめる, but was not going
FULL = "full"
UNAVAILABLE = "unavailable"  # cancelled, past or unknown
MEMBERS_ONLY = "members_only"


@dataclass(frozen=True)
class EventDraft:
    """What an event is, before it is stored (times aware; the console enters them in JST)."""

    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    zoom_url: str = ""
    capacity: int | None = None
    audience: str = MEMBERS


@dataclass(frozen=True)
class SeriesPlan:
    """The start times of a series and the holidays it skipped, as (date, holiday name)."""

    starts: list[datetime]
    skipped: list[tuple[date, str]] = field(default_factory=list)


# -- times ---------------------------------------------------------------------------------------
def describe_when(starts_at: datetime, ends_at: datetime, tz: tzinfo) -> str:
    """E.g. ``12月4日(金) 21:00–22:00`` in `tz`."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    day = f"{start.month}月{start.day}日({WEEKDAYS_JA[start.weekday()]})"
    if end.date() != start.date():
        return f"{day} {start:%H:%M}–{end.month}月{end.day}日 {end:%H:%M}"
    return f"{day} {start:%H:%M}–{end:%H:%M}"


def describe_lead(minutes: int) -> str:
    """How long before the start the reminder goes, in Japanese (``1時間``, ``30分``)."""
    hours, rest = divmod(minutes, 60)
    if hours and not rest:
        return f"{hours}時間"
    if hours:
        return f"{hours}時間{rest}分"
    return f"{rest}分"


def _week_of_month(day: date) -> int:
    return (day.day - 1) // 7 + 1


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date | None:
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    return day if day.month == month else None


def _candidates(first: date, rule: str) -> list[date]:
    if rule in (WEEKLY_RULE, BIWEEKLY_RULE):
        step = 7 if rule == WEEKLY_RULE else 14
        return [first + timedelta(days=step * i) for i in range(_SERIES_HORIZON)]
    nth, weekday = _week_of_month(first), first.weekday()
    found = []
    year, month = first.year, first.month
    for _ in range(_SERIES_HORIZON):
        day = _nth_weekday(year, month, weekday, nth)
        if day is not None:
            found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def plan_series(
    first_start: datetime,
    rule: str,
    count: int,
    *,
    tz: tzinfo,
    skip_holidays: bool = True,
) -> SeriesPlan:
    """`count` start times from `first_start` by `rule`, public holidays skipped and reported.

    `monthly` repeats the n-th weekday of `first_start`'s month (the third Friday, …); a month
    without a fifth such weekday has no occurrence. Skipped holidays do not count: the series
    holds `count` occurrences.
    """
    if rule not in RULES:
        raise ValueError(f"unknown recurrence {rule!r}")
    local = first_start.astimezone(tz)
    clock = time(local.hour, local.minute)
    starts: list[datetime] = []
    skipped: list[tuple[date, str]] = []
    for day in _candidates(local.date(), rule):
        if len(starts) == count:
            break
        name = jpholiday.is_holiday_name(day) if skip_holidays else None
        if name:
            skipped.append((day, name))
            continue
        starts.append(datetime.combine(day, clock, tz))
    return SeriesPlan(starts, skipped)


# -- creating events -----------------------------------------------------------------------------
def _new_event(draft: EventDraft, *, series_key: str, actor: str, now: datetime) -> Event:
    return Event(
        kind=draft.kind,
        title=draft.title,
        description=draft.description,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        zoom_url=draft.zoom_url,
        capacity=draft.capacity,
        audience=draft.audience,
        series_key=series_key,
        created_at=now,
        created_by=actor,
    )


def create_event(session: Session, draft: EventDraft, *, actor: str, now: datetime) -> Event:
    """Store a one-off event."""
    event = _new_event(draft, series_key="", actor=actor, now=now)
    session.add(event)
    session.flush()
    log.info("event %s created (%s)", event.id, event.kind)
    return event


def create_series(
    session: Session,
    draft: EventDraft,
    rule: str,
    count: int,
    *,
    tz: tzinfo,
    actor: str,
    now: datetime,
    skip_holidays: bool = True,
) -> tuple[list[Event], SeriesPlan]:
    """Store `count` occurrences of `draft` (its times are the first one's) by `rule`."""
    plan = plan_series(draft.starts_at, rule, count, tz=tz, skip_holidays=skip_holidays)
    length = draft.ends_at - draft.starts_at
    key = f"series:{uuid.uuid4().hex[:16]}"
    events = []
    for start in plan.starts:
        occurrence = EventDraft(
            kind=draft.kind,
            title=draft.title,
            starts_at=start,
            ends_at=start + length,
            description=draft.description,
            zoom_url=draft.zoom_url,
            capacity=draft.capacity,
            audience=draft.audience,
        )
        events.append(_new_event(occurrence, series_key=key, actor=actor, now=now))
    session.add_all(events)
    session.flush()
    log.info("event series of %s occurrences created (%s)", len(events), draft.kind)
    return events, plan


ORIENTATION_LOCK = 0x6576656E7473  # "events": serialises 「説明会を予定から作成」 on PostgreSQL


def create_orientation_events(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    actor: str,
    weeks: int | None = None,
    audience: str = MEMBERS,
    capacity: int | None = None,
) -> list[Event]:
    """The 説明会 and 大説明会 of the next `weeks` weeks from `[orientation]`, each made once.

    An occurrence already in the table (same kind and start, even cancelled) is not made again,
    so asking twice, or from two consoles at once, makes each session once.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ORIENTATION_LOCK)))
    weeks = weeks or settings.events.schedule_weeks
    until = now + timedelta(weeks=weeks)
    sessions = [
        s
        for s in upcoming_sessions(
            now, settings.orientation, 2 * weeks + 2, kinds=(WEEKLY, LARGE), tz=settings.tz
        )
        if s.starts_at <= until
    ]
    if not sessions:
        return []
    existing = set(
        session.execute(
            select(Event.kind, Event.starts_at).where(
                Event.kind.in_(ORIENTATION_EVENT_KINDS),
                Event.starts_at >= sessions[0].starts_at,
                Event.starts_at <= sessions[-1].starts_at,
            )
        ).tuples()
    )
    made = []
    for s in sessions:
        kind = GRAND if s.kind == LARGE else ORIENTATION
        if (kind, s.starts_at) in existing:
            continue
        draft = EventDraft(
            kind=kind,
            title=s.name,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            zoom_url=s.zoom_url,
            capacity=capacity,
            audience=audience,
        )
        made.append(_new_event(draft, series_key="orientation", actor=actor, now=now))
    session.add_all(made)
    session.flush()
    log.info("%s orientation events created from the schedule", len(made))
    return made


def update_event(session: Session, event: Event, draft: EventDraft) -> bool:
    """Store the edited values; True when the start or the Zoom URL changed.

    Then the reminders already queued or sent say the wrong time or link: those not yet sent are
    withdrawn, and every RSVP is reminded again (with a new key, see `reminder_key`).
    """
    moved = event.starts_at != draft.starts_at or event.zoom_url != draft.zoom_url
    for name in (
        "kind",
        "title",
        "description",
        "starts_at",
        "ends_at",
        "zoom_url",
        "capacity",
        "audience",
    ):
        setattr(event, name, getattr(draft, name))
    if moved:
        withdrawn = 0
        for row in _unsent_reminders(session, event_id=event.id):
            withdrawn += withdraw_unsent(session, row)
        answers = session.scalars(
            select(EventRsvp).where(
                EventRsvp.event_id == event.id, EventRsvp.reminded_at.is_not(None)
            )
        ).all()
        for answer in answers:
            answer.reminded_at = None
        session.flush()
        log.info(
            "event %s moved: %s reminders withdrawn, %s to send again",
            event.id,
            withdrawn,
            len(answers),
        )
    return moved


def cancel_event(event: Event, *, now: datetime) -> bool:
    """Cancel an event (its RSVPs stay, and refuse changes); False if it already was."""
    if event.cancelled_at is not None:
        return False
    event.cancelled_at = now
    log.info("event %s cancelled", event.id)
    return True


# -- reading -------------------------------------------------------------------------------------
def visible_events(
    session: Session,
    *,
    now: datetime,
    member: bool,
    kinds: Sequence[str] | None = None,
    limit: int = SHOWN,
) -> list[Event]:
    """The next events (not cancelled, not started) a person may see: public, or all for members."""
    query = select(Event).where(Event.cancelled_at.is_(None), Event.starts_at > now)
    if not member:
        query = query.where(Event.audience == PUBLIC)
    if kinds is not None:
        query = query.where(Event.kind.in_(kinds))
    return list(session.scalars(query.order_by(Event.starts_at, Event.id).limit(limit)))


def going_counts(session: Session, event_ids: Sequence[int]) -> dict[int, int]:
    """How many people are going to each event."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(EventRsvp.event_id, func.count())
        .where(EventRsvp.event_id.in_(event_ids), EventRsvp.status == GOING)
        .group_by(EventRsvp.event_id)
    ).tuples()
    return dict(rows.all())


def attendees(session: Session, event_id: int) -> list[tuple[EventRsvp, Application | None]]:
    """Those going to an event, with their applications (for the host), in the order they said."""
    rows = session.execute(
        select(EventRsvp, Application)
        .outerjoin(
            Application,
            (Application.id == EventRsvp.application_id) & Application.erased_at.is_(None),
        )
        .where(EventRsvp.event_id == event_id, EventRsvp.status == GOING)
        .order_by(EventRsvp.answered_at, EventRsvp.id)
    ).tuples()
    return list(rows.all())


# -- RSVP ----------------------------------------------------------------------------------------
def _locked_event(session: Session, event_id: int) -> Event | None:
    return session.scalars(
        select(Event)
        .where(Event.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def rsvp(
    session: Session,
    event_id: int,
    *,
    psid: str,
    going: bool,
    member: bool,
    application_id: int | None,
    now: datetime,
) -> tuple[str, Event | None]:
    """Answer 参加する (`going`) or やめる for one person; returns (outcome, event).

    The event row is locked first, so seats are counted by one answer at a time.
    """
    event = _locked_event(session, event_id)
    if event is None or event.cancelled_at is not None or event.starts_at <= now:
        log.info("rsvp refused: event %s unavailable", event_id)
        return UNAVAILABLE, event
    answer = session.scalars(
        select(EventRsvp).where(EventRsvp.event_id == event.id, EventRsvp.psid == psid)
    ).first()
    if going and event.audience != PUBLIC and not member:
        return MEMBERS_ONLY, event
    if not going:
        if answer is None or answer.status != GOING:
            return NOT_GOING, event
        answer.status, answer.answered_at = CANCELLED, now
        log.info("rsvp to event %s withdrawn", event.id)
        return WITHDRAWN, event
    if answer is not None and answer.status == GOING:
        return ALREADY, event
    if event.capacity is not None:
        taken = going_counts(session, [event.id]).get(event.id, 0)
        if taken >= event.capacity:
            log.info("rsvp refused: event %s is full", event.id)
            return FULL, event
    if answer is None:
        answer = EventRsvp(event_id=event.id, psid=psid, status=GOING, answered_at=now)
        session.add(answer)
    answer.status, answer.answered_at = GOING, now
    answer.application_id = application_id or answer.application_id
    session.flush()
    log.info("rsvp to event %s: going", event.id)
    return GONE, event


# -- calendar file -------------------------------------------------------------------------------
CALENDAR_TOKEN_LENGTH = 32  # hex characters of the HMAC-SHA256 (128 bits)


def calendar_token(settings: Settings, event_id: int) -> str | None:
    """The token a `members` event's `.ics` URL carries; None without `[app] secret_key`."""
    secret = settings.app.secret_key
    if not secret:
        return None
    message = f"event-ics:{event_id}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return digest[:CALENDAR_TOKEN_LENGTH]


def calendar_token_valid(settings: Settings, event_id: int, token: str) -> bool:
    """Whether `token` is the event's calendar token (compared in constant time)."""
    expected = calendar_token(settings, event_id)
    if expected is None or not token.isascii():
        return False
    return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii"))


def calendar_path(settings: Settings, event: Event) -> str | None:
    """`/events/<id>.ics`, with `?t=<token>` for a `members` event (None when it has none)."""
    path = f"/events/{event.id}.ics"
    if event.audience == PUBLIC:
        return path
    token = calendar_token(settings, event.id)
    return None if token is None else f"{path}?t={token}"


def calendar_url(settings: Settings, event: Event) -> str | None:
    """The event's `.ics` address, when `[app] base_url` is https (Meta needs https)."""
    base = settings.app.base_url.rstrip("/")
    path = calendar_path(settings, event)
    if not base.startswith("https://") or path is None:
        return None
    return base + path


# -- Messenger -----------------------------------------------------------------------------------


def _text(settings: Settings, name: str, **context: Any) -> str:
    return render(name, settings.app.templates_dir, **context).body.strip()


def event_cards(
    settings: Settings,
    events: Sequence[Event],
    *,
    going: set[int],
    counts: dict[int, int],
) -> dict[str, Any]:
    """The events as a generic template: one card each, with 参加する / やめる / カレンダー."""
    tz = settings.tz
    elements = []
    for event in events:
        remaining = None
        if event.capacity is not None:
            remaining = max(event.capacity - counts.get(event.id, 0), 0)
        subtitle = _text(
            settings,
            "messenger_event_card",
            when=describe_when(event.starts_at, event.ends_at, tz),
            remaining=remaining,
            going=event.id in going,
            members_only=event.audience != PUBLIC,
        )
        buttons = [
            postback_button(GO_BUTTON, f"{EVENT_GO}:{event.id}"),
            postback_button(CANCEL_BUTTON, f"{EVENT_CANCEL}:{event.id}"),
        ]
        ics = calendar_url(settings, event)
        if ics is not None:
            buttons.append(url_button(CALENDAR_BUTTON, ics))
        elements.append(generic_element(_clip(event.title, 80), _clip(subtitle, 80), buttons))
    return generic_template(elements)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_events(
    conv: MemberConversation,
    identity: MessengerIdentity,
    *,
    kinds: Sequence[str] | None = None,
    suffix: str = "",
) -> bool:
    """Send the next events this person may see; False (nothing sent) when there are none."""
    member = conv.member_application(identity) is not None
    events = visible_events(conv.session, now=conv.now, member=member, kinds=kinds)
    if not events:
        return False
    ids = [e.id for e in events]
    going = set(
        conv.session.scalars(
            select(EventRsvp.event_id).where(
                EventRsvp.event_id.in_(ids),
                EventRsvp.psid == identity.psid,
                EventRsvp.status == GOING,
            )
        )
    )
    message = event_cards(
        conv.settings, events, going=going, counts=going_counts(conv.session, ids)
    )
    conv.send("event_list", message, suffix=suffix)
    return True


@payload(EVENTS)
def on_events(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """説明会・イベント: the next events as cards, or a line saying there are none."""
    if not show_events(conv, identity):
        member = conv.member_application(identity) is not None
        conv.reply("event_none", member=member)


@payload(MENU_ORIENTATION)
def on_orientation(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """説明会: the upcoming 説明会 as cards when the table holds any; else the schedule's text."""
    if not show_events(conv, identity, kinds=ORIENTATION_EVENT_KINDS, suffix=":orientation"):
        conv.on_orientation(identity)


def _event_id(argument: str) -> int | None:
    if not argument.isascii() or not argument.isdigit() or len(argument) > 9:
        return None
    return int(argument)


def _answer(conv: MemberConversation, identity: MessengerIdentity, argument: str, go: bool) -> None:
    event_id = _event_id(argument)
    if event_id is None:
        conv.reply("event_unavailable")
        return
    member = conv.member_application(identity)
    linked = member or conv.application_of(identity)
    outcome, event = rsvp(
        conv.session,
        event_id,
        psid=identity.psid,
        going=go,
        member=member is not None,
        application_id=linked.id if linked is not None and linked.erased_at is None else None,
        now=conv.now,
    )
    context: dict[str, Any] = {"event": event, "when": ""}
    if event is not None:
        context["when"] = describe_when(event.starts_at, event.ends_at, conv.settings.tz)
    lead = describe_lead(conv.settings.events.reminder_minutes)
    conv.reply(f"event_{outcome}", suffix=f":{event_id}", lead=lead, **context)


@payload(EVENT_GO)
def on_go(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """参加する on an event card."""
    _answer(conv, identity, argument, go=True)


@payload(EVENT_CANCEL)
def on_cancel(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """やめる on an event card."""
    _answer(conv, identity, argument, go=False)


# -- reminders -----------------------------------------------------------------------------------
REMINDER_KEY = "event_reminder"
MESSENGER, EMAIL, NOT_MEMBER = "messenger", "email", "not_member"


@dataclass
class ReminderCounts:
    """What one reminder run did."""

    messenger: int = 0
    email: int = 0
    unreachable: int = 0  # neither Messenger (window closes before the start) nor an email address
    not_members: int = 0  # going to a `members` event but no longer members: nothing sent
    withdrawn: int = 0  # unsent reminders of events started, ended, cancelled or moved

    def describe(self) -> str:
        """The job's detail line."""
        text = (
            f"{self.messenger} by Messenger, {self.email} by email, {self.unreachable} unreachable"
        )
        if self.not_members:
            text += f", {self.not_members} no longer members"
        if self.withdrawn:
            text += f", {self.withdrawn} stale withdrawn"
        return text


def reminder_key(event: Event, psid: str) -> str:
    """The idempotency key of one reminder, for both channels.

    It holds the start (epoch seconds) and a short hash of the Zoom URL, so an event moved or
    given a new link is reminded again, while a rerun of the same one sends nothing twice.
    """
    start = int(event.starts_at.timestamp())
    zoom = hashlib.sha256(event.zoom_url.encode("utf-8")).hexdigest()[:8]
    return f"{REMINDER_KEY}:{event.id}:{start}:{zoom}:{psid}"


def _key_event_id(key: str) -> int | None:
    parts = key.split(":")
    if len(parts) < 5 or parts[0] != REMINDER_KEY or not parts[1].isdigit():
        return None
    return int(parts[1])


def _unsent_reminders(session: Session, *, event_id: int | None = None) -> list[OutboundMessage]:
    """Reminders queued and not yet taken by a worker (pending, or waiting for a window)."""
    query = select(OutboundMessage).where(
        OutboundMessage.purpose == Purpose.EVENT_REMINDER,
        OutboundMessage.status.in_((QueueStatus.PENDING, WAITING)),
    )
    if event_id is not None:
        prefix = f"{REMINDER_KEY}:{event_id}:"
        query = query.where(OutboundMessage.idempotency_key.startswith(prefix, autoescape=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    query = query.order_by(OutboundMessage.id).execution_options(populate_existing=True)
    return list(session.scalars(query))


def withdraw_stale_reminders(session: Session, *, now: datetime) -> int:
    """Withdraw the unsent reminders that would now come too late or say the wrong thing.

    The outbox has no expiry: a Messenger reminder waiting for a window the person never
    reopens would otherwise be delivered whenever they next write, days after the event. So a
    waiting reminder is withdrawn once its event has started; any unsent one once its event has
    ended, was cancelled or deleted, or its start or Zoom URL changed (another key now).
    """
    rows = _unsent_reminders(session)
    ids = {i for i in (_key_event_id(r.idempotency_key) for r in rows) if i is not None}
    found = session.scalars(select(Event).where(Event.id.in_(ids))).all() if ids else []
    by_id = {e.id: e for e in found}
    withdrawn = 0
    for row in rows:
        event_id = _key_event_id(row.idempotency_key)
        if event_id is None:
            continue  # not a key this module made: left alone
        event = by_id.get(event_id)
        stale = (
            event is None
            or event.cancelled_at is not None
            or event.ends_at <= now
            or (row.status == WAITING and event.starts_at <= now)
            or not row.idempotency_key.startswith(reminder_key(event, ""))
        )
        if stale and withdraw_unsent(session, row):
            withdrawn += 1
    if withdrawn:
        log.info("%s stale event reminders withdrawn", withdrawn)
    return withdrawn


def _reminder_message(text: str, zoom_url: str) -> dict[str, Any]:
    if zoom_url.startswith("https://"):
        try:
            return url_buttons(text[:640], [(ZOOM_BUTTON, zoom_url)])
        except ValueError:
            pass  # not a URL Meta takes in a button: the text carries it
    return text_message(text[:2000])


def remind_attendees(session: Session, settings: Settings, *, now: datetime) -> ReminderCounts:
    """Send the Zoom link to everyone going to an event that starts within `reminder_minutes`.

    By Messenger (an UPDATE with a URL button) only when the person's 24-hour window is open now
    and stays open until the event starts, so a late worker never holds it for a window the
    person may not reopen; otherwise by email to their application's address; never a message
    tag. A `members` event is reminded only to those who are still members. One idempotency key
    per event occurrence and person for both channels (`reminder_key`), and `reminded_at` set,
    so a rerun or a second clock sends nothing twice. A person reachable neither way, or no
    longer a member, is counted and looked at again by later runs until the event ends. Each
    run first withdraws the stale reminders (`withdraw_stale_reminders`).
    """
    counts = ReminderCounts(withdrawn=withdraw_stale_reminders(session, now=now))
    lead = timedelta(minutes=settings.events.reminder_minutes)
    query = (
        select(EventRsvp, Event)
        .join(Event, Event.id == EventRsvp.event_id)
        .where(
            Event.cancelled_at.is_(None),
            Event.starts_at <= now + lead,
            Event.ends_at > now,
            EventRsvp.status == GOING,
            EventRsvp.reminded_at.is_(None),
        )
        .order_by(Event.starts_at, EventRsvp.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=EventRsvp, skip_locked=True)
    for answer, event in session.execute(query).tuples().all():
        channel = _remind(session, settings, answer, event, now=now)
        if channel is None:
            counts.unreachable += 1
        elif channel == NOT_MEMBER:
            counts.not_members += 1
        else:
            answer.reminded_at = now
            if channel == MESSENGER:
                counts.messenger += 1
            else:
                counts.email += 1
    return counts


def _is_member(app: Application | None) -> bool:
    return app is not None and app.erased_at is None and app.status in MEMBER_STATUSES


def _window_covers_start(identity: MessengerIdentity, event: Event, now: datetime) -> bool:
    """Whether the 24-hour window is open now and still open when the event starts."""
    last = identity.last_interaction_at
    return (
        in_window(identity, now) and last is not None and last + STANDARD_WINDOW >= event.starts_at
    )


def _remind(
    session: Session, settings: Settings, answer: EventRsvp, event: Event, *, now: datetime
) -> str | None:
    identity = session.scalars(
        select(MessengerIdentity).where(MessengerIdentity.psid == answer.psid)
    ).first()
    given = None  # the application named when they answered
    if answer.application_id is not None:
        given = session.get(Application, answer.application_id)
    linked = None  # the application their Messenger thread is linked to now
    if identity is not None:
        linked = session.scalars(
            select(Application).where(Application.messenger_identity_id == identity.id)
        ).first()
    if event.audience != PUBLIC and not (_is_member(linked) or _is_member(given)):
        log.info("event %s reminder skipped: no longer a member", event.id)
        return NOT_MEMBER
    app = given or linked
    if app is not None and app.erased_at is not None:
        app = None
    context = {
        "event": event,
        "when": describe_when(event.starts_at, event.ends_at, settings.tz),
        "full_name": app.full_name if app is not None else "",
    }
    key = reminder_key(event, answer.psid)
    if (
        identity is not None
        and identity.unreachable_at is None
        and _window_covers_start(identity, event, now)
    ):
        text = _text(settings, "messenger_event_reminder", **context)
        enqueue_messenger(
            session,
            key=key,
            psid=answer.psid,
            message=_reminder_message(text, event.zoom_url),
            purpose=Purpose.EVENT_REMINDER,
            application_id=app.id if app is not None else None,
            now=now,
        )
        return MESSENGER
    if app is not None and app.email:
        mail = render("event_reminder", settings.app.templates_dir, **context)
        enqueue_email(
            session,
            key=key,
            to=app.email,
            subject=mail.subject,
            body=mail.body,
            purpose=Purpose.EVENT_REMINDER,
            application_id=app.id,
            now=now,
        )
        return EMAIL
    return None
