"""event-reminders: the Zoom link to those going to an event, `[events] reminder_minutes` before.

Every few minutes (`[jobs] event_reminders_minutes`): by Messenger when the person's 24-hour
window stays open until the start, by email otherwise, once per person and event occurrence
(moving the event or changing its Zoom URL reminds again), and for a `members` event only to
those still members (see `bot/community/events.py`). A missed run is caught up by the next one:
every RSVP not yet reminded of an event that has not ended is looked at again. Each run first
withdraws the unsent reminders that would come too late (a Messenger one still waiting for a
window when its event starts) or are stale (event ended, cancelled or moved).
"""

from __future__ import annotations

from bot.community.events import remind_attendees
from jobs.context import JobContext


def run(ctx: JobContext) -> str:
    """Queue the reminders now due; the detail counts them by channel."""
    return remind_attendees(ctx.session, ctx.settings, now=ctx.now).describe()
