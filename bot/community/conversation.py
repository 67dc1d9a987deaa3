"""The member side of the Messenger conversation: 課, events, questions, consultation.

`MemberConversation` extends the onboarding conversation (linking, status, help) with the
payloads of the community's features and with what happens to text. A text the bot asked for
(the person's `conversation_state`, e.g. an anonymous consultation) goes to that state's handler
before anything else reads it; other free text, once onboarding has ruled out a typed 申込番号
and its address, is small talk, an FAQ question, or a question kept for the secretariat. Each
feature module registers its handlers when imported (see `_FEATURES`): payloads (`NAME` or
`NAME:argument`, e.g. `EVENT_GO:12`) in `PAYLOADS`, free-text handlers in `TEXT_HANDLERS`,
state handlers in `STATE_HANDLERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.messaging.outbox import enqueue_messenger
from bot.models import Application, ApplicationStatus, InboundEvent, MessengerIdentity, Purpose
from bot.onboarding import conversation as onboarding
from bot.onboarding import orientation
from bot.runtime import Runtime

# A payload handler: (conversation, identity, argument after the first ":" or "").
Handler = Callable[["MemberConversation", MessengerIdentity, str], None]
# Free-text handlers, tried in order; each returns whether it took the text.
TextHandler = Callable[["MemberConversation", MessengerIdentity, str], bool]

PAYLOADS: dict[str, Handler] = {}
TEXT_HANDLERS: list[tuple[int, TextHandler]] = []
# Texts the bot asked for: the handler of a conversation state (`name` or `name:argument`) sees
# the person's next text before anything else reads it (a typed 申込番号, the FAQ, questions).
STATE_HANDLERS: dict[str, TextHandler] = {}
# Extra context for the 説明会 reply, given the next session (e.g. the 課 of a 大説明会).
OrientationContext = Callable[["MemberConversation", orientation.Session | None], dict[str, Any]]
ORIENTATION_CONTEXT: list[OrientationContext] = []
# The feature modules; importing one registers its payloads and text handlers.
_FEATURES = (
    "bot.community.sections",
    "bot.community.events",
    "bot.community.questions",
    "bot.community.consultations",
)
STATE_LIFETIME = timedelta(hours=1)  # how long the bot waits for the text it asked for
MEMBER_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.INVITED)


def payload(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for the payload `name` (and `name:argument`)."""

    def register(handler: Handler) -> Handler:
        PAYLOADS[name] = handler
        return handler

    return register


def text_handler(order: int) -> Callable[[TextHandler], TextHandler]:
    """Register a free-text handler; lower `order` is tried first."""

    def register(handler: TextHandler) -> TextHandler:
        TEXT_HANDLERS.append((order, handler))
        TEXT_HANDLERS.sort(key=lambda item: item[0])
        return handler

    return register


def state_handler(name: str) -> Callable[[TextHandler], TextHandler]:
    """Register the handler of texts sent while the conversation state is `name`."""

    def register(handler: TextHandler) -> TextHandler:
        STATE_HANDLERS[name] = handler
        return handler

    return register


def load_features() -> None:
    """Import every feature module (idempotent)."""
    for name in _FEATURES:
        importlib.import_module(name)


class MemberConversation(onboarding.Conversation):
    """The onboarding conversation plus the community's features."""

    def route(self, payload: str, identity: MessengerIdentity, *, fallback: bool = True) -> bool:
        name, _, argument = payload.partition(":")
        handler = PAYLOADS.get(name)
        if handler is not None:
            handler(self, identity, argument)
            return True
        return super().route(payload, identity, fallback=fallback)

    def on_message(self, identity: MessengerIdentity) -> None:
        """A text the bot asked for goes to its state's handler first (not a button's answer)."""
        text = self.data.get("text") or ""
        if text.strip() and not self.data.get("quick_reply_payload"):
            handler = STATE_HANDLERS.get(identity.conversation_state.partition(":")[0])
            if handler is not None and handler(self, identity, text):
                return
        super().on_message(identity)

    def on_free_text(self, identity: MessengerIdentity, text: str) -> None:
        for _, handler in TEXT_HANDLERS:
            if handler(self, identity, text):
                return
        super().on_free_text(identity, text)

    def on_orientation(self, identity: MessengerIdentity) -> None:
        """説明会: the next session, with what the features add (see ORIENTATION_CONTEXT)."""
        upcoming = orientation.next_session(
            self.now, self.settings.orientation, orientation.ORIENTATION_KINDS, tz=self.settings.tz
        )
        extra: dict[str, Any] = {}
        for provide in ORIENTATION_CONTEXT:
            extra.update(provide(self, upcoming))
        self.reply("orientation", session_info=upcoming, tz=self.settings.tz, **extra)

    # -- shared by the features -----------------------------------------------------------------
    def member_application(self, identity: MessengerIdentity) -> Application | None:
        """The person's application when they are a member (approved or invited), else None."""
        app = self.application_of(identity)
        if app is None or app.erased_at is not None or app.status not in MEMBER_STATUSES:
            return None
        return app

    def set_state(self, identity: MessengerIdentity, state: str) -> None:
        """Wait for the person's next text for `state` ("" to stop waiting)."""
        identity.conversation_state = state
        identity.conversation_state_at = self.at if state else None

    def state(self, identity: MessengerIdentity, lifetime: timedelta = STATE_LIFETIME) -> str:
        """What the bot waits for from this person, if it still does (within `lifetime`)."""
        at = identity.conversation_state_at
        if not identity.conversation_state or at is None or self.at - at > lifetime:
            return ""
        return identity.conversation_state

    def hide_text(self, placeholder: str) -> None:
        """Keep this event's text out of the stored webhook event (the console's 受信 page)."""
        data = dict(self.event.payload)
        data["text"] = placeholder
        raw = data.get("raw")
        if isinstance(raw, dict) and isinstance(raw.get("message"), dict):
            data["raw"] = {**raw, "message": {**raw["message"], "text": placeholder}}
        self.event.payload = data

    def send(
        self,
        template: str,
        message: dict[str, Any],
        *,
        suffix: str = "",
        chatty: bool = False,
    ) -> None:
        """Queue a ready-made message (a template or buttons) as this event's reply."""
        if self.standby or (chatty and self.quiet):
            return
        self.disclose()
        enqueue_messenger(
            self.session,
            key=f"reply:{self.event.event_key}:{template}{suffix}",
            psid=self.psid,
            message=message,
            purpose=Purpose.REPLY,
            response=True,
            now=self.now,
        )


def handle_messenger_event(session: Session, event: InboundEvent, runtime: Runtime) -> None:
    """Inbox handler for Messenger interactions (members and applicants alike)."""
    load_features()
    MemberConversation(
        session,
        event,
        settings=runtime.settings,
        now=runtime.now(),
        profiles=runtime.profiles is not None,
    ).handle()


def persistent_menu() -> list[dict[str, Any]]:
    """The Page's persistent menu: onboarding's items and the community's (≤ 20 buttons)."""
    items = [
        ("申込状況を確認", onboarding.MENU_STATUS),
        ("説明会・イベント", "EVENTS"),
        ("課をさがす", "SECTIONS"),
        ("よくある質問", "FAQ"),
        ("匿名で相談", "CONSULT"),
        ("使い方・ヘルプ", onboarding.MENU_HELP),
    ]
    return [
        {
            "locale": "default",
            "composer_input_disabled": False,
            "call_to_actions": [{"type": "postback", "title": t, "payload": p} for t, p in items],
        }
    ]
