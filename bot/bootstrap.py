"""The composition root: the one place where concrete adapters and domain reactions are wired.

As in cosmicpython's `bootstrap.py`: every process (web, worker, clock, CLI, demo) builds its
`Runtime` here. The adapters named by the settings are built unless a test passes its own
fakes; the inbox table routes each inbound event kind to its handler and the after-send table
(`bot/onboarding/reactions.py`) says which domain reaction follows which delivered message.
Nothing below this module imports it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.community import conversation as member_conversation
from bot.community import sections
from bot.config import Settings
from bot.db import Database
from bot.messaging import utility
from bot.messaging.events import EventKind
from bot.models import OutboundMessage, Purpose
from bot.onboarding import conversation
from bot.onboarding.groups import apply_configured_groups
from bot.onboarding.invitations import place_held
from bot.onboarding.reactions import AFTER_SENT
from bot.runtime import AfterSent, InboxHandlers, Runtime
from integrations.csv_source import CsvFormSource
from integrations.graph import GraphClient
from integrations.local import LocalMailer, LocalMessenger
from integrations.mail import SmtpMailer
from integrations.ports import FormSource, Mailer, MessengerSender, ProfileLookup
from integrations.sheets import SheetsFormSource

log = logging.getLogger(__name__)
LOCAL_OUTBOX_DIR = Path("var/outbox")


def build_messenger(settings: Settings) -> MessengerSender:
    """The Messenger sender named by `[messenger] transport`."""
    if settings.messenger.transport == "graph":
        m = settings.messenger
        return GraphClient(
            m.page_token,
            m.app_secret,
            base_url=m.graph_api_base,
            version=m.graph_api_version,
            timeout=m.timeout_seconds,
        )
    return LocalMessenger(LOCAL_OUTBOX_DIR / "messenger.jsonl")


def build_mailer(settings: Settings) -> Mailer:
    """The mailer named by `[mail] transport`."""
    if settings.mail.transport == "smtp":
        m = settings.mail
        return SmtpMailer(
            m.host,
            m.port,
            m.sender,
            username=m.username or None,
            password=m.password or None,
            security=m.security,  # type: ignore[arg-type]
            timeout=m.timeout_seconds,
            reply_to=m.reply_to,
        )
    return LocalMailer(LOCAL_OUTBOX_DIR / "mail.jsonl")


def build_form_source(settings: Settings) -> FormSource:
    """The form source named by `[forms] source`."""
    if settings.forms.source == "sheets":
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
    return CsvFormSource(settings.forms.csv_path, timezone=settings.app.timezone)


def inbox_handlers() -> InboxHandlers:
    """Which handler takes which inbound event: the Messenger conversation, template statuses."""
    handlers = InboxHandlers()
    for kind in conversation.INTERACTIONS:
        handlers.register("messenger", kind, member_conversation.handle_messenger_event)
    handlers.register("messenger", conversation.ECHO, conversation.handle_messenger_echo)
    handlers.register("messenger", str(EventKind.TEMPLATE_STATUS), utility.handle_template_status)
    return handlers


def _after_invitation_sent(session: Session, row: OutboundMessage, runtime: Any) -> None:
    """Onboarding's reaction (the last invitation → `invited`), then the 課 suggestion."""
    AFTER_SENT[Purpose.INVITATION](session, row, runtime)
    sections.after_invitation_sent(session, row, runtime)


def after_sent_table() -> dict[str, AfterSent]:
    """The after-send table: onboarding's reactions, with the community's composed in."""
    return {**AFTER_SENT, Purpose.INVITATION: _after_invitation_sent}


def build_runtime(
    settings: Settings,
    *,
    db: Database | None = None,
    messenger: MessengerSender | None = None,
    mailer: Mailer | None = None,
    form_source: FormSource | None = None,
) -> Runtime:
    """Wire concrete adapters from settings unless given (tests pass recording fakes)."""
    messenger = messenger or build_messenger(settings)
    return Runtime(
        settings=settings,
        db=db or Database(settings.app.database_url),
        messenger=messenger,
        profiles=messenger if isinstance(messenger, ProfileLookup) else None,
        mailer=mailer or build_mailer(settings),
        form_source=form_source or build_form_source(settings),
        inbox=inbox_handlers(),
        after_sent=after_sent_table(),
    )


def start_up(runtime: Runtime) -> None:
    """What every process does once at start: create configured groups, place held invitations.

    Run by `cityhall db upgrade` (the release step), the web app factory, the worker and the
    clock; idempotent, and safe when several processes start at once.
    """
    with runtime.db.transaction() as session:
        created = apply_configured_groups(session, runtime.settings.groups, runtime.now())
        placed = place_held(session, settings=runtime.settings, at=runtime.now())
    if created or placed:
        log.info(
            "start-up: %s configured group(s) created, %s held invitation(s) placed",
            created,
            placed,
        )
