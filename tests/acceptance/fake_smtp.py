"""An SMTP server on loopback (aiosmtpd) that keeps every message it is given."""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

CODE = re.compile(r"OC-[0-9A-HJKMNP-TV-Z]{6}")
REF_LINK = re.compile(r"https://m\.me/[^\s?]+\?ref=([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class Mail:
    """One received message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def code(self) -> str | None:
        """The registration code (申込番号) named in the subject or body."""
        match = CODE.search(self.subject) or CODE.search(self.text)
        return match.group(0) if match else None

    def ref_token(self) -> str | None:
        """The `ref` of the m.me link in the body."""
        match = REF_LINK.search(self.text)
        return match.group(1) if match else None


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeSmtp:
    """aiosmtpd's Controller on 127.0.0.1 (no TLS, no login), recording every message."""

    def __init__(self) -> None:
        self._recorder = _Recorder()
        self.port = _free_port()
        self._controller = Controller(
            self._recorder, hostname="127.0.0.1", port=self.port, ready_timeout=10
        )

    def start(self) -> FakeSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def mails(self, to: str | None = None) -> list[Mail]:
        """Messages received so far (addressed to `to` when given)."""
        with self._recorder.lock:
            mails = list(self._recorder.mails)
        return [m for m in mails if to is None or to in m.rcpt_tos]
