"""Claims: 「対応中」 — a reviewer says they are handling an application, for a while.

A claim is shown to everyone and lapses after `[console] claim_minutes`. Deciding an
application that someone else has a live claim on, or whose latest note says 確認中 ("being
checked"), needs the decider's explicit word that they decide anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.models import Application, AuditEntry
from bot.onboarding.lifecycle import audit

HOLD_WORD = "確認中"  # a note containing it asks the others to wait
CLAIMED_BY_OTHER = "claimed_by_other"
HELD_BY_NOTE = "held_by_note"


def live_claim(app: Application, *, now: datetime, minutes: int) -> str:
    """Who has a live claim on the application ("" when nobody, or it lapsed)."""
    if not app.claimed_by or app.claimed_at is None:
        return ""
    return app.claimed_by if now < app.claimed_at + timedelta(minutes=minutes) else ""


def claim(app: Application, *, actor: str, at: datetime) -> AuditEntry:
    """Say that `actor` handles the application from now on (taking over a lapsed claim)."""
    previous = app.claimed_by
    app.claimed_by, app.claimed_at = actor, at
    return audit(app, actor=actor, at=at, action="claimed", detail={"previous": previous})


def release(app: Application, *, actor: str, at: datetime) -> AuditEntry | None:
    """End the claim (anyone may end it); None when there was none."""
    if not app.claimed_by:
        return None
    holder = app.claimed_by
    app.claimed_by, app.claimed_at = "", None
    return audit(app, actor=actor, at=at, action="claim_released", detail={"holder": holder})


def clear_after_decision(app: Application) -> None:
    """A decision ends the claim: there is nothing left to handle."""
    app.claimed_by, app.claimed_at = "", None


def reasons_to_confirm(app: Application, *, actor: str, now: datetime, minutes: int) -> list[str]:
    """Why deciding needs the decider's explicit confirmation (empty: it does not).

    CLAIMED_BY_OTHER: another reviewer's live claim; HELD_BY_NOTE: the latest note says 確認中.
    """
    reasons = []
    holder = live_claim(app, now=now, minutes=minutes)
    if holder and holder != actor:
        reasons.append(CLAIMED_BY_OTHER)
    if app.notes and HOLD_WORD in app.notes[-1].text:
        reasons.append(HELD_BY_NOTE)
    return reasons
