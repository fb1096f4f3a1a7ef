"""The email trigger against a real SMTP server (aiosmtpd) on a free port.

One server is plain SMTP; one offers STARTTLS with a certificate made here
(signed by a test CA that the client trusts through ``SSL_CERT_FILE``) and
requires AUTH over TLS. The server refuses recipients and messages the way
SMTP servers do (4xx/5xx) to exercise how failures are sorted.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bus.event import Event
from herald.core.errors import PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from tests.certs import Certificates
from triggers.base import TriggerContext, factory
from triggers.email import EVENT_IDS_HEADER, EmailTrigger, EmailTriggerRunner

USER, PASSWORD = "mailer", "s3cret-pw"


@dataclass
class Mailbox:
    """What the SMTP server received, and how it should refuse."""

    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        if address.startswith("full"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content)
        if "tempfail" in str(message["Subject"]):
            return "451 4.3.0 try again later"
        if "spam" in str(message["Subject"]):
            return "554 5.7.1 message rejected"
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    mailbox: Mailbox
    port: int


@pytest.fixture
def smtp() -> Iterator[Server]:
    """A plain SMTP server (no TLS, no AUTH)."""
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Server(mailbox, port)
    finally:
        controller.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> Certificates:
    """A test CA and a server certificate for 127.0.0.1 signed by it."""
    return Certificates.make(tmp_path / "pki")


@pytest.fixture
def smtp_tls(tls_files: Certificates) -> Iterator[Server]:
    """An SMTP server offering STARTTLS and requiring AUTH over TLS."""
    mailbox = Mailbox()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    port = _free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield Server(mailbox, port)
    finally:
        controller.stop()


@pytest.fixture
def trusted_ca(tls_files: Certificates, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the client trust the test CA, as a user with a private CA would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    return tls_files.ca


def event(data: Any = None, id: str = "evt-1") -> Event:
    body = data or {"body": {"service": "api", "status": "degraded", "owner": "ops@example.com"}}
    return Event.new(source="webhook", type="webhook", subject="alerts", data=body, id=id)


EVENTS = {"alert": event()}


def spec(port: int, **fields: Any) -> EmailTrigger:
    base = {
        "host": "127.0.0.1",
        "port": port,
        "from": "Herald <herald@example.com>",
        "to": ["oncall@example.com"],
        "subject": "alert",
        "body": "something happened",
    }
    return EmailTrigger.model_validate({**base, **fields})


async def fire(
    secrets: SecretStore, port: int, events: Mapping[str, Event] = EVENTS, **fields: Any
) -> str:
    model = spec(port, **fields)
    context = TriggerContext(sensor="s", trigger="mail", secrets=secrets)
    return await EmailTriggerRunner(model, context).fire(model, events)


def param(dest: str, **src: Any) -> dict[str, Any]:
    return {"src": {"dependencyName": "alert", **src}, "dest": dest}


async def test_sends_one_message_to_every_recipient_with_parameters(
    smtp: Server, secrets: SecretStore
) -> None:
    outcome = await fire(
        secrets,
        smtp.port,
        to=["oncall@example.com"],
        subject="placeholder",
        parameters=[
            param("to.-1", dataKey="body.owner"),
            param("subject", dataKey="body.service"),
            param("body", dataKey="body.status"),
        ],
    )

    assert outcome == f"mailed 2 recipient(s) via 127.0.0.1:{smtp.port}"
    [(sender, recipients, message)] = smtp.mailbox.messages
    assert sender == "herald@example.com"
    assert recipients == ["oncall@example.com", "ops@example.com"]
    assert message["Subject"] == "api"
    assert message["From"] == "Herald <herald@example.com>"
    assert message["To"] == "oncall@example.com, ops@example.com"
    assert message[EVENT_IDS_HEADER] == "evt-1"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_payload(decode=True).decode().strip() == "degraded"  # type: ignore[union-attr]


async def test_starttls_and_auth_with_the_password_from_a_secret(
    smtp_tls: Server, secrets: SecretStore, trusted_ca: Path
) -> None:
    folder = secrets.secrets_dir / "smtp"
    folder.mkdir(parents=True)
    (folder / "password").write_text(PASSWORD + "\n")

    outcome = await fire(
        secrets,
        smtp_tls.port,
        username=USER,
        smtpPassword={"name": "smtp", "key": "password"},
    )

    assert outcome.startswith("mailed 1 recipient(s)")
    assert smtp_tls.mailbox.logins == [USER]
    assert len(smtp_tls.mailbox.messages) == 1


async def test_a_wrong_password_is_permanent_and_not_shown(
    smtp_tls: Server, secrets: SecretStore, trusted_ca: Path
) -> None:
    folder = secrets.secrets_dir / "smtp"
    folder.mkdir(parents=True)
    (folder / "password").write_text("wrong-pw")

    with pytest.raises(PermanentTriggerError, match="refused the credentials") as caught:
        await fire(
            secrets, smtp_tls.port, username=USER, smtpPassword={"name": "smtp", "key": "password"}
        )

    assert "wrong-pw" not in str(caught.value)
    assert smtp_tls.mailbox.messages == []


async def test_an_untrusted_certificate_is_permanent(
    smtp_tls: Server, secrets: SecretStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    folder = secrets.secrets_dir / "smtp"
    folder.mkdir(parents=True)
    (folder / "password").write_text(PASSWORD)

    with pytest.raises(PermanentTriggerError, match="TLS failed"):
        await fire(
            secrets, smtp_tls.port, username=USER, smtpPassword={"name": "smtp", "key": "password"}
        )


async def test_auth_without_starttls_is_refused_rather_than_sent_in_clear(
    smtp: Server, secrets: SecretStore
) -> None:
    folder = secrets.secrets_dir / "smtp"
    folder.mkdir(parents=True)
    (folder / "password").write_text(PASSWORD)

    with pytest.raises(PermanentTriggerError, match="requires STARTTLS"):
        await fire(
            secrets, smtp.port, username=USER, smtpPassword={"name": "smtp", "key": "password"}
        )

    assert smtp.mailbox.messages == []


@pytest.mark.parametrize(
    ("to", "error", "match"),
    [
        (["nobody@example.com"], PermanentTriggerError, "every recipient was refused.*550"),
        (["full@example.com"], TemporaryTriggerError, "every recipient was refused.*452"),
        (
            ["oncall@example.com", "nobody@example.com"],
            PermanentTriggerError,
            r"accepted for 1 recipient\(s\) but refused for nobody@example.com: 550",
        ),
    ],
)
async def test_refused_recipients(
    smtp: Server,
    secrets: SecretStore,
    to: list[str],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        await fire(secrets, smtp.port, to=to)


@pytest.mark.parametrize(
    ("subject", "error", "match"),
    [
        ("tempfail", TemporaryTriggerError, "answered 451"),
        ("spam", PermanentTriggerError, "answered 554"),
    ],
)
async def test_a_refused_message_is_sorted_by_reply_code(
    smtp: Server, secrets: SecretStore, subject: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await fire(secrets, smtp.port, subject=subject)


async def test_an_unreachable_server_is_temporary(secrets: SecretStore) -> None:
    with pytest.raises(TemporaryTriggerError, match=r"email via 127\.0\.0\.1"):
        await fire(secrets, _free_port())


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"to": []}, "at least one recipient"),
        ({"to": ["not-an-address"]}, "'not-an-address' is not a valid email address"),
        ({"from": None}, "sender address is required"),
        ({"subject": ""}, "email.subject is required"),
        ({"body": None}, "email.body is required"),
    ],
)
async def test_incomplete_mails_are_permanent_and_not_sent(
    smtp: Server, secrets: SecretStore, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(PermanentTriggerError, match=match):
        await fire(secrets, smtp.port, **fields)

    assert smtp.mailbox.messages == []


async def test_a_line_break_from_an_event_cannot_inject_headers(
    smtp: Server, secrets: SecretStore
) -> None:
    events = {"alert": event({"body": {"service": "api\r\nBcc: victim@example.com"}})}

    with pytest.raises(PermanentTriggerError, match="cannot build the message"):
        await fire(
            secrets, smtp.port, events, parameters=[param("subject", dataKey="body.service")]
        )

    assert smtp.mailbox.messages == []


def test_the_registry_builds_the_email_runner(secrets: SecretStore) -> None:
    context = TriggerContext(sensor="s", trigger="t", secrets=secrets)
    assert isinstance(factory("email")(spec(25), context), EmailTriggerRunner)
