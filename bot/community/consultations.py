"""Anonymous consultation: a member writes; reviewers see the text, never who wrote it.

* Payload `CONSULT` (members only; others are told so) makes the bot wait up to 24 hours for
  the person's next text (conversation state `consultation`, with a `CONSULT_CANCEL` quick
  reply). That text is read before anything else reads text (a `state_handler`: not taken for a
  typed 申込番号, the FAQ or a question) and becomes a `Consultation` — the text and the time
  only — and a `ConsultationLink` (PSID, application) kept apart, both in the event's one
  transaction. Texts within 30 minutes of the last part continue it (people split a message);
  相談を終える ends that. A lapsed wait is said so and the text kept nowhere. The stored webhook
  event keeps a placeholder instead of the text (the console's 受信 page shows events). The
  person asked for this in so many words, so the bot takes and acknowledges it even while a
  person owns the thread (quiet), as it answers menu buttons.
* Reviewers see consultations without identity; the reply goes through the bot by the same
  channels as answers to questions (`questions.deliver_reply`). Only an admin can see who sent
  one (`reveal`), giving a reason, and every such look is written to the audit log (who, when,
  which consultation, why) — the audit entry names the consultation, not the person.
* Retention deletes consultations and their links `[retention] consultation_days` after they
  were sent (jobs/retention.py); erasing a person deletes theirs (bot/onboarding/erasure.py).
* Logs carry ids, never the text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.community import questions
from bot.community.conversation import MemberConversation, payload, state_handler
from bot.config import Settings
from bot.messaging.compose import text_message
from bot.messaging.texts import render
from bot.models import (
    Application,
    AuditEntry,
    Consultation,
    ConsultationLink,
    MessengerIdentity,
    Purpose,
)
from bot.onboarding.lifecycle import audit

log = logging.getLogger(__name__)

STATE = "consultation"  # waiting for the consultation's text
MORE = "consultation_more"  # `consultation_more:<id>`: further texts continue consultation <id>
WAIT = timedelta(hours=24)  # how long 匿名で相談 waits for the text (the Messenger window)
MORE_WINDOW = timedelta(minutes=30)  # how long after its last part a consultation continues
HIDDEN = "（匿名相談のため表示しません）"  # the text as the stored webhook event keeps it
REVEAL_ACTION = "consultation_sender_viewed"
TEXT_MAX = questions.TEXT_MAX
REASON_MAX = 500
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"


# -- Messenger ------------------------------------------------------------------------------------
def _send(conv: MemberConversation, template: str, quick: list[tuple[str, str]]) -> None:
    text = render(
        f"messenger_{template}", conv.settings.app.templates_dir, settings=conv.settings
    ).body.strip()
    conv.send(template, text_message(text, quick))


@payload("CONSULT")
def on_consult(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """匿名で相談: members only; wait for their text."""
    if conv.member_application(identity) is None:
        conv.reply("consult_members_only")
        return
    conv.set_state(identity, STATE)
    _send(conv, "consult_start", [("やめる", "CONSULT_CANCEL")])


@payload("CONSULT_CANCEL")
def on_cancel(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """やめる: stop waiting for a consultation."""
    conv.set_state(identity, "")
    conv.reply("consult_cancelled")


@payload("CONSULT_DONE")
def on_done(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """相談を終える: what follows is no longer part of the consultation."""
    conv.set_state(identity, "")
    conv.reply("consult_done")


@state_handler(STATE)
def on_text(conv: MemberConversation, identity: MessengerIdentity, text: str) -> bool:
    """The text after 匿名で相談 is the consultation, read before anything else reads text.

    A wait that lapsed ([WAIT]) is said so and the text is kept nowhere: it was written as a
    consultation, and must not turn into a question that shows who wrote it.
    """
    conv.hide_text(HIDDEN)
    if not conv.state(identity, WAIT):
        conv.set_state(identity, "")
        conv.reply("consult_expired")
        return True
    app = conv.member_application(identity)
    if app is None:  # no longer a member since they chose it
        conv.set_state(identity, "")
        conv.reply("consult_members_only")
        return True
    consultation = submit(conv.session, psid=conv.psid, application=app, text=text, at=conv.at)
    conv.set_state(identity, f"{MORE}:{consultation.id}")
    log.info("anonymous consultation %s received", consultation.id)
    _send(conv, "consult_received", [("相談を終える", "CONSULT_DONE")])
    return True


@state_handler(MORE)
def on_more(conv: MemberConversation, identity: MessengerIdentity, text: str) -> bool:
    """A text soon after a consultation continues it (people split a message in two).

    Within [MORE_WINDOW] of the last part it is added to the same consultation (a new one when
    that was answered meanwhile or would grow too long); after it, texts are read as usual.
    """
    if not conv.state(identity, MORE_WINDOW):
        conv.set_state(identity, "")
        return False
    conv.hide_text(HIDDEN)
    _, _, argument = identity.conversation_state.partition(":")
    consultation = conv.session.get(Consultation, int(argument)) if argument.isdigit() else None
    link = conv.session.get(ConsultationLink, consultation.id) if consultation else None
    addition = questions.clean_text(text, TEXT_MAX)
    if (
        consultation is None
        or link is None
        or link.psid != conv.psid
        or consultation.status != OPEN
        or len(consultation.text) + len(addition) + 2 > TEXT_MAX
    ):
        app = conv.member_application(identity)
        consultation = submit(conv.session, psid=conv.psid, application=app, text=text, at=conv.at)
    else:
        consultation.text = f"{consultation.text}\n\n{addition}"
    conv.set_state(identity, f"{MORE}:{consultation.id}")
    log.info("anonymous consultation %s: a further part received", consultation.id)
    _send(conv, "consult_added", [("相談を終える", "CONSULT_DONE")])
    return True


def submit(
    session: Session, *, psid: str, application: Application | None, text: str, at: datetime
) -> Consultation:
    """Keep a consultation (the text only) and, apart, who sent it."""
    consultation = Consultation(
        text=questions.clean_text(text, TEXT_MAX),
        submitted_at=at,
        status=OPEN,
        reply="",
        replied_by="",
        reply_channel="",
        posted_by="",
    )
    session.add(consultation)
    session.flush()
    session.add(
        ConsultationLink(
            consultation_id=consultation.id,
            psid=psid,
            application_id=application.id if application is not None else None,
        )
    )
    session.flush()
    return consultation


# -- the secretariat ------------------------------------------------------------------------------
def _link(session: Session, consultation: Consultation) -> ConsultationLink | None:
    return session.get(ConsultationLink, consultation.id)


def reply_channel(
    session: Session, consultation: Consultation, *, settings: Settings, now: datetime
) -> str | None:
    """How a reply would reach the sender now (never who they are)."""
    link = _link(session, consultation)
    if link is None:
        return None
    return questions.reply_channel(
        session, psid=link.psid, application_id=link.application_id, settings=settings, now=now
    )


def answer(
    session: Session,
    consultation: Consultation,
    reply: str,
    *,
    actor: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Send the reply through the bot; returns the channel. ReplyRefused keeps it as a draft."""
    # Locked: of two reviewers replying at once, the second sees the first's answer.
    if questions.lock_row(session, consultation).status == ANSWERED:
        raise questions.ReplyRefused("この相談にはすでに回答しています。")
    consultation.reply = questions.clean_text(reply, questions.REPLY_MAX)
    link = _link(session, consultation)
    if link is None:
        raise questions.ReplyRefused(
            "この相談の送信者の情報は残っていないため、返信できません。返信は下書きとして残しました。"
        )
    letter = questions.ReplyLetter(
        # the time too: SQLite reuses the ids of deleted rows (retention)
        key=f"consultation-reply:{consultation.id}:{int(consultation.submitted_at.timestamp())}",
        purpose=Purpose.CONSULTATION_REPLY,
        messenger_template="messenger_consult_reply",
        email_template="consult_reply_email",
        context={
            "consultation": " ".join(consultation.text.split())[:100],
            "reply": consultation.reply,
        },
    )
    channel = questions.deliver_reply(
        session,
        letter,
        psid=link.psid,
        application_id=link.application_id,
        settings=settings,
        now=now,
    )
    consultation.status, consultation.reply_channel = ANSWERED, channel
    consultation.replied_by, consultation.replied_at = actor, now
    return channel


