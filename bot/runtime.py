"""Wiring: the settings, database and concrete adapters one process works with."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import Database
from bot.messaging.inbox import InboxHandlers
from bot.models import OutboundMessage, utcnow
from integrations.ports import FormSource, Mailer, MessengerSender

log = logging.getLogger(__name__)
AfterSent = Callable[[Session, OutboundMessage, "Runtime"], None]
LOCAL_OUTBOX_DIR = Path("var/outbox")


@dataclass
class Runtime:
    """Everything a worker, job or request handler needs, wired once per process."""

    settings: Settings
    db: Database
    messenger: MessengerSender
    mailer: Mailer
    form_source: FormSource | None = None
    now: Callable[[], datetime] = utcnow
    inbox: InboxHandlers = field(default_factory=InboxHandlers)
    after_sent: dict[str, AfterSent] = field(default_factory=dict)


def build_messenger(settings: Settings) -> MessengerSender:
    """The Messenger sender named by `[messenger] transport`."""
    if settings.messenger.transport == "graph":
        from integrations.graph import GraphClient

        m = settings.messenger
        return GraphClient(
            m.page_token,
            m.app_secret,
            base_url=m.graph_api_base,
            version=m.graph_api_version,
            timeout=m.timeout_seconds,
        )
    from integrations.local import LocalMessenger

    return LocalMessenger(LOCAL_OUTBOX_DIR / "messenger.jsonl")


def build_mailer(settings: Settings) -> Mailer:
    """The mailer named by `[mail] transport`."""
    if settings.mail.transport == "smtp":
        from integrations.mail import SmtpMailer

        m = settings.mail
        return SmtpMailer(
            m.host,
            m.port,
            m.sender,
            username=m.username or None,
            password=m.password or None,
            security=m.security,  # type: ignore[arg-type]
            timeout=m.timeout_seconds,
        )
    from integrations.local import LocalMailer

    return LocalMailer(LOCAL_OUTBOX_DIR / "mail.jsonl")


def build_form_source(settings: Settings) -> FormSource:
    """The form source named by `[forms] source`."""
    if settings.forms.source == "sheets":
        from integrations.sheets import SheetsFormSource

        g = settings.google
        info: dict[str, Any] | None = (
            json.loads(g.service_account_json) if g.service_account_json else None
        )
        return SheetsFormSource(
            settings.forms.spreadsheet_id,
            settings.forms.worksheet or None,
            credentials_info=info,
            credentials_file=g.service_account_file or None,
            timeout=g.timeout_seconds,
            api_base=g.api_base,
        )
    from integrations.csv_source import CsvFormSource

    return CsvFormSource(settings.forms.csv_path, timezone=settings.app.timezone)


def start_up(runtime: Runtime) -> None:
    """What every process does once at start: create configured groups, place held invitations.

    Run by `cityhall db upgrade` (the release step), the web app factory, the worker and the
    clock; idempotent, and safe when several processes start at once.
    """
    from bot.onboarding.groups import start_up as groups_start_up

    with runtime.db.transaction() as session:
        created, placed = groups_start_up(session, runtime.settings, runtime.now())
    if created or placed:
        log.info(
            "start-up: %s configured group(s) created, %s held invitation(s) placed",
            created,
            placed,
        )


def build_runtime(
    settings: Settings,
    *,
    db: Database | None = None,
    messenger: MessengerSender | None = None,
    mailer: Mailer | None = None,
    form_source: FormSource | None = None,
) -> Runtime:
    """Wire concrete adapters from settings unless given (tests pass recording fakes)."""
    from bot.wiring import register_domain

    runtime = Runtime(
        settings=settings,
        db=db or Database(settings.app.database_url),
        messenger=messenger or build_messenger(settings),
        mailer=mailer or build_mailer(settings),
        form_source=form_source or build_form_source(settings),
    )
    register_domain(runtime)
    return runtime
