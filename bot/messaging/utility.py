"""Page utility message templates: their texts, their status at Meta, and when they may be used.

Meta's documentation (the request and answer shapes below follow it):
https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/utility-messages

* `cityhall messenger templates sync` creates the Page-owned templates (``POST
  /<PAGE_ID>/message_templates``, category UTILITY, named parameters) and records the ``id`` and
  ``status`` Meta answers; the ``message_template_status_update`` webhook updates the status.
* State lives in one ``system_flags`` row (``messenger:utility_templates``), no table of its own.
* Outside the 24-hour window, with ``[messenger] utility_templates = true`` and the purpose's
  template APPROVED, a queued invitation or orientation reminder is sent as a template message
  with ``messaging_type: UTILITY``; anything else keeps waiting for the person.

The Japanese texts are template files (``texts/utility_<key>.txt``): ``Key: value`` header lines,
a blank line, then the body with Meta's ``{{named}}`` placeholders (read as they are, not
rendered with Jinja).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.messaging.compose import utility_template_message
from bot.messaging.outbox import WAITING
from bot.messaging.texts import SHIPPED
from bot.models import InboundEvent, OutboundMessage, Purpose, QueueStatus, SystemFlag
from bot.runtime import Runtime
from integrations.ports import DeliveryError

log = logging.getLogger(__name__)

FLAG = "messenger:utility_templates"
LANGUAGE = "ja"
APPROVED = "APPROVED"
# Outbound purpose -> template key; every other purpose keeps waiting outside the window.
PURPOSE_TEMPLATES: dict[str, str] = {
    Purpose.INVITATION: "invitation",
    Purpose.ORIENTATION_REMINDER: "orientation_reminder",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class UtilityTemplate:
    """One Page-owned utility template as read from its text file."""

    key: str
    name: str
    body: str
    params: tuple[str, ...]
    examples: dict[str, str] = field(default_factory=dict)
    button_title: str = ""
    button_url: str = ""  # e.g. https://m.me/j/{{url_suffix}}
    button_example: str = ""

    @property
    def url_prefix(self) -> str:
        """The fixed start of the button URL (the part before its placeholder)."""
        match = _PLACEHOLDER.search(self.button_url)
        return self.button_url[: match.start()] if match else self.button_url

    def create_body(self) -> dict[str, Any]:
        """The documented ``POST /<PAGE_ID>/message_templates`` body (named parameters)."""
        components: list[dict[str, Any]] = [
            {
                "type": "BODY",
                "text": self.body,
                "example": {
                    "body_text_named_params": [
                        {"param_name": p, "example": self.examples[p]} for p in self.params
                    ]
                },
            }
        ]
        if self.button_url:
            components.append(
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": self.button_title,
                            "url": self.button_url,
                            "example": {"url_suffix_example": self.button_example},
                        }
                    ],
                }
            )
        return {
            "name": self.name,
            "language": LANGUAGE,
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "components": components,
        }


def load_template(key: str, override_dir: str = "") -> UtilityTemplate:
    """Read ``utility_<key>.txt`` (from `override_dir` when it has one, else the shipped one)."""
    name = f"utility_{key}.txt"
    path = Path(override_dir) / name if override_dir else None
    raw = (path if path is not None and path.is_file() else SHIPPED / name).read_text("utf-8")
    head, _, body = raw.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        label, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{name}: header line without a colon: {line!r}")
        headers[label.strip()] = value.strip()
    body = body.strip()
    params = tuple(dict.fromkeys(_PLACEHOLDER.findall(body)))
    examples = {
        k.removeprefix("Example-"): v for k, v in headers.items() if k.startswith("Example-")
    }
    missing = [p for p in params if p not in examples]
    if "Name" not in headers or not body or missing:
        raise ValueError(f"{name}: needs Name, a body and an Example-<param> for {missing}")
    return UtilityTemplate(
        key=key,
        name=headers["Name"],
        body=body,
        params=params,
        examples={p: examples[p] for p in params},
        button_title=headers.get("Button", ""),
        button_url=headers.get("Button-URL", ""),
        button_example=headers.get("Example-URL", ""),
    )


def templates(override_dir: str = "") -> list[UtilityTemplate]:
    """Every utility template the bot uses, in a stable order."""
    return [load_template(key, override_dir) for key in dict.fromkeys(PURPOSE_TEMPLATES.values())]


# -- state (one system_flags row) ---------------------------------------------------------------
def state(session: Session) -> dict[str, dict[str, Any]]:
    """The recorded templates by key: name, language, id, status, category, reason, updated_at."""
    flag = session.get(SystemFlag, FLAG)
    value = flag.value if flag is not None else {}
    found = value.get("templates") if isinstance(value, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _save(session: Session, templates_: dict[str, dict[str, Any]], now: datetime) -> None:
    flag = session.get(SystemFlag, FLAG, with_for_update=True)
    if flag is None:
        session.add(SystemFlag(name=FLAG, value={"templates": templates_}, updated_at=now))
    else:
        flag.value, flag.updated_at = {"templates": templates_}, now
    session.flush()


def record(session: Session, key: str, entry: dict[str, Any], now: datetime) -> None:
    """Merge `entry` into the recorded state of template `key`."""
    current = state(session)
    merged = {**current.get(key, {}), **entry, "updated_at": now.isoformat(timespec="seconds")}
    current[key] = merged
    _save(session, current, now)


def set_status(
    session: Session,
    *,
    template_id: str | None,
    name: str | None,
    language: str | None,
    status: str,
    reason: str | None,
    now: datetime,
) -> str | None:
    """Record a status reported by Meta for the template it names; return its key (None: not ours).

    Matched by template id first, then by name (and language when given).
    """
    current = state(session)
    key = next((k for k, v in current.items() if template_id and v.get("id") == template_id), None)
    if key is None:
        key = next(
            (
                k
                for k, v in current.items()
                if name
                and v.get("name") == name
                and (not language or v.get("language") in (None, language))
            ),
            None,
        )
    if key is None:
        return None
    entry: dict[str, Any] = {"status": status, "reason": reason or ""}
    if template_id:
        entry["id"] = template_id
    record(session, key, entry, now)
    return key


def approved(session: Session, key: str) -> dict[str, Any] | None:
    """The recorded template `key` when Meta has approved it, else None."""
    entry = state(session).get(key)
    return entry if entry is not None and entry.get("status") == APPROVED else None


# -- sending ------------------------------------------------------------------------------------
def utility_message(
    session: Session, purpose: str, payload: dict[str, Any], override_dir: str = ""
) -> dict[str, Any] | None:
    """The UTILITY template message for a queued row, or None when it must keep waiting.

    None when the purpose has no template, its template is not APPROVED, the row carries no
    template parameters (queued before this feature) or its URL does not fit the button.
    """
    key = PURPOSE_TEMPLATES.get(purpose)
    utility = payload.get("utility")
    if key is None or not isinstance(utility, dict):
        return None
    entry = approved(session, key)
    if entry is None:
        return None
    template = load_template(key, override_dir)
    params = utility.get("params")
    if not isinstance(params, dict) or any(
        not isinstance(params.get(p), str) or not params[p] for p in template.params
    ):
        return None
    suffix: str | None = None
    if template.button_url:
        url = utility.get("url")
        prefix = template.url_prefix
        if not isinstance(url, str) or not url.startswith(prefix) or url == prefix:
            return None
        suffix = url[len(prefix) :]
    return utility_template_message(
        str(entry.get("name") or template.name),
        str(entry.get("language") or LANGUAGE),
        {p: params[p] for p in template.params},
        suffix,
    )


# -- sync (the CLI) and the status webhook ------------------------------------------------------
def sync(
    session: Session, client: Any, page_id: str, now: datetime, override_dir: str = ""
) -> list[dict[str, Any]]:
    """Create each template at Meta and record its id and status; return what was recorded.

    A template Meta refuses (e.g. one that exists already) is recorded with the error and the
    others still go; the caller's transaction commits what was recorded.
    """
    results: list[dict[str, Any]] = []
    for template in templates(override_dir):
        base = {"name": template.name, "language": LANGUAGE}
        try:
            answer = client.create_message_template(page_id, template.create_body())
        except DeliveryError as exc:
            entry = {**base, "error": str(exc)[:500]}
            log.warning("utility template %s not created: %s", template.name, exc.kind.value)
        else:
            entry = {
                **base,
                "id": answer["id"],
                "status": answer.get("status") or "PENDING",
                "category": answer.get("category") or "",
                "reason": "",
                "error": "",
            }
        record(session, template.key, entry, now)
        results.append({"key": template.key, **entry})
    return results


def handle_template_status(session: Session, event: InboundEvent, runtime: Runtime) -> None:
    """Inbox handler for ``message_template_status_update``: record the new status."""
    value = event.payload.get("raw", {}).get("value", {})
    if not isinstance(value, dict):
        return
    template_id = value.get("message_template_id")
    status = value.get("event")
    if not isinstance(status, str) or not status:
        return
    key = set_status(
        session,
        template_id=str(template_id) if isinstance(template_id, int | str) else None,
        name=value.get("message_template_name")
        if isinstance(value.get("message_template_name"), str)
        else None,
        language=value.get("message_template_language")
        if isinstance(value.get("message_template_language"), str)
        else None,
        status=status,
        reason=value.get("reason") if isinstance(value.get("reason"), str) else None,
        now=runtime.now(),
    )
    log.info("utility template status %s for %s", status, key or "a template not ours")
    if key is not None and status == APPROVED and runtime.settings.messenger.utility_templates:
        released = release_waiting_for(session, key, runtime.now())
        if released:
            log.info("utility template %s approved: %d waiting message(s) due again", key, released)


def release_waiting_for(session: Session, key: str, now: datetime) -> int:
    """Make the Messenger rows waiting for the window that template `key` serves due again.

    The worker then sends each as a UTILITY message (or parks it again when it cannot).
    """
    purposes = [p for p, k in PURPOSE_TEMPLATES.items() if k == key]
    result = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.channel == "messenger",
            OutboundMessage.status == WAITING,
            OutboundMessage.purpose.in_(purposes),
        )
        .values(status=QueueStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
