"""Meta Graph API stand-in on loopback: the Send API and the User Profile API.

Every call must carry the page token and its ``appsecret_proof`` (HMAC-SHA256 of the token keyed
with the app secret), as Graph demands; a call without them is answered with Graph's error 190
and listed in `problems`. Sends are recorded with their JSON body.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.acceptance.fake_http import FakeServer, Recorded, Reply


def button_urls(message: Any) -> list[str]:
    """Every URL button's URL in a Send API `message` (button or generic templates)."""
    found: list[str] = []
    stack = [message]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "web_url" and isinstance(node.get("url"), str):
                found.append(node["url"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


@dataclass
class FakeGraph(FakeServer):
    """Answer POST /<version>/me/messages and GET /<version>/<psid>."""

    name: str = "graph"
    version: str = "v25.0"
    page_token: str = ""
    app_secret: str = ""
    names: dict[str, str] = field(default_factory=dict)  # psid -> profile name
    problems: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def answer(self, request: Recorded) -> Reply:
        token = (request.query.get("access_token") or [""])[0]
        proof = (request.query.get("appsecret_proof") or [""])[0]
        expected = hmac.new(
            self.app_secret.encode(), self.page_token.encode(), hashlib.sha256
        ).hexdigest()
        if token != self.page_token or not hmac.compare_digest(proof, expected):
            self.problems.append(f"{request.method} {request.path} without a valid token/proof")
            return Reply(
                400,
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
            )
        base = f"/{self.version}/"
        if not request.path.startswith(base):
            self.problems.append(f"unexpected path {request.method} {request.path}")
            return Reply(404, {"error": {"message": "Unknown path components", "code": 803}})
        rest = request.path[len(base) :]
        if request.method == "POST" and rest == "me/messages":
            body = request.json()
            psid = body["recipient"]["id"]
            return Reply(200, {"recipient_id": psid, "message_id": f"m_{next(self._ids)}"})
        if request.method == "POST" and rest == "me/messenger_profile":
            return Reply(200, {"result": "success"})
        if request.method == "GET" and "/" not in rest:
            full = self.names.get(rest, "Acceptance Person")
            first, _, last = full.partition(" ")
            return Reply(200, {"name": full, "first_name": first, "last_name": last, "id": rest})
        self.problems.append(f"unexpected request {request.method} {request.path}")
        return Reply(404, {"error": {"message": "Unsupported request", "code": 100}})

    def sends(self, psid: str | None = None) -> list[dict[str, Any]]:
        """The Send API bodies received so far (to `psid` when given), in order."""
        bodies = [
            r.json()
            for r in self.recorded()
            if r.method == "POST" and r.path == f"/{self.version}/me/messages"
        ]
        return [b for b in bodies if psid is None or b.get("recipient", {}).get("id") == psid]

    def invite_urls(self, psid: str) -> list[str]:
        """The URL-button targets of everything sent to `psid`, in order."""
        return [url for body in self.sends(psid) for url in button_urls(body.get("message"))]

    def profile_lookups(self, psid: str) -> int:
        """How many User Profile API calls asked for `psid`."""
        return sum(
            1 for r in self.recorded() if r.method == "GET" and r.path == f"/{self.version}/{psid}"
        )
