"""Questions answered: the FAQ as data, free text matched against it, the secretariat's inbox.

* **FAQ** (`FaqEntry`): seeded from `data/faq.toml` by `cityhall faq import FILE` (upsert by
  question: an entry with the same question is updated, else added; a bad entry is reported
  and the others still go in), edited in the console.
* **Messenger**: payload `FAQ` lists the first questions as quick replies (`FAQ_ITEM:<id>`),
  which answer. Free text (`text_handler(50)`, after the features waiting for a text): thanks
  and greetings get a short reply and nothing is kept; a text the FAQ answers gets the answer;
  anything else becomes a `MemberQuestion` for the secretariat, and the person is told so.
  While a human owns the thread (standby, quiet) the bot neither answers nor keeps the text:
  the person writing from the Page inbox sees it there.
* **Replies** (`deliver_reply`, shared with anonymous consultations): inside the 24-hour window
  as a Messenger RESPONSE; else, within 7 days and only with `[messenger] human_agent_enabled`,
  with the HUMAN_AGENT tag; else by email to the linked application's address. When none is
  possible the reply is refused (and the console keeps it as a draft).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.community.conversation import MemberConversation, payload, text_handler
from bot.community.faq_match import FaqCandidate, best_match, is_small_talk, keywords_of
from bot.config import Settings
from bot.messaging import outbox, policy
from bot.messaging.compose import text_message
from bot.messaging.texts import render
from bot.models import (
    Application,
    Consultation,
    FaqEntry,
    MemberQuestion,
    MessengerIdentity,
    Purpose,
)
from bot.onboarding.lifecycle import audit

log = logging.getLogger(__name__)
_Row = TypeVar("_Row", MemberQuestion, Consultation)

QUESTION_MAX = 300  # faq_entries.question
ANSWER_MAX = 1500  # an answer and its heading stay within one Messenger text (2,000)
KEYWORDS_MAX = 2000
REPLY_MAX = 1500  # the secretariat's reply, likewise
TEXT_MAX = 2000  # a member's question as kept (Messenger's own limit on a text)
FAQ_LIST_MAX = 12  # quick replies (Meta: at most 13), one left for the secretariat
QUICK_TITLE_MAX = 20
LIST_QUESTION_MAX = 60  # a question as listed in the FAQ message
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
RESPONSE, HUMAN_AGENT, EMAIL = "response", "human_agent", "email"
_ADDRESS_ONLY = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_ROW_ID = re.compile(r"[0-9]{1,9}")


# -- the FAQ as data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaqSeed:
    """One FAQ entry read from a file (or a console form)."""

    question: str
    answer: str
    keywords: tuple[str, ...] = ()
    position: int = 0
    active: bool = True


@dataclass
class ImportReport:
    """What a FAQ import did; `problems` names each refused entry and why (English)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def clean_text(text: str, limit: int) -> str:
    """Text as it can be kept on every engine: no NUL, at most `limit` characters."""
    text = text.replace("\x00", "\ufffd").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entry_problems(question: str, answer: str, keywords: str) -> list[str]:
    """Japanese problems of an entry as typed in the console (empty: it can be saved)."""
    problems = []
    if not question.strip():
        problems.append("質問を入力してください。")
    elif len(question.strip()) > QUESTION_MAX:
        problems.append(f"質問は{QUESTION_MAX}文字以内にしてください。")
    if not answer.strip():
        problems.append("回答を入力してください。")
    elif len(answer.strip()) > ANSWER_MAX:
        problems.append(f"回答は{ANSWER_MAX}文字以内にしてください（メッセンジャーの上限）。")
    if len(keywords) > KEYWORDS_MAX:
        problems.append(f"キーワードは合わせて{KEYWORDS_MAX}文字以内にしてください。")
    if any("\x00" in v for v in (question, answer, keywords)):
        problems.append("保存できない文字（NUL）が含まれています。")
    return problems


