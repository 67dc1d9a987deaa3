"""Erasing one person: an application's personal data, and every copy of it elsewhere.

What identifies the person (their traces) is read first: registration code, email address,
PSID, m.me link token and the spellings of their name. Then:

* the application keeps only what is not personal (status, verdict codes, organization,
  prefecture, dates); its code becomes ``ERASED-<id>``, an anonymous ApplicationStat row is
  added, and its history keeps who did what and when, not what was said;
* their reviewer notes, Messenger identity (the PSID), typed-code checks, webhook events (any
  status: they hold the PSID, typed codes and emails, the m.me ref) and quarantined form rows
  with their address are deleted;
* what they did as a member (bot/community) is deleted: their event RSVPs, the questions they
  sent the secretariat, and their anonymous consultations with the links to them (by their
  application or their PSID);
* their join requests: the matched one is blanked, unmatched or set-aside ones naming them are
  deleted, and they are taken out of other requests' candidate lists;
* their messages (to their address or PSID, or about their application, replies included) are
  cancelled if unsent and emptied; other rows that mention them (alerts and their emails, audit
  details, notes, job-run details) have the code, address, PSID and names replaced.

A live application of the same person (same address) keeps that address: it is theirs as a
member, so their address is then not searched for elsewhere. Applications are erased in chunks:
each table is searched once per chunk for every trace of it, not once per person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, Text, any_, cast, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.models import (
    Alert,
    Application,
    ApplicationStat,
    AuditEntry,
    Consultation,
    ConsultationLink,
    EventRsvp,
    InboundEvent,
    JobRun,
    JoinRequest,
    LinkAttempt,
    MemberQuestion,
    MessengerIdentity,
    OutboundMessage,
    QuarantinedRow,
    ReviewerNote,
    SystemFlag,
)
from bot.onboarding import lifecycle
from bot.onboarding.join_requests import MATCHED
from bot.onboarding.names import name_keys

UNSENT = ("pending", "leased", "awaiting_window")
ERASED = "erased"
MIN_NAME_LENGTH = 2  # a one-character "name" would match too much free text
MIN_TRACE_LENGTH = 4  # nor would a code, address or PSID that short (only tests make them)
CHUNK = 200  # applications whose traces are searched for in one pass over each table


@dataclass(frozen=True)
class Traces:
    """What identifies one person in other rows (each empty when unknown)."""

    app_id: int
    code: str
    new_code: str
    email: str
    psid: str
    link_token: str
    names: tuple[str, ...]

    def replacements(self) -> list[tuple[str, str]]:
        """Each trace worth searching for, and what replaces it in free text."""
        pairs = [(self.code, self.new_code)] + [
            (t, ERASED) for t in (self.email, self.psid, self.link_token) if t
        ]
        return [(old, new) for old, new in pairs if _long(old)] + [
            (name, ERASED) for name in self.names
        ]


class Mentions:
    """The traces of a chunk of people: SQL conditions that find them, a function that
    replaces them."""

    def __init__(self, traces: Sequence[Traces]) -> None:
        self.traces = traces
        replace: dict[str, str] = {}
        for t in traces:
            for old, new in t.replacements():
                replace.setdefault(old.lower(), new)
        self._replace = replace
        self.needles = sorted(replace)
        alternatives = sorted(replace, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
            if alternatives
            else None
        )

    def scrub(self, value: Any) -> Any:
        """A copy of a text or JSON value with every trace replaced (object keys included)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(lambda m: self._replace[m.group(0).lower()], value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    def mentioned(self, text: str | None) -> bool:
        """Whether plain text holds one of the traces."""
        return bool(self._pattern and text and self._pattern.search(text))


def _long(trace: str) -> bool:
    return len(trace) >= MIN_TRACE_LENGTH


def erased_code(app_id: int) -> str:
    """The code an erased application keeps: says what it is, identifies nobody (upper case,
    as `applications show` and the console look codes up)."""
    return f"{ERASED.upper()}-{app_id}"


def erase_application(
    session: Session, app: Application, *, now: datetime, tz: ZoneInfo, after_days: int
) -> None:
    """Replace one application's personal data everywhere, leaving statistics and an audit entry."""
    erase_applications(session, [app], now=now, tz=tz, after_days=after_days)


def erase_applications(
    session: Session,
    apps: Sequence[Application],
    *,
    now: datetime,
    tz: ZoneInfo,
    after_days: int,
) -> None:
    """Erase applications' personal data everywhere, each leaving statistics and an audit entry."""
    for start in range(0, len(apps), CHUNK):
        chunk = apps[start : start + CHUNK]
        ids = {app.id for app in chunk}
        members = _addresses_kept(session, chunk, ids)
        traces = [_traces_of(app, members) for app in chunk]
        mentions = Mentions(traces)
        for app, t in zip(chunk, traces, strict=True):
            _add_statistics(session, app, now, tz)
            _erase_row(session, app, t, mentions)
        _erase_join_requests(session, mentions)
        _erase_messages(session, traces)
        _delete_mentions(session, traces, mentions)
        _delete_member_rows(session, traces)
        _scrub_mentions(session, ids, mentions)
        for app in chunk:
            app.erased_at = now
            lifecycle.audit(
                app,
                actor="system",
                at=now,
                action="personal_data_erased",
                detail={"final_status": app.status, "after_days": after_days},
            )


def _add_statistics(session: Session, app: Application, now: datetime, tz: ZoneInfo) -> None:
    submitted = app.submitted_at.astimezone(tz)
    session.add(
        ApplicationStat(
            submitted_month=f"{submitted.year:04d}-{submitted.month:02d}",
            prefecture=app.prefecture,
            service_type=app.service_type,
            organization_code=app.organization_code,
            verdict=app.verdict,
            final_status=app.status,
            erased_at=now,
        )
    )


def _addresses_kept(session: Session, apps: Sequence[Application], erasing: set[int]) -> set[str]:
    """Addresses (lower case) of these applications that another, kept application also has."""
    emails = {app.email.strip() for app in apps}
    emails |= {e.lower() for e in emails}  # stored normalised (lower case): the index finds them
    return {
        email.lower()
        for email in session.scalars(
            select(Application.email).where(
                Application.email.in_(emails),
                Application.id.not_in(erasing),
                Application.erased_at.is_(None),
            )
        )
    }


def _traces_of(app: Application, kept_addresses: set[str]) -> Traces:
    identity = app.messenger_identity
    names = [app.full_name, app.kana, app.facebook_name]
    if identity is not None:
        names += [identity.name]
    email = app.email.strip()
    return Traces(
        app_id=app.id,
        code=app.code,
        new_code=erased_code(app.id),
        email="" if email.lower() in kept_addresses else email,
        psid=identity.psid if identity is not None else "",
        link_token=app.link_token,
        names=tuple(sorted({n.strip() for n in names if len(n.strip()) >= MIN_NAME_LENGTH})),
    )


def _erase_row(session: Session, app: Application, traces: Traces, mentions: Mentions) -> None:
    """The application itself, its notes and its Messenger identity."""
    app.code = traces.new_code
    app.full_name = app.kana = app.facebook_name = ""
    app.email = f"{ERASED}-{app.id}@invalid"
    app.organization_text = app.department = app.employment_status = ""
    app.consent = app.referrer = app.fingerprint = app.decision_reason = ""
    app.answers, app.interests = {}, []
    app.pending_change, app.pending_change_at = {}, None  # an edit held after the decision
    app.reasons = [
        {"code": r.get("code", ""), "message": ""} for r in app.reasons if isinstance(r, dict)
    ]
    app.link_token = f"{ERASED}-{app.id}"
    identity = app.messenger_identity
    if identity is not None:
        app.messenger_identity = None
        session.flush()  # the application lets go of the identity before it is deleted
        session.delete(identity)
    session.execute(
        delete(ReviewerNote)
        .where(ReviewerNote.application_id == app.id)
        .execution_options(synchronize_session=False)
    )
    for entry in app.history:  # keep what happened and who did it; drop what was said
        entry.reason = ""
        detail = entry.detail
        if isinstance(detail, dict) and isinstance(detail.get("changed"), dict):
            detail = {**detail, "changed": sorted(detail["changed"])}
        entry.detail = mentions.scrub(detail)


def _erase_join_requests(session: Session, mentions: Mentions) -> None:
    """Blank their matched requests, delete open ones naming them, drop them as candidates."""
    ids = [t.app_id for t in mentions.traces]
    codes = {t.code for t in mentions.traces}
    session.execute(
        update(JoinRequest)
        .where(JoinRequest.application_id.in_(ids))
        .values(name="", answer="", candidates=[], evidence=[])
        .execution_options(synchronize_session=False)
    )
    keys = {key for t in mentions.traces for name in t.names for key in name_keys(name)["exact"]}
    naming_them = [
        jr_id
        for jr_id, name, answer in session.execute(
            select(JoinRequest.id, JoinRequest.name, JoinRequest.answer).where(
                JoinRequest.status != MATCHED
            )
        )
        if keys & name_keys(name)["exact"] or mentions.mentioned(answer)
    ]
    if naming_them:
        session.execute(
            delete(JoinRequest)
            .where(JoinRequest.id.in_(naming_them))
            .execution_options(synchronize_session=False)
        )
    if not mentions.needles:
        return
    others = select(JoinRequest).where(
        or_(JoinRequest.application_id.is_(None), JoinRequest.application_id.not_in(ids)),
        _mentioning(session, [JoinRequest.answer, JoinRequest.candidates], mentions.needles),
    )
    for jr in session.scalars(others):
        candidates = [
            c
            for c in jr.candidates or []
            if not (
                isinstance(c, dict) and (c.get("application_id") in ids or c.get("code") in codes)
            )
        ]
        jr.candidates = mentions.scrub(candidates)
        jr.answer = mentions.scrub(jr.answer)


def _erase_messages(session: Session, traces: Sequence[Traces]) -> None:
    """Their messages, to them or about their application: cancelled if unsent, emptied."""
    psids = [t.psid for t in traces if t.psid]
    emails = [t.email.lower() for t in traces if t.email]
    theirs: list[Any] = [OutboundMessage.application_id.in_([t.app_id for t in traces])]
    if psids:
        theirs.append(OutboundMessage.recipient.in_(psids))
    if emails:
        theirs.append(func.lower(OutboundMessage.recipient).in_(emails))
    empty_messages(session, list(session.scalars(select(OutboundMessage.id).where(or_(*theirs)))))


def empty_messages(session: Session, ids: list[int]) -> None:
    """Cancel the unsent of these outbox rows and empty them all (text, recipient, key).

    Status and dates stay: what was sent when remains countable, to whom and what does not.
    """
    if not ids:
        return
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status.in_(UNSENT))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids))
        .values(
            payload={},
            recipient=ERASED,
            last_error="",
            idempotency_key=literal(f"{ERASED}:", String) + cast(OutboundMessage.id, String),
        )
        .execution_options(synchronize_session=False)
    )


