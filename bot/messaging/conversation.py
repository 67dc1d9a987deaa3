"""What the Page does when a person writes, taps a button or opens an m.me link.

Every interaction opens the 24-hour window: the person's last interaction is recorded and
whatever was waiting for them is released, in order. A referral (`ref` of an m.me link, from
Get Started or from an existing thread) links the person to their application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import raise_alert
from bot.messaging.compose import text_message
from bot.messaging.outbox import enqueue_messenger, release_waiting
from bot.messaging.texts import render
from bot.models import Application, ApplicationStatus, InboundEvent, MessengerIdentity
from bot.onboarding import lifecycle
from bot.onboarding.invitations import queue_invitations
from bot.onboarding.orientation import ORIENTATION_KINDS, next_session
from bot.runtime import Runtime
from integrations.ports import DeliveryError

log = logging.getLogger(__name__)
GET_STARTED = "GET_STARTED"
MENU_STATUS = "MENU_STATUS"
MENU_ORIENTATION = "MENU_ORIENTATION"
MENU_HELP = "MENU_HELP"
CLOSED = {
    ApplicationStatus.REJECTED,
    ApplicationStatus.WITHDRAWN,
    ApplicationStatus.EXPIRED,
    ApplicationStatus.DUPLICATE,
}
INTERACTIONS = ("message", "postback", "referral")


class Conversation:
    """Handle one stored Messenger event inside the worker's transaction."""

    def __init__(self, session: Session, event: InboundEvent, runtime: Runtime) -> None:
        self.session = session
        self.event = event
        self.rt = runtime
        self.data: dict[str, Any] = event.payload
        self.psid: str = self.data.get("person_psid") or self.data["sender_psid"]
        self.at: datetime = datetime.fromisoformat(self.data["timestamp"])
        self.now = runtime.now()

    # -- replies --------------------------------------------------------------------------------
    def reply(self, template: str, suffix: str = "", quick: bool = True, **context: Any) -> None:
        """Queue a Japanese reply (a response inside the window), once per event."""
        text = render(
            f"messenger_{template}",
            self.rt.settings.app.templates_dir,
            settings=self.rt.settings,
            **context,
        ).body.strip()
        quick_replies = (
            [("申込状況", MENU_STATUS), ("説明会", MENU_ORIENTATION), ("ヘルプ", MENU_HELP)]
            if quick
            else None
        )
        enqueue_messenger(
            self.session,
            key=f"reply:{self.event.event_key}:{template}{suffix}",
            psid=self.psid,
            message=text_message(text, quick_replies),
            purpose="reply",
            response=True,
            now=self.now,
        )

    # -- identity -------------------------------------------------------------------------------
    def identity(self) -> MessengerIdentity:
        """The person's identity, created on first contact; records the interaction."""
        identity = self.session.scalars(
            select(MessengerIdentity).where(MessengerIdentity.psid == self.psid)
        ).first()
        if identity is None:
            identity = MessengerIdentity(psid=self.psid, created_at=self.now)
            self.session.add(identity)
            self.session.flush()
        if identity.last_interaction_at is None or identity.last_interaction_at < self.at:
            identity.last_interaction_at = self.at
        identity.unreachable_at = None
        return identity

    def disclose_once(self, identity: MessengerIdentity) -> None:
        """The automated-assistant disclosure, on first contact."""
        if identity.disclosed_at is None:
            identity.disclosed_at = self.now
            self.reply("disclosure", quick=False)

    def application_of(self, identity: MessengerIdentity) -> Application | None:
        """The application this person is linked to."""
        return self.session.scalars(
            select(Application).where(Application.messenger_identity_id == identity.id)
        ).first()

    # -- linking --------------------------------------------------------------------------------
    def link(self, identity: MessengerIdentity, token: str) -> None:
        """Tie this person to the application whose m.me link they opened."""
        app = self.session.scalars(
            select(Application).where(
                Application.link_token == token, Application.erased_at.is_(None)
            )
        ).first()
        if app is None or ApplicationStatus(app.status) in CLOSED:
            log.info("messenger link with an unknown or closed token")
            self.reply("link_unknown")
            return
        if app.messenger_identity_id == identity.id:
            self.reply("link_already", app=app)
            return
        if app.messenger_identity_id is not None:
            log.warning("application %s: a second Messenger identity tried its link", app.code)
            lifecycle.audit(
                app,
                actor="messenger",
                at=self.now,
                action="link_refused",
                detail={"reason": "already linked to another identity"},
            )
            raise_alert(
                self.session,
                kind="link_conflict",
                key=app.code,
                now=self.now,
                message=f"申込番号 {app.code} のメッセンジャー連携リンクが、"
                "別のアカウントから開かれました。確認してください。",
                notify=self.rt.settings.mail.secretariat_address,
            )
            self.reply("link_used")
            return
        previous = self.application_of(identity)
        if previous is not None:
            if ApplicationStatus(previous.status) not in CLOSED:
                log.warning(
                    "messenger identity already linked to open application %s", previous.code
                )
                self.reply("link_other_open", app=previous)
                return
            previous.messenger_identity_id = None
            self.session.flush()
        app.messenger_identity_id = identity.id
        self._fetch_name(identity)
        lifecycle.audit(
            app,
            actor="messenger",
            at=self.now,
            action="messenger_linked",
            detail={"source": self.data.get("referral_source") or ""},
        )
        log.info("application %s linked to its Messenger identity", app.code)
        self.session.flush()
        self.reply(
            "linked",
            app=app,
            approved=app.status in (ApplicationStatus.APPROVED, ApplicationStatus.INVITED),
        )
        queue_invitations(self.session, app, settings=self.rt.settings, at=self.now)

    def _fetch_name(self, identity: MessengerIdentity) -> None:
        """Ask the User Profile API for the person's name (for matching join requests)."""
        fetch = getattr(self.rt.messenger, "user_profile", None)
        if fetch is None or identity.name:
            return
        try:
            profile = fetch(identity.psid)
        except DeliveryError as exc:
            log.warning("user profile not available (%s)", exc.kind)
            return
        identity.name = profile.name or ""
        identity.first_name = profile.first_name or ""
        identity.last_name = profile.last_name or ""

    # -- handlers -------------------------------------------------------------------------------
    def handle(self) -> None:
        """Record the interaction, then route the event."""
        identity = self.identity()
        self.disclose_once(identity)
        ref = self.data.get("ref")
        kind = self.data["kind"]
        if ref and kind in ("postback", "referral"):
            self.link(identity, ref)
        elif kind == "postback":
            handler = MENU.get(self.data.get("postback_payload") or "", Conversation.on_unknown)
            handler(self, identity)
        elif kind == "message":
            payload = self.data.get("quick_reply_payload")
            if payload in MENU:
                MENU[payload](self, identity)
            else:
                self.reply("free_text")
        # Everything that waited for the window goes now, in order (after the replies above).
        release_waiting(self.session, self.psid, self.now)

    def on_get_started(self, identity: MessengerIdentity) -> None:
        """Get Started without a referral: explain how to link."""
        if self.application_of(identity) is None:
            self.reply("get_started")
        else:
            self.on_status(identity)

    def on_status(self, identity: MessengerIdentity) -> None:
        """申込状況: where the linked application stands."""
        app = self.application_of(identity)
        self.reply("status", app=app)

    def on_orientation(self, identity: MessengerIdentity) -> None:
        """説明会: the next orientation session."""
        upcoming = next_session(
            self.now, self.rt.settings.orientation, ORIENTATION_KINDS, tz=self.rt.settings.tz
        )
        self.reply("orientation", session_info=upcoming, tz=self.rt.settings.tz)

    def on_help(self, identity: MessengerIdentity) -> None:
        """ヘルプ: what the bot can do."""
        self.reply("help")

    def on_unknown(self, identity: MessengerIdentity) -> None:
        """A postback the bot does not know (an old button): point to the menu."""
        self.reply("free_text")


MENU: dict[str, Callable[[Conversation, MessengerIdentity], None]] = {
    GET_STARTED: Conversation.on_get_started,
    MENU_STATUS: Conversation.on_status,
    MENU_ORIENTATION: Conversation.on_orientation,
    MENU_HELP: Conversation.on_help,
}


def handle_messenger_event(session: Session, event: InboundEvent, runtime: Runtime) -> None:
    """Inbox handler for Messenger interactions."""
    Conversation(session, event, runtime).handle()


def persistent_menu() -> list[dict[str, Any]]:
    """The Page's persistent menu (Messenger Profile API)."""
    items = [
        ("申込状況を確認", MENU_STATUS),
        ("説明会の日程", MENU_ORIENTATION),
        ("使い方・ヘルプ", MENU_HELP),
    ]
    return [
        {
            "locale": "default",
            "composer_input_disabled": False,
            "call_to_actions": [{"type": "postback", "title": t, "payload": p} for t, p in items],
        }
    ]


def greeting() -> list[dict[str, str]]:
    """The greeting shown before a person starts the conversation."""
    text = render("messenger_greeting").body.strip()
    return [{"locale": "default", "text": text}]
