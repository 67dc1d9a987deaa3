"""Linking by a typed 申込番号: the pending code, the email check and its attempt limits.

Meta's m.me referral "might not work for some Messenger for Android customers", so a person can
also type their registration code in the chat; the bot then asks for the email address they
registered with, and links only when both belong to the same open application. The pending code
lives on the person's MessengerIdentity (several workers share the conversation); every email
check is a LinkAttempt row, counted per person and per code over the last 24 hours, so guessing
is refused after `[messenger] link_attempts_per_person` / `link_attempts_per_code` tries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.config import MessengerSettings
from bot.models import LinkAttempt, MessengerIdentity
from bot.onboarding.form_mapping import looks_like_email, normalise_email

PENDING_FOR = timedelta(minutes=30)  # a typed code waits this long for its email address
ATTEMPT_WINDOW = timedelta(hours=24)
KEEP_ATTEMPTS = timedelta(days=2)  # then the rows (a PSID and a code) are deleted


def typed_email(text: str) -> str | None:
    """The email address a chat message gives (alone, or as its only word with an @), or None."""
    normalised = normalise_email(text)
    if looks_like_email(normalised):
        return normalised
    words = [w.strip("。、,.「」()（）") for w in normalised.split() if "@" in w]
    if len(words) == 1 and looks_like_email(words[0]):
        return words[0]
    return None


def pending_code(identity: MessengerIdentity, at: datetime) -> str | None:
    """The code this person typed and whose email address is still awaited at `at`."""
    if not identity.link_code or identity.link_code_at is None:
        return None
    if at - identity.link_code_at > PENDING_FOR:
        return None
    return identity.link_code


def set_pending(identity: MessengerIdentity, code: str | None, at: datetime | None) -> None:
    """Await the email address for `code` (None: nothing pending any more)."""
    identity.link_code, identity.link_code_at = code, at


def limit_reached(
    session: Session, *, psid: str, code: str, now: datetime, settings: MessengerSettings
) -> str | None:
    """Which limit refuses one more check now: "person", "code", or None when it may go."""
    since = now - ATTEMPT_WINDOW
    by_person = session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(LinkAttempt.psid == psid, LinkAttempt.at > since)
    )
    if (by_person or 0) >= settings.link_attempts_per_person:
        return "person"
    by_code = session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(LinkAttempt.code == code, LinkAttempt.at > since)
    )
    if (by_code or 0) >= settings.link_attempts_per_code:
        return "code"
    return None


def record_attempt(session: Session, *, psid: str, code: str, now: datetime, outcome: str) -> None:
    """Count one check, and forget the checks too old to count any more."""
    session.execute(delete(LinkAttempt).where(LinkAttempt.at < now - KEEP_ATTEMPTS))
    session.add(LinkAttempt(psid=psid, code=code, at=now, outcome=outcome))
