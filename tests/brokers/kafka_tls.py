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
behind them is the real broker's. :class:`tests.certs.Certificates` makes a CA, a server
certificate for 127.0.0.1 and a client certificate with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType
from typing import Self

from tests.brokers.kafka import free_port

_CHUNK = 65536


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
