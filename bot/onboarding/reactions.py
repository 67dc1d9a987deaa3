"""What the domain does once a message of a purpose has been delivered.

The worker (delivery infrastructure) knows nothing of applications: after it records a sent
row it looks the row's purpose up in this table, installed on the runtime by `bot/bootstrap.py`.
These are the only moves of the state machine (`lifecycle.py`) that a delivery causes.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.models import Purpose
from bot.onboarding import invitations, notifications
from bot.runtime import AfterSent

AFTER_SENT: Mapping[str, AfterSent] = {
    # submitted → awaiting_join_request
    Purpose.CONFIRMATION: notifications.after_confirmation_sent,
    # the invitation is marked sent; the last of an approval's three → invited
    Purpose.INVITATION: invitations.after_invitation_sent,
}
