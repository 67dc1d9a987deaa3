"""Register the domain's inbox handlers and after-send hooks on a runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register_domain(runtime: Runtime) -> None:
    """Route inbound events and sent messages to the domain modules that own them."""
    from bot.messaging import utility
    from bot.messaging.conversation import (
        ECHO,
        INTERACTIONS,
        handle_messenger_echo,
        handle_messenger_event,
    )
    from bot.messaging.events import EventKind
    from bot.onboarding import invitations, notifications

    runtime.after_sent["confirmation"] = notifications.after_confirmation_sent
    runtime.after_sent["invitation"] = invitations.after_invitation_sent
    for kind in INTERACTIONS:
        runtime.inbox.register("messenger", kind, handle_messenger_event)
    runtime.inbox.register("messenger", ECHO, handle_messenger_echo)
    runtime.inbox.register(
        "messenger", str(EventKind.TEMPLATE_STATUS), utility.handle_template_status
    )