def _delete_mentions(session: Session, traces: Sequence[Traces], mentions: Mentions) -> None:
    """Rows that only exist because of the person: webhook events, checks, refused form rows."""
    ids = {n.lower() for t in traces for n in (t.code, t.psid, t.email, t.link_token) if _long(n)}
    if ids:
        session.execute(
            delete(InboundEvent)
            .where(_mentioning(session, [InboundEvent.payload, InboundEvent.event_key], ids))
            .execution_options(synchronize_session=False)
        )
    codes = [t.code.upper() for t in traces]
    psids = [t.psid for t in traces if t.psid]
    attempts: list[Any] = [func.upper(LinkAttempt.code).in_(codes)]
    if psids:
        attempts.append(LinkAttempt.psid.in_(psids))
    session.execute(
        delete(LinkAttempt).where(or_(*attempts)).execution_options(synchronize_session=False)
    )
    session.execute(
        update(MessengerIdentity)
        .where(func.upper(MessengerIdentity.link_code).in_(codes))
        .values(link_code=None, link_code_at=None)
        .execution_options(synchronize_session=False)
    )
    emails = {t.email.lower() for t in traces if _long(t.email)}
    if emails:  # a refused row is theirs when it carries their address
        session.execute(
            delete(QuarantinedRow)
            .where(_mentioning(session, [QuarantinedRow.raw], emails))
            .execution_options(synchronize_session=False)
        )


