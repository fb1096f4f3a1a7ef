"""Fixtures for source adapter tests: the shared HTTP servers on 127.0.0.1, a memory bus,
emits that publish to it (or fail, or filter), and a helper that runs a source until
it is ready and cancels it afterwards.

Every test uses its own EventSource name and free ports; waits are on conditions
with a deadline, never sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bus.base import Key
from bus.event import Event
from bus.memory import MemoryBus
from eventsources.http_server import HTTPServers
from eventsources.source import Emit, EmitResult, Source
from herald.core.errors import BusError
from herald.core.refs import SecretStore
from tests.certs import self_signed
from tests.sink import free_port

DEADLINE = 10.0
"""Seconds any wait in these tests may take before it fails."""

BROKER_DEADLINE = 15.0
"""Seconds a source may take to be ready, and a broker test to see a condition
(brokers restart within it)."""


def unique(prefix: str = "es") -> str:
    """A Kubernetes-style name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    return path


@pytest.fixture
def secrets(secrets_dir: Path, tmp_path: Path) -> SecretStore:
    return SecretStore(secrets_dir=secrets_dir, configmaps_dir=tmp_path / "configmaps")


def put_secret(secrets_dir: Path, name: str, key: str, value: bytes) -> None:
    """Write a secret where the SecretStore reads it: <dir>/<name>/<key>."""
    (secrets_dir / name).mkdir(exist_ok=True)
    (secrets_dir / name / key).write_bytes(value)


@pytest.fixture
async def servers(secrets: SecretStore) -> AsyncIterator[HTTPServers]:
    servers = HTTPServers(host="127.0.0.1", secrets=secrets, grace=5.0)
    try:
        yield servers
    finally:
        await servers.close()


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


@dataclass
class Recorder:
    """An emit that publishes to the bus and remembers what the bus took."""

    bus: MemoryBus
    published: list[Event] = field(default_factory=list)
    calls: int = 0

    async def emit(self, event: Event) -> EmitResult:
        self.calls += 1
        if await self.bus.publish(event):
            self.published.append(event)
            return EmitResult.PUBLISHED
        return EmitResult.DUPLICATE


@pytest.fixture
def recorder(bus: MemoryBus) -> Recorder:
    return Recorder(bus)


async def failing_emit(event: Event) -> EmitResult:
    """An emit whose bus cannot take the event."""
    raise BusError(f"event {event.id}: the bus is down (test)")


async def filtering_emit(event: Event) -> EmitResult:
    """An emit whose EventSource filter drops every event."""
    return EmitResult.FILTERED


async def until_ready(
    source: Source, task: asyncio.Task[None] | None = None, deadline: float = BROKER_DEADLINE
) -> None:
    """Wait until ``source`` is ready (polling); fail after ``deadline`` or if ``task`` ends.

    Polled rather than awaited, as these tests always have: a core NATS test that
    publishes the instant the source is ready loses its first messages in about
    one run in six. Core NATS is at most once, and a publish from another
    connection that closely follows a flushed subscription is not always routed
    to it (seen with nats-py alone too: 5 of 60 rounds received nothing).
    """
    await until(
        lambda: source.ready.is_set() or (task is not None and task.done()),
        "the source is ready",
        deadline,
    )
    if task is not None and task.done():
        task.result()  # raises what made the source stop
        raise AssertionError("the source returned before it was cancelled")


@asynccontextmanager
async def running(
    source: Source, emit: Emit, *, wait_ready: bool = True
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``source`` as a named task for the block (ready first, unless told not to)."""
    task = asyncio.create_task(source.run(emit), name=f"test-source-{uuid.uuid4().hex[:6]}")
    try:
        if wait_ready:
            await until_ready(source, task)
        yield task
    finally:
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            raise AssertionError("the source failed") from task.exception()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        yield session


async def next_event(bus: MemoryBus, key: Key, consumer: str) -> Event:
    """The next event on ``key`` for ``consumer`` (subscribed before), within the deadline."""
    sub = await bus.subscribe(consumer, [key])
    try:
        async with asyncio.timeout(DEADLINE):
            delivery = await anext(aiter(sub))
        await delivery.ack()
        return delivery.event
    finally:
        await sub.close()


async def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, CRLF-separated, no blank line) and ``body``
    over a plain socket, exactly as written; return the status and the answer's body.

    For what aiohttp's client will not send (repeated headers, a Content-Length
    that the body does not match).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(DEADLINE):
            answer = await reader.readuntil(b"\r\n\r\n")
            status = int(answer.split(b" ", 2)[1])
            length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            return status, await reader.readexactly(length)
    finally:
        writer.close()


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""

    cert: bytes
    key: bytes
    cert_path: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_path))


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost (tests.certs)."""
    cert, key = self_signed()
    where = tmp_path / "pki"
    where.mkdir()
    cert_path = where / "tls.crt"
    cert_path.write_bytes(cert)
    return Certificate(cert, key, cert_path)


# --- broker sources (nats, mqtt): waiting on a stream, and an emit that remembers ----------


async def until(
    condition: Callable[[], bool], what: str, deadline: float = BROKER_DEADLINE
) -> None:
    """Wait until ``condition()`` holds, polling, or fail after ``deadline`` seconds."""

    async def check() -> bool:
        return condition()

    await until_async(check, what, deadline)


async def until_async(
    condition: Callable[[], Awaitable[bool]], what: str, deadline: float = BROKER_DEADLINE
) -> None:
    """Wait until ``await condition()`` holds, polling, or fail after ``deadline`` seconds."""
    try:
        async with asyncio.timeout(deadline):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within {deadline}s: {what}") from None


class Collector:
    """An emit that publishes to a memory bus and remembers what the bus took."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.published: list[Event] = []
        self.calls = 0
        self.refuse = 0
        """How many of the next emits raise BusError (the bus is down)."""
        self.delay = 0.0
        """Seconds each emit takes (a slow bus keeps a stream in flight)."""
        self.gate: asyncio.Event | None = None
        """When set to an unset event, emits wait for it (a slow bus)."""

    async def emit(self, event: Event) -> EmitResult:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse > 0:
            self.refuse -= 1
            raise BusError(f"event {event.id}: the bus is down (test)")
        if await self.bus.publish(event):
            self.published.append(event)
            return EmitResult.PUBLISHED
        return EmitResult.DUPLICATE

    def bodies(self) -> list[Any]:
        return [event.data["body"] for event in self.published]

    def payloads(self) -> list[bytes]:
        return [base64.b64decode(event.data["body"]) for event in self.published]

    async def wait_for(self, count: int) -> None:
        await until(lambda: len(self.published) >= count, f"{count} events")


@pytest.fixture
def collector(bus: MemoryBus) -> Collector:
    return Collector(bus)
