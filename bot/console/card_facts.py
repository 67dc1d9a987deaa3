"""What a queue card and the application page say beyond the form: the latest reviewer notes,
the person's Messenger state and m.me link, and what the last edit of the answers changed.

The queue loads the notes and identities of a whole page in two statements (`card_facts`);
the application page reads the same facts from the application it has already loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.messaging.policy import in_window
from bot.messaging.quiet import in_quiet
from bot.models import AuditEntry, MessengerIdentity, ReviewerNote
from bot.onboarding.notifications import messenger_link
from bot.web import current_runtime

NOTES_ON_CARD = 2


@dataclass(frozen=True)
class MessengerState:
    """Where the person's Messenger thread stands: a key of MESSENGER_STATE_LABELS."""

    key: str  # unlinked | in_window | outside_window | quiet | unreachable
    name: str = ""  # the name Messenger gave, when known
    until: datetime | None = None  # the end of the quiet, or of the 24-hour window


@dataclass(frozen=True)
class CardFacts:
    """The extra facts of one queue card."""

    notes: list[ReviewerNote] = field(default_factory=list)  # newest first
    messenger: MessengerState = MessengerState("unlinked")


def messenger_state(identity: MessengerIdentity | None, now: datetime) -> MessengerState:
    """Linked or not; reachable now (24-hour window), paused because a human answered, or not."""
    if identity is None:
        return MessengerState("unlinked")
    name = identity.name
    if identity.unreachable_at is not None:
        return MessengerState("unreachable", name)
    if in_quiet(identity, now):
        return MessengerState("quiet", name, identity.quiet_until)
    if in_window(identity, now) and identity.last_interaction_at is not None:
        return MessengerState("in_window", name, identity.last_interaction_at)
    return MessengerState("outside_window", name)


def card_facts(session: Session, apps: Sequence[Any], *, now: datetime) -> dict[int, CardFacts]:
    """The notes (newest `NOTES_ON_CARD`) and Messenger state of each application of a page."""
    if not apps:
        return {}
    ids = [app.id for app in apps]
    newest = (
        func.row_number()
        .over(partition_by=ReviewerNote.application_id, order_by=ReviewerNote.id.desc())
        .label("n")
    )
    ranked = select(ReviewerNote.id, newest).where(ReviewerNote.application_id.in_(ids)).subquery()
    notes: dict[int, list[ReviewerNote]] = {}
    for note in session.scalars(
        select(ReviewerNote)
        .join(ranked, ranked.c.id == ReviewerNote.id)
        .where(ranked.c.n <= NOTES_ON_CARD)
        .order_by(ReviewerNote.id.desc())
    ):
        notes.setdefault(note.application_id, []).append(note)
    identity_ids = [app.messenger_identity_id for app in apps if app.messenger_identity_id]
    identities = {
        identity.id: identity
        for identity in (
            session.scalars(select(MessengerIdentity).where(MessengerIdentity.id.in_(identity_ids)))
            if identity_ids
            else ()
        )
    }
    return {
        app.id: CardFacts(
            notes=notes.get(app.id, []),
            messenger=messenger_state(identities.get(app.messenger_identity_id or 0), now),
        )
        for app in apps
    }


def last_edit(history: Sequence[AuditEntry]) -> AuditEntry | None:
    """The newest `answers_updated` entry that changed something."""
    for entry in reversed(history):
        if entry.action == "answers_updated" and (entry.detail or {}).get("changed"):
            return entry
    return None


def _messenger_link(app: Any) -> str:
    return messenger_link(current_runtime().settings, app) if app.link_token else ""


def init_app(app: Flask) -> None:
    """Offer the m.me link, the Messenger state and the last edit to the templates."""
    app.jinja_env.filters["messenger_link"] = _messenger_link
    app.jinja_env.globals["messenger_state"] = messenger_state
    app.jinja_env.globals["last_edit"] = last_edit
