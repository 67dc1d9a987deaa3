"""Events (イベント): upcoming and past, create (one-off or series), edit, cancel, 説明会 from the
schedule, and per event the RSVP count and the attendee list (audited: it names members).

Times are entered and shown in Asia/Tokyo (`[app] timezone`) and stored in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.community import events as domain
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.params import BadParameter, parse_day
from bot.console.security import login_required
from bot.models import Event
from bot.web import current_runtime

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
ZOOM_MAX = 500
CAPACITY_MAX = 100_000
PAST_SHOWN = 30
ONCE = "once"
REPEATS = (ONCE, *domain.RULES)
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True)
class EventForm:
    """A validated event form: the draft, and for a new event how it repeats."""

    draft: domain.EventDraft
    repeat: str = ONCE
    count: int = 1
    skip_holidays: bool = True


def _clock(raw: str) -> time | None:
    text = raw.strip()
    if not _CLOCK.fullmatch(text):
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _text_field(form: Any, name: str, label: str, limit: int, errors: list[str]) -> str:
    value = str(form.get(name, "")).strip()
    if "\x00" in value:
        errors.append(f"{label}に使えない文字が含まれています。")
        return ""
    if len(value) > limit:
        errors.append(f"{label}は{limit}文字以内で入力してください（{len(value)}文字）。")
    return value


def _https_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and not any(c.isspace() or ord(c) < 0x20 for c in value)
    )


def parse_event_form(
    form: Any, *, tz: Any, now: datetime, series_max: int, new: bool
) -> tuple[EventForm | None, list[str]]:
    """Validate the event form; returns the values or the Japanese error messages."""
    errors: list[str] = []
    kind = form.get("kind", "")
    if kind not in domain.KINDS:
        errors.append("種類を選んでください。")
    audience = form.get("audience", "")
    if audience not in domain.AUDIENCES:
        errors.append("公開範囲を選んでください。")
    title = _text_field(form, "title", "タイトル", TITLE_MAX, errors)
    if not title and not any(e.startswith("タイトル") for e in errors):
        errors.append("タイトルを入力してください。")
    description = _text_field(form, "description", "説明", DESCRIPTION_MAX, errors)
    zoom_url = _text_field(form, "zoom_url", "ZoomのURL", ZOOM_MAX, errors)
    if zoom_url and not _https_url(zoom_url):
        errors.append("ZoomのURLは https:// で始まるURLにしてください。")
    capacity = None
    raw_capacity = str(form.get("capacity", "")).strip()
    if raw_capacity:
        if raw_capacity.isascii() and raw_capacity.isdigit() and len(raw_capacity) <= 6:
            capacity = int(raw_capacity)
        if capacity is None or not 1 <= capacity <= CAPACITY_MAX:
            errors.append(
                f"定員は1〜{CAPACITY_MAX}の整数（半角数字）か、空欄（制限なし）にしてください。"
            )
            capacity = None
    day: date | None = None
    try:
        day = parse_day("date", str(form.get("date", "")))
    except BadParameter:
        pass
    if day is None:
        errors.append("日付を YYYY-MM-DD の形で入力してください。")
    start, end = _clock(str(form.get("start", ""))), _clock(str(form.get("end", "")))
    if start is None or end is None:
        errors.append("開始・終了の時刻を HH:MM の形で入力してください。")
    elif end <= start:
        errors.append("終了の時刻は開始より後にしてください。")
    repeat, count = ONCE, 1
    if new:
        repeat = form.get("repeat", ONCE)
        if repeat not in REPEATS:
            errors.append("繰り返しを選んでください。")
            repeat = ONCE
        if repeat != ONCE:
            raw_count = str(form.get("count", "")).strip()
            ok = raw_count.isascii() and raw_count.isdigit() and len(raw_count) <= 4
            count = int(raw_count) if ok else 0
            if not 2 <= count <= series_max:
                errors.append(f"回数は2〜{series_max}の整数（半角数字）で入力してください。")
    if errors or day is None or start is None or end is None:
        return None, errors
    starts_at = datetime.combine(day, start, tz)
    ends_at = datetime.combine(day, end, tz)
    if new and starts_at <= now:
        return None, ["開始日時が過去になっています。これから先の日時を入力してください。"]
    draft = domain.EventDraft(
        kind=kind,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        description=description,
        zoom_url=zoom_url,
        capacity=capacity,
        audience=audience,
    )
    return EventForm(draft, repeat, count, form.get("skip_holidays") == "1"), []


def _form_values(event: Event, tz: Any) -> dict[str, Any]:
    start, end = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    return {
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "date": start.strftime("%Y-%m-%d"),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "zoom_url": event.zoom_url,
        "capacity": "" if event.capacity is None else str(event.capacity),
        "audience": event.audience,
    }


def _render_list(
    db: Session, form: dict[str, Any] | None = None, errors: list[str] | None = None
) -> str:
    rt = current_runtime()
    now = rt.now()
    upcoming = list(
        db.scalars(
            select(Event).where(Event.ends_at > now).order_by(Event.starts_at, Event.id).limit(200)
        )
    )
    past = list(
        db.scalars(
            select(Event)
            .where(Event.ends_at <= now)
            .order_by(Event.starts_at.desc(), Event.id.desc())
            .limit(PAST_SHOWN)
        )
    )
    counts = domain.going_counts(db, [e.id for e in upcoming + past])
    return render_template(
        "console/events.html",
        upcoming=upcoming,
        past=past,
        counts=counts,
        form=form or {"kind": domain.ORIENTATION, "audience": domain.MEMBERS, "repeat": ONCE},
        errors=errors or [],
        kinds=domain.KINDS,
        audiences=domain.AUDIENCES,
        repeats=REPEATS,
        weeks=rt.settings.events.schedule_weeks,
        series_max=rt.settings.events.series_max,
        when=lambda e: domain.describe_when(e.starts_at, e.ends_at, rt.settings.tz),
    )


@bp.get("/events")
@login_required()
def events() -> ResponseReturnValue:
    """Upcoming and past events, and the forms to add some."""
    with current_runtime().db.transaction() as db:
        return _render_list(db)


def _skipped_text(skipped: list[tuple[date, str]]) -> str:
    if not skipped:
        return ""
    days = "、".join(
        f"{d.year}年{d.month}月{d.day}日（{domain.WEEKDAYS_JA[d.weekday()]}・{name}）"
        for d, name in skipped
    )
    return f" 祝日のため次の日を除きました：{days}"


@bp.post("/events")
@login_required()
def create_event() -> ResponseReturnValue:
    """Add a one-off event or a series (public holidays skipped and listed)."""
    rt = current_runtime()
    values, errors = parse_event_form(
        request.form,
        tz=rt.settings.tz,
        now=rt.now(),
        series_max=rt.settings.events.series_max,
        new=True,
    )
    with rt.db.transaction() as db:
        if values is None:
            return _render_list(db, form=dict(request.form), errors=errors), 400
        if values.repeat == ONCE:
            event = domain.create_event(db, values.draft, actor=g.user, now=rt.now())
            record(db, action="event_created", detail={"event_id": event.id, "kind": event.kind})
            message = f"イベント「{event.title}」を作成しました。"
        else:
            made, plan = domain.create_series(
                db,
                values.draft,
                values.repeat,
                values.count,
                tz=rt.settings.tz,
                actor=g.user,
                now=rt.now(),
                skip_holidays=values.skip_holidays,
            )
            record(
                db,
                action="event_series_created",
                detail={
                    "series_key": made[0].series_key if made else "",
                    "count": len(made),
                    "skipped": [d.isoformat() for d, _ in plan.skipped],
                },
            )
            message = f"イベント「{values.draft.title}」を{len(made)}回分作成しました。"
            message += _skipped_text(plan.skipped)
    flash(message, "info")
    return redirect(url_for("console.events"))


@bp.post("/events/from-schedule")
@login_required()
def events_from_schedule() -> ResponseReturnValue:
    """「説明会を予定から作成」: the 説明会 and 大説明会 of the next weeks, each made once."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        made = domain.create_orientation_events(db, rt.settings, now=rt.now(), actor=g.user)
        record(db, action="events_from_schedule", detail={"count": len(made)})
    weeks = rt.settings.events.schedule_weeks
    if made:
        flash(f"今後{weeks}週間の説明会を{len(made)}件作成しました。", "info")
    else:
        flash(f"今後{weeks}週間の説明会はすべて作成済みです。", "info")
    return redirect(url_for("console.events"))


