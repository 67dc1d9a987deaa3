"""`cityhall messenger setup | simulate | templates sync`: the Page's profile, a local Messenger
sandbox, and the Page's utility message templates."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from bot.config import DEMO_APP_SECRET
from bot.webhooks.signature import sign


class SimulateError(Exception):
    """The running server could not be reached or refused the event."""


def simulated_event(
    psid: str,
    *,
    page_id: str,
    ref: str | None = None,
    text: str | None = None,
    postback: str | None = None,
    at_ms: int | None = None,
) -> dict[str, Any]:
    """A webhook body shaped like Meta's for one interaction."""
    at_ms = at_ms or int(time.time() * 1000)
    item: dict[str, Any] = {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": at_ms,
    }
    if ref is not None and postback is not None:
        item["postback"] = {
            "title": "スタート",
            "payload": postback,
            "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"},
        }
    elif ref is not None:
        item["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    elif postback is not None:
        item["postback"] = {"title": postback, "payload": postback}
    else:
        item["message"] = {"mid": f"m_sim_{uuid.uuid4().hex}", "text": text or ""}
    return {"object": "page", "entry": [{"id": page_id, "time": at_ms, "messaging": [item]}]}


def cmd_setup(args: argparse.Namespace) -> int:
    """Set the Page's Get Started button, greeting and persistent menu."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_messenger
    from bot.community.conversation import persistent_menu
    from bot.onboarding.conversation import GET_STARTED, greeting

    settings = args.settings
    profile = {
        "get_started": {"payload": GET_STARTED},
        "greeting": greeting(),
        "persistent_menu": persistent_menu(),
    }
    if settings.messenger.transport != "graph":
        print("messenger transport is 'outbox': would set this Messenger profile:")
        print(json.dumps(profile, ensure_ascii=False, indent=2))
        return 0
    client = build_messenger(settings)
    client.set_messenger_profile(GET_STARTED, greeting(), persistent_menu())  # type: ignore[attr-defined]
    print("Messenger profile set: Get Started, greeting, persistent menu")
    return 0


def cmd_templates_sync(args: argparse.Namespace) -> int:
    """Create the Page's utility message templates at Meta and record their id and status."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_runtime
    from bot.messaging import utility

    settings = args.settings
    m = settings.messenger
    if m.transport != "graph":
        print("messenger transport is 'outbox': would create these utility message templates:")
        for template in utility.templates(settings.app.templates_dir):
            print(json.dumps(template.create_body(), ensure_ascii=False, indent=2))
        return 0
    if not m.page_id:
        raise SimulateError("[messenger] page_id is needed to create the Page's templates")
    runtime = build_runtime(settings)
    runtime.db.check_ready()
    with runtime.db.transaction() as session:
        results = utility.sync(
            session, runtime.messenger, m.page_id, runtime.now(), settings.app.templates_dir
        )
    failed = 0
    for r in results:
        if r.get("error"):
            failed += 1
            print(f"{r['name']} ({r['language']}): not created: {r['error']}")
        else:
            print(f"{r['name']} ({r['language']}): id {r['id']}, status {r['status']}")
    if not m.utility_templates:
        print("[messenger] utility_templates is false: the templates are not used until it is true")
    return 1 if failed else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Post one correctly signed webhook event to the running server."""
    settings = args.settings
    if settings.messenger.transport == "graph":
        raise SimulateError("messenger simulate is for the local sandbox (transport 'outbox')")
    secret = settings.messenger.app_secret or DEMO_APP_SECRET
    ref = args.ref
    if ref and "ref=" in ref:  # a whole m.me link was pasted
        ref = parse_qs(urlparse(ref).query).get("ref", [""])[0]
    body = simulated_event(
        args.psid,
        page_id=settings.messenger.page_id or "0",
        ref=ref,
        text=args.text,
        postback=args.postback or ("GET_STARTED" if ref and args.get_started else None),
    )
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    url = args.url.rstrip("/") + "/webhooks/messenger"
    try:
        response = requests.post(
            url,
            data=raw,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret)},
        )
    except requests.RequestException as exc:
        raise SimulateError(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise SimulateError(f"{url} answered {response.status_code}")
    print(f"event delivered to {url} (psid {args.psid}); the worker processes it next")
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `messenger setup` and `messenger simulate`."""
    messenger = sub.add_parser("messenger", help="Messenger Page set-up and local sandbox")
    commands = messenger.add_subparsers(dest="messenger_cmd", required=True)
    add("setup", cmd_setup, "set the Page's Get Started button, greeting and menu", commands)
    p = add("simulate", cmd_simulate, "post a signed event to the running server", commands)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ref", help="an application's m.me link, or just its ref token")
    what.add_argument("--text", help="a text message")
    what.add_argument("--postback", help="a postback payload, e.g. MENU_STATUS")
    p.add_argument(
        "--get-started",
        action="store_true",
        help="with --ref: as the Get Started button of a new thread",
    )
    p.add_argument("--psid", default="sim-psid-1", help="the simulated person's PSID")
    p.add_argument("--url", default="http://127.0.0.1:5000", help="the running server")
    templates = commands.add_parser(
        "templates", help="the Page's utility message templates"
    ).add_subparsers(dest="templates_cmd", required=True)
    add(
        "sync",
        cmd_templates_sync,
        "create the Page's utility message templates and record their status",
        templates,
    )