def parse_faq_file(text: str) -> tuple[list[FaqSeed], list[str]]:
    """The `[[faq]]` entries of a TOML document, and a problem line per refused entry."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [f"not valid TOML: {exc}"]
    raw = document.get("faq", [])
    if not isinstance(raw, list):
        return [], ["expected [[faq]] tables"]
    seeds: list[FaqSeed] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        seed, problem = _seed_of(item)
        if seed is not None and seed.question in seen:
            seed, problem = None, "the same question appears twice in the file"
        if seed is None:
            problems.append(f"entry {number}: {problem}")
            continue
        seen.add(seed.question)
        seeds.append(seed)
    return seeds, problems


def _seed_of(item: Any) -> tuple[FaqSeed | None, str]:
    if not isinstance(item, dict):
        return None, "not a table"
    unknown = set(item) - {"question", "answer", "keywords", "position", "active"}
    if unknown:
        return None, f"unknown key(s): {', '.join(sorted(unknown))}"
    question, answer = item.get("question"), item.get("answer")
    keywords, position = item.get("keywords", []), item.get("position", 0)
    active = item.get("active", True)
    if not isinstance(question, str) or not question.strip():
        return None, "question: required text"
    if not isinstance(answer, str) or not answer.strip():
        return None, "answer: required text"
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        return None, "keywords: expected a list of strings"
    if not isinstance(position, int) or isinstance(position, bool):
        return None, "position: expected an integer"
    if not isinstance(active, bool):
        return None, "active: expected true or false"
    if len(question.strip()) > QUESTION_MAX:
        return None, f"question: longer than {QUESTION_MAX} characters"
    if len(answer.strip()) > ANSWER_MAX:
        return None, f"answer: longer than {ANSWER_MAX} characters"
    if "\x00" in question + answer + "".join(keywords):
        return None, "contains a NUL character"
    words = tuple(k.strip() for k in keywords if k.strip() and "\n" not in k)
    if len("\n".join(words)) > KEYWORDS_MAX:
        return None, f"keywords: longer than {KEYWORDS_MAX} characters in all"
    return FaqSeed(question.strip(), answer.strip(), words, position, active), ""


def import_faq(
    session: Session, seeds: Sequence[FaqSeed], *, actor: str, now: datetime
) -> ImportReport:
    """Upsert entries by question (idempotent: a second import changes nothing); audited."""
    report = ImportReport()
    existing = {e.question.strip(): e for e in session.scalars(select(FaqEntry))}
    for seed in seeds:
        values = {
            "answer": seed.answer,
            "keywords": "\n".join(seed.keywords),
            "position": seed.position,
            "active": seed.active,
        }
        entry = existing.get(seed.question)
        if entry is None:
            entry = FaqEntry(question=seed.question, created_at=now, updated_at=now, **values)
            session.add(entry)
            existing[seed.question] = entry
            report.created += 1
        elif any(getattr(entry, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(entry, key, value)
            entry.updated_at = now
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    if report.created or report.updated:
        session.add(
            audit(
                None,
                actor=actor,
                at=now,
                action="faq_imported",
                detail={"created": report.created, "updated": report.updated},
            )
        )
    return report


def active_entries(session: Session) -> list[FaqEntry]:
    """The entries the bot answers from, in the order the FAQ lists them."""
    return list(
        session.scalars(
            select(FaqEntry)
            .where(FaqEntry.active.is_(True))
            .order_by(FaqEntry.position, FaqEntry.id)
        )
    )


def match_entry(session: Session, text: str) -> FaqEntry | None:
    """The active entry `text` asks about, if the matcher is sure enough."""
    entries = active_entries(session)
    candidates = [
        FaqCandidate(e.id, e.question, keywords_of(e.keywords), e.answer, e.position)
        for e in entries
    ]
    found = best_match(text, candidates)
    if found is None:
        return None
    return next(e for e in entries if e.id == found.id)


# -- Messenger ------------------------------------------------------------------------------------
def _render(conv: MemberConversation, template: str, **context: Any) -> str:
    settings = conv.settings
    return render(
        f"messenger_{template}", settings.app.templates_dir, settings=settings, **context
    ).body.strip()


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@payload("FAQ")
def on_faq(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """よくある質問: the first questions, each a quick reply that answers it."""
    entries = active_entries(conv.session)[:FAQ_LIST_MAX]
    if not entries:
        conv.reply("faq_empty")
        return
    items = [(n, _short(e.question, LIST_QUESTION_MAX)) for n, e in enumerate(entries, start=1)]
    quick = [
        (_short(f"{n}. {e.question}", QUICK_TITLE_MAX), f"FAQ_ITEM:{e.id}")
        for n, e in enumerate(entries, start=1)
    ]
    conv.send("faq_list", text_message(_render(conv, "faq_list", items=items), quick))


@payload("FAQ_ITEM")
def on_faq_item(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """One FAQ entry chosen from the list: its answer."""
    entry = conv.session.get(FaqEntry, int(argument)) if _ROW_ID.fullmatch(argument) else None
    if entry is None or not entry.active:
        conv.reply("faq_gone")
        return
    _send_answer(conv, entry, chatty=False)


def _send_answer(conv: MemberConversation, entry: FaqEntry, *, chatty: bool) -> None:
    text = _render(conv, "faq_answer", entry=entry)
    conv.send(
        "faq_answer",
        text_message(_short_message(text), [("ほかの質問", "FAQ")]),
        suffix=f":{entry.id}",
        chatty=chatty,
    )


def _short_message(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


@text_handler(50)
def on_text(conv: MemberConversation, identity: MessengerIdentity, text: str) -> bool:
    """Free text: small talk, an FAQ answer, or a question kept for the secretariat."""
    if not text.strip():
        return False  # a sticker or an attachment: onboarding's pointer to the menu
    if conv.standby or conv.quiet:
        return True  # a person answers in the Page inbox: nothing automatic, nothing kept
    if _ADDRESS_ONLY.fullmatch(text.strip()):
        return False  # an address alone (a lapsed typed-code link): onboarding says how to link
    if is_small_talk(text):
        conv.reply("faq_thanks", chatty=True)
        return True
    entry = match_entry(conv.session, text)
    if entry is not None:
        log.info("free text answered by FAQ entry %s", entry.id)
        _send_answer(conv, entry, chatty=True)
        return True
    question = record_question(
        conv.session,
        psid=conv.psid,
        application=conv.application_of(identity),
        text=text,
        at=conv.at,
    )
    log.info("member question %s kept for the secretariat", question.id)
    conv.reply("question_received", chatty=True)
    return True


def record_question(
    session: Session, *, psid: str, application: Application | None, text: str, at: datetime
) -> MemberQuestion:
    """Keep a question for the inbox (once: the same person, instant and text is one question)."""
    kept = clean_text(text, TEXT_MAX)
    existing = session.scalars(
        select(MemberQuestion).where(
            MemberQuestion.psid == psid, MemberQuestion.asked_at == at, MemberQuestion.text == kept
        )
    ).first()
    if existing is not None:
        return existing
    question = MemberQuestion(
        psid=psid,
        application_id=application.id if application is not None else None,
        text=kept,
        asked_at=at,
        status=OPEN,
        reply="",
        replied_by="",
        reply_channel="",
    )
    session.add(question)
    session.flush()
    return question


# -- replies from the secretariat -----------------------------------------------------------------
class ReplyRefused(Exception):
    """No way to reach the person now (Japanese message for the console)."""


def reply_channel(
    session: Session,
    *,
    psid: str,
    application_id: int | None,
    settings: Settings,
    now: datetime,
) -> str | None:
    """How a reply to this person would go now: response, human_agent, email, or None."""
    identity = session.scalars(
        select(MessengerIdentity).where(MessengerIdentity.psid == psid)
    ).first()
    reachable = identity is not None and identity.unreachable_at is None
    if reachable and policy.in_window(identity, now):
        return RESPONSE
    if (
        reachable
        and settings.messenger.human_agent_enabled
        and policy.in_window(identity, now, policy.HUMAN_AGENT_WINDOW)
    ):
        return HUMAN_AGENT
    if _email_of(session, application_id):
        return EMAIL
    return None


def _email_of(session: Session, application_id: int | None) -> str:
    if application_id is None:
        return ""
    app = session.get(Application, application_id)
    if app is None or app.erased_at is not None:
        return ""
    return app.email.strip()


@dataclass(frozen=True)
class ReplyLetter:
    """A reply's texts: the Messenger template and the email template, with their context."""

    key: str  # the outbox idempotency key
    purpose: Purpose
    messenger_template: str
    email_template: str
    context: dict[str, Any]