def _ics_url(event: Event) -> str:
    """The event's .ics link; a `members` event's carries its token (else the file is 404)."""
    token = None
    if event.audience != domain.PUBLIC:
        token = domain.calendar_token(current_runtime().settings, event.id)
    if token:
        return url_for("public_events.event_ics", event_id=event.id, t=token)
    return url_for("public_events.event_ics", event_id=event.id)


@bp.route("/events/<int:event_id>", methods=["GET", "POST"])
@login_required()
def event_page(event_id: int) -> ResponseReturnValue:
    """One event: edit it, its RSVP count and the attendee list (each view audited)."""
    rt = current_runtime()
    errors: list[str] = []
    with rt.db.transaction() as db:
        event = get_or_404(db, Event, event_id)
        form = _form_values(event, rt.settings.tz)
        if request.method == "POST":
            form = dict(request.form)
            values, errors = parse_event_form(
                request.form,
                tz=rt.settings.tz,
                now=rt.now(),
                series_max=rt.settings.events.series_max,
                new=False,
            )
            if event.cancelled_at is not None:
                values, errors = None, ["中止したイベントは編集できません。"]
            if values is not None:
                before = _form_values(event, rt.settings.tz)
                moved = domain.update_event(db, event, values.draft)
                record(
                    db,
                    action="event_updated",
                    detail={
                        "event_id": event.id,
                        "before": before,
                        "after": _form_values(event, rt.settings.tz),
                        "reminders_reset": moved,
                    },
                )
                flash(f"イベント「{event.title}」を保存しました。", "info")
                return redirect(url_for("console.event_page", event_id=event.id))
        people = domain.attendees(db, event.id)
        record(
            db,
            action="event_attendees_viewed",
            detail={"event_id": event.id, "count": len(people)},
        )
        html = render_template(
            "console/event.html",
            event=event,
            people=people,
            form=form,
            errors=errors,
            kinds=domain.KINDS,
            audiences=domain.AUDIENCES,
            ics_url=_ics_url(event),
            past=event.starts_at <= rt.now(),
            when=domain.describe_when(event.starts_at, event.ends_at, rt.settings.tz),
        )
    return html, 400 if errors else 200


@bp.post("/events/<int:event_id>/cancel")
@login_required()
def cancel_event(event_id: int) -> ResponseReturnValue:
    """Cancel an event, once the box confirming it is ticked."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        event = get_or_404(db, Event, event_id)
        if request.form.get("confirm") != "1":
            flash("中止するには「このイベントを中止する」にチェックを入れてください。", "error")
            return redirect(url_for("console.event_page", event_id=event.id))
        if domain.cancel_event(event, now=rt.now()):
            record(db, action="event_cancelled", detail={"event_id": event.id})
            flash(f"イベント「{event.title}」を中止しました。", "info")
    return redirect(url_for("console.events"))