def mark_posted(consultation: Consultation, *, actor: str, now: datetime) -> bool:
    """「グループに匿名で投稿済み」; False when it already was."""
    if consultation.posted_at is not None:
        return False
    consultation.posted_at, consultation.posted_by = now, actor
    return True


@dataclass(frozen=True)
class Sender:
    """Who sent a consultation, as an admin sees it after giving a reason."""

    psid: str
    application: Application | None
    name: str  # the Messenger profile name, when known


def reveal(
    session: Session, consultation: Consultation, *, actor: str, reason: str, now: datetime
) -> Sender | None:
    """Who sent it (None when that is no longer kept); the look is audited either way.

    The audit entry holds the consultation's id and the reason, not the person: the audit log
    shows that someone looked, and the link stays where only admins see it.
    """
    session.add(
        audit(
            None,
            actor=actor,
            at=now,
            action=REVEAL_ACTION,
            reason=reason,
            detail={"consultation_id": consultation.id},
        )
    )
    link = _link(session, consultation)
    if link is None:
        return None
    app = session.get(Application, link.application_id) if link.application_id else None
    if app is not None and app.erased_at is not None:
        app = None
    identity = session.scalars(
        select(MessengerIdentity).where(MessengerIdentity.psid == link.psid)
    ).first()
    return Sender(link.psid, app, identity.name if identity is not None else "")


def reveal_history(session: Session, consultation_id: int) -> list[AuditEntry]:
    """Every look at this consultation's sender, newest first (admins only see this)."""
    return [
        e
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == REVEAL_ACTION)
            .order_by(AuditEntry.id.desc())
            .limit(500)
        )
        if (e.detail or {}).get("consultation_id") == consultation_id
    ]