def deliver_reply(
    session: Session,
    letter: ReplyLetter,
    *,
    psid: str,
    application_id: int | None,
    settings: Settings,
    now: datetime,
) -> str:
    """Queue a secretariat reply by the first channel that reaches the person; return it.

    Raises ReplyRefused when none does (nothing is queued).
    """
    channel = reply_channel(
        session, psid=psid, application_id=application_id, settings=settings, now=now
    )
    if channel is None:
        raise ReplyRefused(
            "この方には今は返信を届けられません（メッセンジャーの24時間を過ぎており、"
            "連携した申込のメールアドレスもありません）。返信は下書きとして残しました。"
            "この方から次にメッセージが届いたら送れます。"
        )
    templates = settings.app.templates_dir
    if channel == EMAIL:
        mail = render(letter.email_template, templates, settings=settings, **letter.context)
        outbox.enqueue_email(
            session,
            key=letter.key,
            to=_email_of(session, application_id),
            subject=mail.subject,
            body=mail.body,
            purpose=letter.purpose,
            now=now,
        )
        return channel
    body = render(letter.messenger_template, templates, settings=settings, **letter.context)
    outbox.enqueue(
        session,
        key=letter.key,
        channel="messenger",
        recipient=psid,
        purpose=letter.purpose,
        now=now,
        # a secretariat member's own reply: RESPONSE in the window, HUMAN_AGENT (when enabled)
        # within 7 days, else it waits for the person to write again
        payload={
            "message": text_message(_short_message(body.body.strip())),
            "response": True,
            "human_reply": True,
        },
    )
    return channel


