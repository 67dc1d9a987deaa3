"""SmtpMailer against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations.mail import SmtpMailer
from integrations.ports import DeliveryError, EmailMessage, FailureKind

HOST = "127.0.0.1"
SENDER = "オンライン市役所 事務局 <noreply@online-shiyakusho.example>"
SUBJECT = "【オンライン市役所】ご登録ありがとうございます"
BODY = "山田 太郎 様\n\nお申し込みを受け付けました。\n申込番号: OC-1234\n"


@dataclass
class RecordingHandler:
    """Accept mail like a relay; refuse some recipients and some messages on request."""

    received: list[MimeMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 <" + address + ">: Recipient address rejected"
        if address.endswith("@greylisted.example"):
            return "450 4.2.0 <" + address + ">: greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or envelope.content
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, MimeMessage)
        self.received.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1, a server context and a client that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cityhall test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory: Path = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return Tls(server=server, client=client)


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def serve(handler: RecordingHandler) -> Iterator[Any]:
    """Start an aiosmtpd server with the given options; return its port."""
    controllers: list[Controller] = []

    def start(**options: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port, **options)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


def accept_only(user: str, password: str) -> Any:
    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # let aiosmtpd reply 235/535

    return authenticator


def welcome(to: str = "taro@city.toyama.lg.jp", **headers: str) -> EmailMessage:
    return EmailMessage(to=to, subject=SUBJECT, body=BODY, headers=headers)


def test_plain_delivery_decodes_japanese_subject_and_body_on_the_server(
    serve: Any, handler: RecordingHandler
) -> None:
    port = serve()
    mailer = SmtpMailer(HOST, port, SENDER, security="none", timeout=5)
    result = mailer.send(welcome(**{"X-Cityhall-Key": "confirm:OC-1234"}))
    [received] = handler.received
    assert received["Subject"] == SUBJECT
    assert received.get_content().replace("\r\n", "\n") == BODY
    assert received["From"] == SENDER
    assert received["To"] == "taro@city.toyama.lg.jp"
    assert received["X-Cityhall-Key"] == "confirm:OC-1234"
    assert received["Message-ID"].strip() == result.message_id  # long ids get folded
    assert result.message_id.endswith("@online-shiyakusho.example>")
    assert received["Date"] is not None
    assert received.get_content_charset() == "utf-8"
    assert handler.envelopes == [("noreply@online-shiyakusho.example", ["taro@city.toyama.lg.jp"])]


def test_each_message_gets_a_new_message_id(serve: Any) -> None:
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    assert mailer.send(welcome()).message_id != mailer.send(welcome()).message_id


def test_starttls_upgrade_then_delivery(serve: Any, handler: RecordingHandler, tls: Tls) -> None:
    port = serve(tls_context=tls.server, require_starttls=True)
    mailer = SmtpMailer(HOST, port, SENDER, security="starttls", ssl_context=tls.client)
    mailer.send(welcome())
    assert [m["Subject"] for m in handler.received] == [SUBJECT]


def test_implicit_tls_delivery(serve: Any, handler: RecordingHandler, tls: Tls) -> None:
    port = serve(ssl_context=tls.server)
    mailer = SmtpMailer(HOST, port, SENDER, security="ssl", ssl_context=tls.client)
    mailer.send(welcome())
    assert len(handler.received) == 1


def test_untrusted_certificate_is_an_auth_failure(serve: Any, tls: Tls) -> None:
    port = serve(tls_context=tls.server, require_starttls=True)
    mailer = SmtpMailer(HOST, port, SENDER, security="starttls")  # system trust store
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome())
    assert caught.value.kind is FailureKind.AUTH


def test_server_without_starttls_is_an_auth_failure(serve: Any) -> None:
    mailer = SmtpMailer(HOST, serve(), SENDER, security="starttls", timeout=5)
    with pytest.raises(DeliveryError, match="STARTTLS") as caught:
        mailer.send(welcome())
    assert caught.value.kind is FailureKind.AUTH


def test_login_success_delivers(serve: Any, handler: RecordingHandler, tls: Tls) -> None:
    port = serve(
        tls_context=tls.server,
        require_starttls=True,
        authenticator=accept_only("cityhall", "s3cret"),
        auth_required=True,
    )
    mailer = SmtpMailer(
        HOST, port, SENDER, username="cityhall", password="s3cret", ssl_context=tls.client
    )
    mailer.send(welcome())
    assert len(handler.received) == 1


def test_wrong_password_is_an_auth_failure(serve: Any, tls: Tls) -> None:
    port = serve(
        tls_context=tls.server,
        require_starttls=True,
        authenticator=accept_only("cityhall", "s3cret"),
        auth_required=True,
    )
    mailer = SmtpMailer(
        HOST, port, SENDER, username="cityhall", password="wrong", ssl_context=tls.client
    )
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome())
    assert caught.value.kind is FailureKind.AUTH
    assert caught.value.code == 535


def test_sending_without_login_where_required_is_an_auth_failure(serve: Any, tls: Tls) -> None:
    port = serve(
        tls_context=tls.server,
        require_starttls=True,
        authenticator=accept_only("cityhall", "s3cret"),
        auth_required=True,
    )
    mailer = SmtpMailer(HOST, port, SENDER, ssl_context=tls.client)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome())
    assert caught.value.kind is FailureKind.AUTH
    assert caught.value.code == 530


def test_refused_recipient_is_invalid_and_the_error_hides_the_address(serve: Any) -> None:
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome(to="nobody@refused.example"))
    assert caught.value.kind is FailureKind.INVALID
    assert caught.value.code == 550
    assert "refused.example" not in str(caught.value)


def test_temporarily_refused_recipient_is_retried(serve: Any) -> None:
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome(to="someone@greylisted.example"))
    assert caught.value.kind is FailureKind.RETRY
    assert caught.value.code == 450


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("451 4.3.0 try again later", FailureKind.RETRY), ("554 5.7.1 rejected", FailureKind.INVALID)],
)
def test_message_rejected_at_data_is_classified_by_code(
    serve: Any, handler: RecordingHandler, reply: str, kind: FailureKind
) -> None:
    handler.data_reply = reply
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome())
    assert caught.value.kind is kind
    assert caught.value.code == int(reply[:3])


def test_server_down_is_retried() -> None:
    mailer = SmtpMailer(HOST, free_port(), SENDER, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(welcome())
    assert caught.value.kind is FailureKind.RETRY


def test_silent_server_times_out_and_is_retried() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        mailer = SmtpMailer(HOST, port, SENDER, security="none", timeout=0.3)
        with pytest.raises(DeliveryError) as caught:
            mailer.send(welcome())
    assert caught.value.kind is FailureKind.RETRY


@pytest.mark.parametrize(
    "message",
    [
        welcome(to="taro@example.jp\r\nBcc: everyone@example.jp"),
        welcome(to="not-an-address"),
        welcome(to="a@example.jp, b@example.jp"),
        welcome(**{"X-Cityhall-Key": "k\r\nBcc: x@example.jp"}),
        welcome(Bcc="x@example.jp"),
    ],
    ids=["crlf_in_to", "no_at", "two_recipients", "crlf_in_header", "bcc_header"],
)
def test_header_injection_and_bad_recipients_are_invalid(serve: Any, message: EmailMessage) -> None:
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(message)
    assert caught.value.kind is FailureKind.INVALID


def test_sender_without_address_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match=r"mail\.sender"):
        SmtpMailer(HOST, 25, "オンライン市役所")


def test_unknown_security_mode_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match=r"mail\.security"):
        SmtpMailer(HOST, 25, SENDER, security="tls")  # type: ignore[arg-type]


def test_nothing_personal_is_logged(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    mailer = SmtpMailer(HOST, serve(), SENDER, security="none", timeout=5)
    mailer.send(welcome())
    with pytest.raises(DeliveryError):
        mailer.send(welcome(to="nobody@refused.example"))
    mailer_records = [r for r in caplog.records if r.name.startswith("integrations")]
    assert mailer_records
    text = "\n".join(r.getMessage() for r in mailer_records)
    assert "taro@" not in text and "nobody@" not in text and "山田" not in text


def test_reply_to_reaches_the_server_and_is_absent_when_not_configured(
    serve: Any, handler: RecordingHandler
) -> None:
    port = serve()
    SmtpMailer(HOST, port, SENDER, security="none", timeout=5).send(welcome())
    SmtpMailer(
        HOST, port, SENDER, security="none", timeout=5, reply_to="事務局 <jimukyoku@example.jp>"
    ).send(welcome())
    without, with_reply_to = handler.received
    assert without["Reply-To"] is None
    assert with_reply_to["Reply-To"].addresses[0].addr_spec == "jimukyoku@example.jp"


@pytest.mark.parametrize("bad", ["jimukyoku", "a@example.jp\r\nBcc: x@example.jp"])
def test_a_reply_to_that_is_not_one_address_is_rejected_at_construction(bad: str) -> None:
    with pytest.raises(ValueError, match="reply_to"):
        SmtpMailer(HOST, 25, SENDER, security="none", reply_to=bad)
