"""The 24-hour window: when and how a Page may message a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.models import MessengerIdentity

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
# Retired on 2026-04-27; calls with them fail with error 100. Never sent.
RETIRED_TAGS = frozenset({"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"})


@dataclass(frozen=True)
class Decision:
    """What to do with one queued Messenger message right now."""

    action: str  # send | wait | unreachable
    messaging_type: str = ""
    tag: str | None = None


def in_window(
    identity: MessengerIdentity | None, now: datetime, window: timedelta = STANDARD_WINDOW
) -> bool:
    """Whether the person interacted with the Page within `window` of `now`."""
    last = identity.last_interaction_at if identity else None
    return last is not None and now - last < window


def decide(
    identity: MessengerIdentity | None,
    payload: dict[str, Any],
    now: datetime,
    *,
    human_agent_enabled: bool = False,
    utility_available: bool = False,
) -> Decision:
    """Send inside the window (RESPONSE for replies, else UPDATE); otherwise wait.

    HUMAN_AGENT is used only for a secretariat member's own reply, within 7 days, when enabled.
    `utility_available` (utility templates enabled and an APPROVED template for this message):
    outside the window the message goes as a UTILITY template message instead of waiting.
    """
    if identity is not None and identity.unreachable_at is not None:
        return Decision("unreachable")
    if in_window(identity, now):
        return Decision("send", "RESPONSE" if payload.get("response") else "UPDATE")
    if (
        human_agent_enabled
        and payload.get("human_reply")
        and in_window(identity, now, HUMAN_AGENT_WINDOW)
    ):
        return Decision("send", "MESSAGE_TAG", "HUMAN_AGENT")
    if utility_available:
        return Decision("send", "UTILITY")
    return Decision("wait")
