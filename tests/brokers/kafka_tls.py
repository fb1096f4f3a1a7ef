"""TLS in front of the test Kafka broker, and the certificates for it.

tansu 0.6.0 cannot serve TLS itself: its ``--cert`` and ``--key`` options sit
in one command-line argument group that admits only one of them, so
``tansu broker --cert tls.crt --key tls.key`` exits with ``error: the argument
'--cert <CERT>' cannot be used with '--key <KEY>'``, and with only one of them
the broker listens in plain TCP (a TLS client's handshake gets no answer).

:class:`TLSFront` is therefore what the Kafka TLS tests run against: a
TLS-terminating front, as a load balancer in front of brokers is, on its own
port of 127.0.0.1, passing the bytes of each connection on to the plaintext
broker, which advertises the front's address (``KafkaBroker(advertised_port=...)``)
so that every connection a client makes goes through it. The TLS handshake,
the certificate checks and the client certificate are real; the Kafka protocol
behind them is the real broker's. :class:`Certificates` makes a CA, a server
certificate for 127.0.0.1 and a client certificate with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.brokers.kafka import free_port

_CHUNK = 65536


@dataclass(frozen=True)
class Certificates:
    """PEM files in one directory: a CA, a server certificate for 127.0.0.1, a client one.

    ``other_ca`` is a second CA that signed nothing here: a client that trusts
    only it must refuse the server.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    @classmethod
    def make(cls, directory: Path) -> Certificates:
        ca_key, ca_cert = _authority("Herald test CA")
        _, other_cert = _authority("Some other CA")
        server_key, server_cert = _leaf(
            ca_key, ca_cert, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, server=True
        )
        client_key, client_cert = _leaf(
            ca_key, ca_cert, "herald-client", ExtendedKeyUsageOID.CLIENT_AUTH, server=False
        )
        files = {
            "ca": _pem(ca_cert),
            "server_cert": _pem(server_cert),
            "server_key": _key_pem(server_key),
            "client_cert": _pem(client_cert),
            "client_key": _key_pem(client_key),
            "other_ca": _pem(other_cert),
        }
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, data in files.items():
            path = directory / f"{name}.pem"
            path.write_bytes(data)
            paths[name] = path
        return cls(**paths)

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """The front's context; with ``require_client_cert``, clients must show one of the CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.load_verify_locations(cafile=self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class TLSFront:
    """Accepts TLS on 127.0.0.1:``port`` and relays each connection to ``target_port`` in plain TCP.

    An async context manager; closing it closes every relayed connection too,
    as a broker that went away would.
    """

    def __init__(self, context: ssl.SSLContext, target_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self._context = context
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.handshakes = 0
        """Connections whose TLS handshake succeeded."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Self:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, ssl=self._context
        )
        return self

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        """One client connection (its handshake done): pipe it to the broker and back."""
        self.handshakes += 1
        self._writers.add(client)
        try:
            try:
                broker_reader, broker = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return  # the broker is down: the client sees its connection closed
            self._writers.add(broker)
            try:
                async with asyncio.TaskGroup() as pipes:
                    pipes.create_task(_pipe(client_reader, broker), name="tls-front-up")
                    pipes.create_task(_pipe(broker_reader, client), name="tls-front-down")
            finally:
                self._writers.discard(broker)
                broker.close()
        finally:
            self._writers.discard(client)
            client.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side closes; then close the other direction too."""
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # one side went away: the relay ends and closes both
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


def _authority(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key, _validity(builder).sign(key, hashes.SHA256())


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common: str,
    usage: x509.ObjectIdentifier,
    *,
    server: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(common))]),
            critical=False,
        )
    return key, _validity(builder).sign(ca_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
