"""What the Page does when a person writes, taps a button or opens an m.me link.

Every interaction opens the 24-hour window: the person's last interaction is recorded and
whatever was waiting for them is released, in order. A referral (`ref` of an m.me link, from
Get Started or from an existing thread) links the person to their application; so does their
申込番号 typed in the chat followed by their registered email address (see typed_codes.py).

Humans own their threads (see quiet.py): an event under `standby[]` gets no automatic message
at all (a referral in it still links, silently), and while a person is in quiet the bot does
not answer free text nor confirm links; what the person explicitly asks the bot for (a menu
button, a typed 申込番号 and its email) is still answered, and invitations still go.

Linking is idempotent whatever the order of events and however many workers: every event of a
person runs under a lock on that person's identity row (created with INSERT … ON CONFLICT DO
NOTHING, then SELECT … FOR UPDATE; SQLite's single write lock does the same), and the
application is locked before it is tied, so one person is linked once, with one "linked"
reply and one audit entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.alerts import raise_alert
from bot.config import Settings
from bot.messaging import quiet
from bot.messaging.compose import text_message
from bot.messaging.outbox import enqueue_messenger, enqueue_profile_lookup, release_waiting
from bot.messaging.texts import render
from bot.models import Application, ApplicationStatus, InboundEvent, MessengerIdentity, Purpose
from bot.onboarding import lifecycle, typed_codes
from bot.onboarding.codes import typed_registration_code
from bot.onboarding.form_mapping import normalise_email
from bot.onboarding.invitations import queue_invitations
from bot.onboarding.orientation import ORIENTATION_KINDS, next_session
from bot.runtime import Runtime

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
ECHO = "echo"


def lock_identity(session: Session, psid: str, now: datetime) -> MessengerIdentity:
    """The person's identity, created on first contact and locked until this transaction ends.

    Two workers handling events of the same person (a referral and a newer text, say) take
    turns here instead of deciding side by side.
    """
    table = cast(Table, MessengerIdentity.__table__)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(table)
        .values(psid=psid, created_at=now)
        .on_conflict_do_nothing(index_elements=["psid"])
    )
    return session.scalars(
        select(MessengerIdentity)
        .where(MessengerIdentity.psid == psid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _locked_application(session: Session, *where: ColumnElement[bool]) -> Application | None:
    """The (not erased) application matching `where`, locked, as committed right now."""
    return session.scalars(
        select(Application)
        .where(*where, Application.erased_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _is_open(app: Application) -> bool:
    return ApplicationStatus(app.status) not in CLOSED


class Conversation:
    """Handle one stored Messenger event inside the worker's transaction."""

    def __init__(
        self,
        session: Session,
        event: InboundEvent,
        *,
        settings: Settings,
        now: datetime,
        profiles: bool,
    ) -> None:
        self.session = session
        self.event = event
        self.settings = settings
        self.profiles = profiles  # whether the Messenger transport has a User Profile API
        self.data: dict[str, Any] = event.payload
        self.psid: str = self.data.get("person_psid") or self.data["sender_psid"]
        self.at: datetime = datetime.fromisoformat(self.data["timestamp"])
        self.now = now
        # Under standby[] another app or a person owns the thread: nothing automatic is sent.
        self.standby = bool(self.data.get("standby"))
        self.quiet = False  # a human owns the thread: no chatty replies (set by `handle`)
        self.person: MessengerIdentity | None = None

    # -- replies --------------------------------------------------------------------------------
    def reply(
        self,
        template: str,
        suffix: str = "",
        quick: bool = True,
        chatty: bool = False,
        **context: Any,
    ) -> None:
        """Queue a Japanese reply (a response inside the window), once per event.

        Nothing goes under standby; a `chatty` reply (to free text, a link confirmation) does
        not go while the person is in quiet either. The automated-assistant disclosure goes
        before the first reply a person ever gets.
        """
        if self.standby or (chatty and self.quiet):
            return
        self.disclose()
        self._queue_reply(template, suffix, quick, **context)

    def disclose(self) -> None:
        """The automated-assistant disclosure, before the first reply a person ever gets."""
        if self.person is not None and self.person.disclosed_at is None:
            self.person.disclosed_at = self.now
            self._queue_reply("disclosure", quick=False)

    def _queue_reply(
        self, template: str, suffix: str = "", quick: bool = True, **context: Any
    ) -> None:
        text = render(
            f"messenger_{template}",
            self.settings.app.templates_dir,
            settings=self.settings,
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
            purpose=Purpose.REPLY,
            response=True,
            now=self.now,
        )

    # -- identity -------------------------------------------------------------------------------
    def identity(self) -> MessengerIdentity:
        """The person's identity (locked), created on first contact; records the interaction."""
        identity = lock_identity(self.session, self.psid, self.now)
        if identity.last_interaction_at is None or identity.last_interaction_at < self.at:
            identity.last_interaction_at = self.at
        identity.unreachable_at = None
        self.person = identity
        return identity

    def application_of(self, identity: MessengerIdentity) -> Application | None:
        """The application this person is linked to."""
        return self.session.scalars(
            select(Application).where(Application.messenger_identity_id == identity.id)
        ).first()

    # -- linking --------------------------------------------------------------------------------
    def link_by_ref(self, identity: MessengerIdentity, token: str) -> None:
        """Tie this person to the application whose m.me link they opened."""
        app = _locked_application(self.session, Application.link_token == token)
        if app is None or not _is_open(app):
            log.info("messenger link with an unknown or closed token")
            self.reply("link_unknown", chatty=True)
            return
        source = self.data.get("referral_source") or ""
        self.link(identity, app, source=source, explicit=False, proof=lifecycle.PROOF_MESSENGER_REF)

    def link(
        self,
        identity: MessengerIdentity,
        app: Application,
        *,
        source: str,
        explicit: bool,
        proof: str,
    ) -> None:
        """Tie this person to `app` (locked, open), one person to one application.

        A second person for an application is refused and reported to the secretariat; a person
        already tied to another open application keeps it. `explicit`: the person asked for it
        in so many words (typed code and email), so the replies go even in quiet. `proof`: how
        the person showed they read the applicant's mailbox (the link token or the typed code
        came from it); recorded when this person is (or already was) the one linked.
        """
        chatty = not explicit
        if app.messenger_identity_id == identity.id:
            self._prove_email(app, proof, source)
            self.reply("link_already", chatty=chatty, app=app)
            return
        if app.messenger_identity_id is not None:
            log.warning("application %s: a second Messenger identity tried its link", app.code)
            lifecycle.audit(
                app,
                actor="messenger",
                at=self.now,
                action="link_refused",
                detail={"reason": "already linked to another identity", "source": source},
            )
            raise_alert(
                self.session,
                kind="link_conflict",
                key=app.code,
                now=self.now,
                message=f"申込番号 {app.code} のメッセンジャー連携が、"
                "別のアカウントから求められました。確認してください。",
                notify=self.settings.mail.secretariat_address,
            )
            self.reply("link_used", chatty=chatty)
            return
        previous = self.application_of(identity)
        if previous is not None:
            if _is_open(previous):
                log.warning(
                    "messenger identity already linked to open application %s", previous.code
                )
                self.reply("link_other_open", chatty=chatty, app=previous)
                return
            previous.messenger_identity_id = None
            self.session.flush()
        app.messenger_identity_id = identity.id
        self._fetch_name(identity, app)
        lifecycle.audit(
            app,
            actor="messenger",
            at=self.now,
            action="messenger_linked",
            detail={"source": source},
        )
        self._prove_email(app, proof, source)
        log.info("application %s linked to its Messenger identity", app.code)
        self.session.flush()
        self.reply(
            "linked",
            chatty=chatty,
            app=app,
            approved=app.status in (ApplicationStatus.APPROVED, ApplicationStatus.INVITED),
        )
        queue_invitations(self.session, app, settings=self.settings, at=self.now)

    def _prove_email(self, app: Application, proof: str, source: str) -> None:
        lifecycle.prove_email(
            app, by=proof, actor="messenger", at=self.now, detail={"source": source}
        )

    def _fetch_name(self, identity: MessengerIdentity, app: Application) -> None:
        """Ask the User Profile API for the person's name (for matching join requests).

        The call is queued, not made here: the worker makes it after this transaction commits.
        """
        if not self.profiles or identity.name:
            return
        enqueue_profile_lookup(
            self.session, psid=identity.psid, application_id=app.id, now=self.now
        )

    # -- linking by a typed 申込番号 ---------------------------------------------------------------
    def on_typed_code(self, identity: MessengerIdentity, code: str) -> None:
        """The person typed a 申込番号: ask for the email address they registered with."""
        linked = self.application_of(identity)
        if linked is not None and _is_open(linked):
            self.reply("link_already" if linked.code == code else "link_other_open", app=linked)
            return
        typed_codes.set_pending(identity, code, self.at)
        self.reply("link_code_email", quick=False, code=code)

    def on_typed_email(self, identity: MessengerIdentity, code: str, email: str) -> None:
        """Link when the code and the email belong to the same open application."""
        settings = self.settings.messenger
        # Locked first: concurrent guesses at one code are counted one after the other.
        app = _locked_application(self.session, Application.code == code)
        refused = typed_codes.limit_reached(
            self.session, psid=self.psid, code=code, now=self.now, settings=settings
        )
        if refused is not None:
            typed_codes.set_pending(identity, None, None)
            self._refuse_guessing(app, code, refused)
            self.reply("link_code_limit", quick=False)
            return
        matched = app is not None and _is_open(app) and normalise_email(app.email) == email
        typed_codes.record_attempt(
            self.session,
            psid=self.psid,
            code=code,
            now=self.now,
            outcome="linked" if matched else "mismatch",
        )
        if not matched or app is None:
            if app is not None:
                lifecycle.audit(
                    app,
                    actor="messenger",
                    at=self.now,
                    action="link_code_mismatch",
                    detail={"source": "typed_code"},
                )
            log.info("typed registration code and email do not match an open application")
            self.reply("link_code_mismatch", quick=False)
            return
        typed_codes.set_pending(identity, None, None)
        self.link(
            identity, app, source="typed_code", explicit=True, proof=lifecycle.PROOF_TYPED_CODE
        )

    def _refuse_guessing(self, app: Application | None, code: str, limit: str) -> None:
        log.warning("typed-code linking refused: %s limit reached", limit)
        if app is None:
            return
        lifecycle.audit(
            app,
            actor="messenger",
            at=self.now,
            action="link_code_refused",
            detail={"limit": limit},
        )
        if limit == "code":
            cap = self.settings.messenger.link_attempts_per_code
            raise_alert(
                self.session,
                kind="link_code_guessing",
                key=code,
                now=self.now,
                message=f"申込番号 {code} について、メッセンジャーでのメールアドレス照合が"
                f"24時間で上限（{cap}回）に達しました。なりすましの可能性があります。",
                notify=self.settings.mail.secretariat_address,
            )

    # -- handlers -------------------------------------------------------------------------------
    def handle(self) -> None:
        """Record the interaction, then route the event."""
        identity = self.identity()
        if self.standby:
            quiet.start_quiet(identity, self.at, self.settings.messenger.human_quiet_hours)
        self.quiet = quiet.in_quiet(identity, self.at)
        ref = self.data.get("ref")
        kind = self.data["kind"]
        if ref and kind in ("postback", "referral"):
            self.link_by_ref(identity, ref)
        elif self.standby:
            pass  # the thread's owner answers; standby postbacks carry no payload anyway
        elif kind == "postback":
            self.route(self.data.get("postback_payload") or "", identity)
        elif kind == "message":
            self.on_message(identity)
        # Everything that waited for the window goes now, in order (after the replies above).
        release_waiting(self.session, self.psid, self.now)

    def on_message(self, identity: MessengerIdentity) -> None:
        """A quick reply, a typed 申込番号 or its email address, or free text."""
        payload = self.data.get("quick_reply_payload")
        if payload and self.route(payload, identity, fallback=False):
            return
        text = self.data.get("text") or ""
        # An address first: "oc-7k3m9q@example.jp" holds a code-shaped part but is an address.
        email = typed_codes.typed_email(text) if text else None
        pending = typed_codes.pending_code(identity, self.at)
        if email is not None and pending is not None:
            self.on_typed_email(identity, pending, email)
            return
        code = typed_registration_code(text) if text and email is None else None
        if code is not None:
            self.on_typed_code(identity, code)
            return
        self.on_free_text(identity, text)

    def route(self, payload: str, identity: MessengerIdentity, *, fallback: bool = True) -> bool:
        """Run the handler of a button's payload; whether one took it.

        An unknown payload (an old button) points to the menu when `fallback`. Subclasses add
        payloads of their own (`bot/community/conversation.py`).
        """
        handler = MENU.get(payload)
        if handler is not None:
            handler(self, identity)
            return True
        if fallback:
            self.on_unknown(identity)
        return False

    def on_free_text(self, identity: MessengerIdentity, text: str) -> None:
        """Free text that is neither a 申込番号 nor its email: point to the menu."""
        self.reply("free_text", chatty=True)

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
            self.now, self.settings.orientation, ORIENTATION_KINDS, tz=self.settings.tz
        )
        self.reply("orientation", session_info=upcoming, tz=self.settings.tz)

    def on_help(self, identity: MessengerIdentity) -> None:
        """ヘルプ: what the bot can do."""
        self.reply("help")

    def on_unknown(self, identity: MessengerIdentity) -> None:
        """A postback the bot does not know (an old button): point to the menu."""
        self.reply("free_text", chatty=True)