def _delete_member_rows(session: Session, traces: Sequence[Traces]) -> None:
    """Their RSVPs, questions and anonymous consultations (with the links to them)."""
    app_ids = [t.app_id for t in traces]
    psids = [t.psid for t in traces if t.psid]
    for model in (EventRsvp, MemberQuestion):
        theirs: list[Any] = [model.application_id.in_(app_ids)]
        if psids:
            theirs.append(model.psid.in_(psids))
        session.execute(
            delete(model).where(or_(*theirs)).execution_options(synchronize_session=False)
        )
    linked: list[Any] = [ConsultationLink.application_id.in_(app_ids)]
    if psids:
        linked.append(ConsultationLink.psid.in_(psids))
    consultation_ids = list(
        session.scalars(select(ConsultationLink.consultation_id).where(or_(*linked)))
    )
    if consultation_ids:
        session.execute(
            delete(ConsultationLink)
            .where(ConsultationLink.consultation_id.in_(consultation_ids))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(Consultation)
            .where(Consultation.id.in_(consultation_ids))
            .execution_options(synchronize_session=False)
        )


# Free text elsewhere that may mention a person: what mentions them is replaced, the row stays.
SCRUBBED: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (OutboundMessage, ("payload", "idempotency_key", "recipient", "last_error")),
    (AuditEntry, ("reason", "detail")),
    (Alert, ("key", "message")),
    (ReviewerNote, ("text",)),
    (Application, ("decision_reason",)),
    (JobRun, ("detail",)),
    (SystemFlag, ("value",)),
    (QuarantinedRow, ("raw", "reason")),
)


