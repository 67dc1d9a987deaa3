"""Humans own their threads: when the bot keeps quiet for a person, and for how long.

Meta's signals (checked against its webhook reference):

* events delivered under ``standby[]`` instead of ``messaging[]``: another app, or a person in
  the Page inbox, owns the thread;
* a message echo (``message.is_echo``) whose ``app_id`` is not this app's, or names no app: a
  secretariat member wrote from the Page inbox (this app's own sends echo with its app id).

Either puts the person in "quiet" for ``[messenger] human_quiet_hours`` from the moment of the
event: no automatic replies to free text (or chatty confirmations) in that time, while
invitations and reminders still go, in order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.models import MessengerIdentity


def is_human_echo(payload: dict[str, Any], own_app_id: str) -> bool:
    """Whether a stored echo event was written by a person, not sent by this app.

    With this app's id configured, any other id (or none) is a person; without it, only an echo
    naming no app can be told apart from this app's own sends.
    """
    sender_app = payload.get("app_id") or None
    if own_app_id:
        return sender_app != own_app_id
    return sender_app is None


def start_quiet(identity: MessengerIdentity, at: datetime, hours: float) -> None:
    """Keep quiet for `hours` after `at` (never shortening a longer quiet already running)."""
    try:
        until = at + timedelta(hours=hours)
    except OverflowError:  # a timestamp at the end of time (fuzzed input)
        until = datetime.max.replace(tzinfo=at.tzinfo)
    if identity.quiet_until is None or identity.quiet_until < until:
        identity.quiet_until = until


def in_quiet(identity: MessengerIdentity | None, at: datetime) -> bool:
    """Whether a human owns the person's thread at `at`."""
    return identity is not None and identity.quiet_until is not None and at < identity.quiet_until