MENU: dict[str, Callable[[Conversation, MessengerIdentity], None]] = {
    GET_STARTED: Conversation.on_get_started,
    MENU_STATUS: Conversation.on_status,
    MENU_ORIENTATION: Conversation.on_orientation,
    MENU_HELP: Conversation.on_help,
}


def handle_messenger_event(session: Session, event: InboundEvent, runtime: Runtime) -> None:
    """Inbox handler for Messenger interactions."""
    Conversation(
        session,
        event,
        settings=runtime.settings,
        now=runtime.now(),
        profiles=runtime.profiles is not None,
    ).handle()


def handle_messenger_echo(session: Session, event: InboundEvent, runtime: Runtime) -> None:
    """Inbox handler for message echoes: a person writing from the Page inbox starts quiet.

    This app's own sends echo too and change nothing. An echo is not the person's
    interaction: the 24-hour window stays as it was.
    """
    m = runtime.settings.messenger
    if not quiet.is_human_echo(event.payload, m.app_id):
        return
    psid = event.payload.get("person_psid") or event.payload["recipient_id"]
    identity = lock_identity(session, psid, runtime.now())
    quiet.start_quiet(
        identity, datetime.fromisoformat(event.payload["timestamp"]), m.human_quiet_hours
    )
    log.info("a person answers from the Page inbox: automatic replies paused")


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
