"""How much one paste or import of join requests may hold.

Facebook's request list, copied whole, is a few hundred requests and some tens of kilobytes. A
larger input is a mistake (the wrong clipboard, a file concatenated with itself) or an attack
(one 165 KB paste once made 33,000 rows and a 30 MB page), so it is refused whole: nothing of it
is stored, and the person is told the limit so that they can split the list.
"""

from __future__ import annotations

from collections.abc import Sized

from bot.onboarding.lifecycle import DomainError

MAX_PASTE_BYTES = 128 * 1024
MAX_REQUESTS = 500


class TooManyJoinRequests(DomainError):
    """An input over one of the limits; `what` is "bytes" or "requests"."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{size} {what}, more than the limit of {limit} {what}")
        self.what, self.size, self.limit = what, size, limit


def check_text_size(text: str) -> None:
    """Refuse text larger than MAX_PASTE_BYTES once encoded as UTF-8."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PASTE_BYTES:
        raise TooManyJoinRequests("bytes", size, MAX_PASTE_BYTES)


def check_request_count(requests: Sized) -> None:
    """Refuse more than MAX_REQUESTS parsed requests."""
    if len(requests) > MAX_REQUESTS:
        raise TooManyJoinRequests("requests", len(requests), MAX_REQUESTS)