def reply_problem(text: str) -> str | None:
    """What is wrong with a reply typed in the console (Japanese), or None."""
    if not text.strip():
        return "返信を入力してください。"
    if len(text.strip()) > REPLY_MAX:
        return f"返信は{REPLY_MAX}文字以内にしてください。"
    return None


def lock_row(session: Session, row: _Row) -> _Row:
    """Lock a question's or a consultation's row for this transaction and read it afresh.

    A no-op UPDATE (as `bot.onboarding.applications.lock`): on PostgreSQL it holds the row
    until the commit, so a second reviewer replying or closing at the same moment waits and
    then sees the first one's result; on SQLite it takes the database's write lock.
    """
    model = type(row)
    session.execute(
        update(model)
        .where(model.id == row.id)
        .values(status=model.status)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return row


def reply_key(question: MemberQuestion) -> str:
    """The outbox key of the reply: the time asked too, as SQLite reuses deleted rows' ids."""
    return f"question-reply:{question.id}:{int(question.asked_at.timestamp())}"


def answer_question(
    session: Session,
    question: MemberQuestion,
    reply: str,
    *,
    actor: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Send the secretariat's reply to a member's question; returns the channel.

    ReplyRefused when nobody can be reached: the reply is then kept as the draft (the question
    stays open). Only an open question is answered: the row is locked first, so of two
    reviewers replying at once the second is refused with the first one's answer in place.
    """
    lock_row(session, question)
    if question.status == ANSWERED:
        raise ReplyRefused("この質問にはすでに回答しています（ほかの方の返信が先に届きました）。")
    if question.status != OPEN:
        raise ReplyRefused(
            "この質問はクローズされています。返信するには先に「未対応に戻す」を押してください。"
        )
    question.reply = clean_text(reply, REPLY_MAX)
    letter = ReplyLetter(
        key=reply_key(question),
        purpose=Purpose.QUESTION_REPLY,
        messenger_template="messenger_question_reply",
        email_template="question_reply_email",
        context={"question": _short(question.text, 100), "reply": question.reply},
    )
    channel = deliver_reply(
        session,
        letter,
        psid=question.psid,
        application_id=question.application_id,
        settings=settings,
        now=now,
    )
    question.status, question.reply_channel = ANSWERED, channel
    question.replied_by, question.replied_at = actor, now
    return channel


def faq_from_question(
    session: Session,
    question: MemberQuestion,
    *,
    text: str,
    answer: str,
    keywords: str,
    now: datetime,
) -> FaqEntry:
    """A new FAQ entry made from a question and its reply (as edited by the secretariat)."""
    last = session.scalars(select(FaqEntry.position).order_by(FaqEntry.position.desc())).first()
    entry = FaqEntry(
        question=text.strip(),
        answer=answer.strip(),
        keywords="\n".join(keywords_of(keywords)),
        active=True,
        position=(last or 0) + 10,
        created_at=now,
        updated_at=now,
        created_from_question_id=question.id,
    )
    session.add(entry)
    session.flush()
    question.faq_entry_id = entry.id
    return entry
