"""Send plain-text email over SMTP and classify failures for the outbox.

Failures map to FailureKind: connection problems, timeouts and 4xx replies are RETRY; a 5xx
refusal of the recipient or the message is INVALID; an authentication or TLS/setup problem that
every message would hit is AUTH (pause sending, alert the secretariat). Error messages carry the
SMTP code only, never the server's text (it often echoes the address) nor the body.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

from integrations.ports import DeliveryError, EmailMessage, FailureKind, SendResult

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
_AUTH_CODES = frozenset({530, 534, 535, 538})
_RECIPIENT_HEADERS = frozenset({"from", "to", "cc", "bcc", "sender", "subject", "date"})


class SmtpMailer:
    """Mailer over smtplib: one connection per message, with a timeout on every socket call."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 20,
        ssl_context: ssl.SSLContext | None = None,
        reply_to: str = "",
    ) -> None:
        """Configure the relay; `sender` may carry a display name ("名前 <addr@example.jp>").

        Args:
            host: SMTP server name.
            port: 587 for starttls, 465 for ssl, 25 for none, as a rule.
            sender: the From header; its address is also the envelope sender.
            username: log in with this user when given.
            password: the user's password.
            security: "starttls" (upgrade after EHLO), "ssl" (implicit TLS) or "none".
            timeout: seconds for connecting and for each SMTP reply.
            ssl_context: TLS settings; default is the system trust store with hostname checks.
            reply_to: the Reply-To header of every message ("" = none; replies go to `sender`).
        """
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"mail.security must be starttls, ssl or none, not {security!r}")
        _, envelope_from = parseaddr(sender)
        if "@" not in envelope_from:
            raise ValueError("mail.sender must contain an email address")
        if reply_to and ("@" not in parseaddr(reply_to)[1] or any(c in reply_to for c in "\r\n")):
            raise ValueError("mail.reply_to must be one email address")
        self.reply_to = reply_to
        self.host = host
        self.port = port
        self.sender = sender
        self.envelope_from = envelope_from
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout
        self.ssl_context = ssl_context

    def send(self, message: EmailMessage) -> SendResult:
        """Deliver one email, or raise DeliveryError with a kind the outbox acts on."""
        mime = self.build(message)
        message_id = str(mime["Message-ID"])
        try:
            with self._connect() as smtp:
                self._prepare(smtp)
                try:
                    smtp.send_message(mime, from_addr=self.envelope_from, to_addrs=[message.to])
                except smtplib.SMTPNotSupportedError:
                    raise DeliveryError(
                        FailureKind.INVALID, "SMTP server cannot take this address (no SMTPUTF8)"
                    ) from None
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            code = _first_code(error.recipients)
            kind = FailureKind.RETRY if 400 <= code < 500 else FailureKind.INVALID
            raise DeliveryError(kind, f"SMTP recipient refused ({code})", code=code) from None
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as error:
            raise DeliveryError(
                FailureKind.RETRY,
                f"SMTP server not ready ({error.smtp_code})",
                code=error.smtp_code,
            ) from None
        except smtplib.SMTPSenderRefused as error:
            kind = _kind_for_code(error.smtp_code, permanent=FailureKind.AUTH)
            raise DeliveryError(
                kind, f"SMTP sender refused ({error.smtp_code})", code=error.smtp_code
            ) from None
        except smtplib.SMTPResponseException as error:
            kind = _kind_for_code(error.smtp_code, permanent=FailureKind.INVALID)
            raise DeliveryError(
                kind, f"SMTP server replied {error.smtp_code}", code=error.smtp_code
            ) from None
        except ssl.SSLCertVerificationError:
            raise DeliveryError(
                FailureKind.AUTH, "SMTP server's TLS certificate was not trusted"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            # Disconnects, refused connections, timeouts (TimeoutError is an OSError), TLS resets.
            raise DeliveryError(
                FailureKind.RETRY, f"SMTP connection failed ({type(error).__name__})"
            ) from None
        log.info("email sent, message id %s", message_id)
        return SendResult(message_id=message_id)

    def build(self, message: EmailMessage) -> MimeMessage:
        """Build the MIME message (UTF-8; Date, Message-ID and the caller's extra headers)."""
        if any(c in message.to for c in "\r\n,;") or "@" not in message.to:
            raise DeliveryError(FailureKind.INVALID, "recipient is not a single email address")
        mime = MimeMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = format_datetime(datetime.now(UTC))
        mime["Message-ID"] = make_msgid(domain=self.envelope_from.rpartition("@")[2])
        if self.reply_to:
            mime["Reply-To"] = self.reply_to
        for name, value in message.headers.items():
            if name.lower() in _RECIPIENT_HEADERS:
                raise DeliveryError(FailureKind.INVALID, f"header {name} cannot be overridden")
            if any(c in name + value for c in "\r\n") or ":" in name:
                raise DeliveryError(FailureKind.INVALID, f"header {name!r} contains a line break")
            if name in mime:
                del mime[name]
            mime[name] = value
        mime.set_content(message.body, charset="utf-8")
        return mime

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _prepare(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                FailureKind.AUTH, f"SMTP login rejected ({error.smtp_code})", code=error.smtp_code
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            # smtplib's text names the missing extension (STARTTLS or AUTH); no personal data.
            raise DeliveryError(FailureKind.AUTH, f"SMTP setup failed: {error}") from None
        except smtplib.SMTPResponseException as error:
            if error.smtp_code in _AUTH_CODES:
                raise DeliveryError(
                    FailureKind.AUTH, f"SMTP login failed ({error.smtp_code})", code=error.smtp_code
                ) from None
            raise
        except smtplib.SMTPException as error:
            if self.username and "auth" in str(error).lower():
                # "No suitable authentication method found" and friends: a setup problem.
                raise DeliveryError(FailureKind.AUTH, "SMTP login not possible") from None
            raise

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()


def _kind_for_code(code: int, *, permanent: FailureKind) -> FailureKind:
    if code in _AUTH_CODES:
        return FailureKind.AUTH
    if 500 <= code < 600:
        return permanent
    return FailureKind.RETRY


def _first_code(recipients: dict[str, tuple[int, bytes]]) -> int:
    for code, _ in recipients.values():
        return int(code)
    return 550
