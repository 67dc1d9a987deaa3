"""The runtime: a plain typed container of what one process works with.

It is filled in once per process by `bot/bootstrap.py` (the composition root) and handed to
request handlers, the worker and the jobs. It holds the two routing tables the delivery side
consults without knowing the domain: which handler takes which inbound event, and which domain
reaction follows which delivered message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import Database
from bot.models import InboundEvent, OutboundMessage, utcnow
from integrations.ports import FormSource, Mailer, MessengerSender, ProfileLookup

# (session, event, runtime): process one inbound event inside the worker's transaction.
EventHandler = Callable[[Session, InboundEvent, Any], None]
# (session, row, runtime): what follows a delivered message, in the transaction that records it.
AfterSent = Callable[[Session, OutboundMessage, Any], None]


@dataclass
class InboxHandlers:
    """Which function processes which (source, kind); unknown kinds are marked ignored."""

    handlers: dict[tuple[str, str], EventHandler] = field(default_factory=dict)

    def register(self, source: str, kind: str, handler: EventHandler) -> None:
        """Route events of `source`/`kind` to `handler`."""
        self.handlers[(source, kind)] = handler

    def lookup(self, source: str, kind: str) -> EventHandler | None:
        """The handler for an event, or None when it is to be ignored."""
        return self.handlers.get((source, kind))


@dataclass
class Runtime:
    """Everything a worker, job or request handler needs, wired once per process."""

    settings: Settings
    db: Database
    messenger: MessengerSender
    mailer: Mailer
    form_source: FormSource | None = None
    profiles: ProfileLookup | None = None  # the User Profile API, when the transport has one
    now: Callable[[], datetime] = utcnow
    inbox: InboxHandlers = field(default_factory=InboxHandlers)
    after_sent: Mapping[str, AfterSent] = field(default_factory=dict)
