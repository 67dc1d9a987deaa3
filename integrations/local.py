"""The embedded default's transports: record what would be sent instead of sending it.

Each delivery is appended as one JSON line (var/outbox/messenger.jsonl, var/outbox/mail.jsonl) and
kept in memory, so the console, the CLI and tests can show exactly what would have gone out.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from integrations.ports import EmailMessage, SendResult


class _JsonLines:
    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path else None
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._count = 0

    def append(self, record: dict[str, Any]) -> str:
        with self._lock:
            self._count += 1
            record = {**record, "local_id": f"local-{os.getpid()}-{self._count}"}
            self.records.append(record)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                line = json.dumps(record, ensure_ascii=False) + "\n"
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            return str(record["local_id"])


class LocalMessenger:
    """A Messenger sender that records each Send API call it would have made."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._log = _JsonLines(path)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Everything recorded by this process, oldest first."""
        return self._log.records

    def send(
        self, psid: str, message: dict[str, Any], *, messaging_type: str, tag: str | None = None
    ) -> SendResult:
        """Record the message instead of calling the Send API."""
        record = {"psid": psid, "messaging_type": messaging_type, "tag": tag, "message": message}
        return SendResult(message_id=self._log.append(record))


class LocalMailer:
    """A mailer that records each email instead of sending it."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._log = _JsonLines(path)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Everything recorded by this process, oldest first."""
        return self._log.records

    def send(self, message: EmailMessage) -> SendResult:
        """Record the email instead of sending it."""
        record = {
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
            "headers": dict(message.headers),
        }
        return SendResult(message_id=self._log.append(record))


def read_records(path: str | os.PathLike[str], limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` records of a local outbox file (newest first)."""
    p = Path(path)
    if not p.exists():
        return []
    lines = p.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]