def _scrub_mentions(session: Session, erased: set[int], mentions: Mentions) -> None:
    if not mentions.needles:
        return
    for model, names in SCRUBBED:
        columns = [getattr(model, n) for n in names]
        query = select(model).where(_mentioning(session, columns, mentions.needles))
        if model is Application:
            query = query.where(Application.id.not_in(erased))
        for row in session.scalars(query):
            for name in names:
                value = getattr(row, name)
                cleaned = mentions.scrub(value)
                if cleaned != value:
                    setattr(row, name, cleaned)


def _mentioning(
    session: Session, columns: Sequence[InstrumentedAttribute[Any]], needles: Iterable[str]
) -> Any:
    """SQL: one of the columns (text, or JSON as text) holds one of the needles.

    Each column is turned into lower-case text once per row: on PostgreSQL one `LIKE ANY` of
    all the needles, elsewhere one LIKE per needle.
    """
    patterns = [_like_pattern(n) for n in sorted({n.lower() for n in needles})]
    postgres = session.get_bind().dialect.name == "postgresql"
    conditions = []
    for column in columns:
        text = func.lower(cast(column, Text))
        if postgres:  # backslash is the LIKE escape already (and ANY takes no ESCAPE clause)
            conditions.append(text.like(any_(postgresql.array(patterns))))
        else:
            conditions += [text.like(p, escape="\\") for p in patterns]
    return or_(*conditions)


def _like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
