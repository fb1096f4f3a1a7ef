"""The ``email`` trigger: send one mail per firing over SMTP.

``from`` is a Python keyword, so the attribute is ``from_`` and the manifest
spelling ``from`` is its alias.

:class:`EmailTriggerRunner` is the adapter (aiosmtplib, ``pip install
'herald[email]'``; the http trigger is its template). Per firing it applies
``email.parameters`` to its own spec (so events can fill ``to``, ``subject``
and ``body``; Argo applies them and then sends the unparameterised spec), then
sends one plain-text message to every recipient in one SMTP transaction, with
an ``X-Herald-Event-Ids`` header naming the events that fired it (Argo sends
one mail per recipient; one transaction means a retry never re-sends to some
recipients only).

Transport: port 465 is TLS from the first byte; any other port upgrades with
STARTTLS when the server offers it, and must when a username is set (the
password is never sent in clear). Port 0 means 587, the submission port.
Server certificates are verified against the system's trust store
(``SSL_CERT_FILE`` adds a private CA).

Failures: ``to``, ``from``, ``subject`` and ``body`` are required and
addresses must be ``name@domain`` (permanent, as in Argo); a 4xx reply,
a dropped connection and timeouts are temporary; a 5xx reply, refused
credentials, a rejected certificate or a server without STARTTLS (when
authenticating) are permanent. When the server accepts some recipients and
refuses others, the mail has gone to the accepted ones: that is a permanent
failure naming the refused, so that a retry does not send it twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import re
import ssl
from collections.abc import Mapping
from email.message import EmailMessage

from pydantic import Field

from bus.event import Event
from herald.core.errors import (
    PermanentTriggerError,
    SecretError,
    TemporaryTriggerError,
)
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.base import TriggerContext
from triggers.params import TriggerParameter, apply_to_spec


class EmailTrigger(Spec):
    """Send an email built from the events."""

    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(
        default=0, ge=0, le=65535, description="SMTP server port (0: the SMTP default)."
    )
    username: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the SMTP password."
    )
    from_: str | None = Field(default=None, alias="from", description="Sender address.")
    to: list[str] | None = Field(default=None, description="Recipient addresses.")
    subject: str | None = Field(default=None, description="Subject line.")
    body: str | None = Field(default=None, description="Message body (plain text).")
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this email spec, e.g. dest ``to.-1`` to add one."
    )


# ---------------------------------------------------------------------------- runner

DEFAULT_PORT = 587
IMPLICIT_TLS_PORT = 465
TIMEOUT_SECONDS = 30.0
EVENT_IDS_HEADER = "X-Herald-Event-Ids"

_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_EXCERPT = 200


class EmailTriggerRunner:
    """Sends one email per firing through an SMTP server."""

    def __init__(self, spec: EmailTrigger, context: TriggerContext) -> None:
        if importlib.util.find_spec("aiosmtplib") is None:
            raise ImportError("the email trigger needs aiosmtplib: pip install 'herald[email]'")
        self._context = context

    async def fire(self, spec: EmailTrigger, events: Mapping[str, Event]) -> str:
        """Send the mail for ``events``; return e.g. ``mailed 2 recipient(s) via smtp:587``."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "email")
        recipients = [_address(to, "email.to") for to in spec.to or []]
        if not recipients:
            raise PermanentTriggerError("email.to: at least one recipient is required")
        if not spec.from_:
            raise PermanentTriggerError("email.from: the sender address is required")
        sender = _address(spec.from_, "email.from")
        if not spec.subject:
            raise PermanentTriggerError("email.subject is required")
        if not spec.body:
            raise PermanentTriggerError("email.body is required")
        message = EmailMessage()
        try:
            message["From"] = spec.from_
            message["To"] = ", ".join(spec.to or [])
            message["Subject"] = spec.subject
        except ValueError as e:  # a line break in a header value (header injection)
            raise PermanentTriggerError(f"email: cannot build the message: {e}") from e
        message["Date"] = email.utils.formatdate(usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2])
        message[EVENT_IDS_HEADER] = ",".join(events[name].id for name in sorted(events))
        message.set_content(spec.body)
        password = self._password(spec)
        port = spec.port or DEFAULT_PORT
        where = f"{spec.host}:{port}"
        refused = await self._send(spec, port, where, message, sender, recipients, password)
        if refused:
            details = "; ".join(f"{to}: {code} {text}" for to, (code, text) in refused.items())
            raise PermanentTriggerError(
                f"email via {where}: accepted for {len(recipients) - len(refused)} recipient(s) "
                f"but refused for {details}"
            )
        return f"mailed {len(recipients)} recipient(s) via {where}"

    async def close(self) -> None:
        """Nothing to release: each firing opens and closes its SMTP connection."""

    def _password(self, spec: EmailTrigger) -> str | None:
        if spec.smtp_password is None:
            return None
        try:
            return self._context.secrets.secret(spec.smtp_password)
        except SecretError as e:
            raise PermanentTriggerError(f"email.smtpPassword: {e}") from e

    async def _send(
        self,
        spec: EmailTrigger,
        port: int,
        where: str,
        message: EmailMessage,
        sender: str,
        recipients: list[str],
        password: str | None,
    ) -> dict[str, tuple[int, str]]:
        import aiosmtplib

        implicit_tls = port == IMPLICIT_TLS_PORT
        authenticate = bool(spec.username)
        try:
            client = aiosmtplib.SMTP(
                hostname=spec.host,
                port=port,
                use_tls=implicit_tls,
                start_tls=None if implicit_tls or not authenticate else True,
                timeout=TIMEOUT_SECONDS,
            )
            opened: list[asyncio.BaseTransport | None] = []
            try:
                await client.connect()
                opened.append(client.transport)  # after STARTTLS: the TLS one
                if authenticate:
                    # Not in connect(): a refused login there closes the TLS
                    # transport gracefully, out of reach of the abort below.
                    await client.login(spec.username or "", password or "")
                refused, _ = await client.send_message(
                    message, sender=sender, recipients=recipients
                )
                await client.quit()
            finally:
                # End the connection within this firing. A failed handshake (an
                # untrusted certificate, a refused STARTTLS) leaves the transport
                # open, and closing a TLS transport only starts its shutdown, which
                # leaves the socket beneath it open until the server answers. The
                # session is over (QUIT answered, or failed): abort what is left.
                opened.append(client.transport)
                client.close()
                for transport in opened:
                    if isinstance(transport, asyncio.WriteTransport):
                        transport.abort()
                await asyncio.sleep(0)
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            text = "; ".join(f"{r.recipient}: {r.code} {_clean(r.message)}" for r in e.recipients)
            failure = f"email via {where}: every recipient was refused: {text}"
            if codes and all(400 <= code < 500 for code in codes):
                raise TemporaryTriggerError(failure) from e
            raise PermanentTriggerError(failure) from e
        except aiosmtplib.SMTPAuthenticationError as e:
            raise PermanentTriggerError(
                f"email via {where}: the server refused the credentials of {spec.username!r}: "
                f"{e.code} {_clean(e.message)}"
            ) from e
        except aiosmtplib.SMTPResponseException as e:
            failure = f"email via {where}: the server answered {e.code} {_clean(e.message)}"
            if 400 <= e.code < 500:
                raise TemporaryTriggerError(failure) from e
            raise PermanentTriggerError(failure) from e
        except ssl.SSLError as e:
            raise PermanentTriggerError(
                f"email via {where}: TLS failed ({_clean(str(e))}); trust the server's CA "
                "with SSL_CERT_FILE"
            ) from e
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError) as e:
            raise TemporaryTriggerError(f"email via {where}: {_clean(str(e))}") from e
        except aiosmtplib.SMTPTimeoutError as e:
            raise TemporaryTriggerError(f"email via {where}: timed out: {_clean(str(e))}") from e
        except aiosmtplib.SMTPException as e:
            text = _clean(str(e))
            if authenticate and "STARTTLS" in text:
                text += (
                    " (a username is set, so Herald requires STARTTLS or port 465 to protect "
                    "the password)"
                )
            raise PermanentTriggerError(f"email via {where}: {text}") from e
        return {to: (int(code), _clean(text)) for to, (code, text) in refused.items()}


def _address(text: str, where: str) -> str:
    """The bare address in ``text`` (``Name <a@b.c>`` or ``a@b.c``); permanent error if invalid."""
    _, address = email.utils.parseaddr(text)
    if not address or not _ADDRESS.match(address):
        raise PermanentTriggerError(f"{where}: {text!r} is not a valid email address")
    return address


def _clean(text: str) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= _EXCERPT else one_line[: _EXCERPT - 1] + "…"
