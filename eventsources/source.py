"""The Source protocol every EventSource adapter implements, and the registry of types.

A source is one event of one EventSource (one entry of a type's map, e.g.
``webhook.example``). Its ``run(emit)`` only returns on shutdown (it is
cancelled); it sets ``ready`` once it truly listens or is subscribed; and it
acknowledges its input (HTTP 200, Kafka offset commit, JetStream ack, MQTT
PUBACK) only after ``emit`` returned, i.e. after the bus has the event.

``emit`` is built by the process that runs the source: it applies the
EventSource-level ``filter`` and publishes to the bus. It returns what became of
the event; it raises :class:`~herald.core.errors.BusError` when the bus could
not take it (an HTTP source answers 5xx then, a broker source does not ack).

Dispatch is by the spec field name (``webhook``, ``github``, ...) through
:data:`REGISTRY`, whose values name the adapter lazily so that importing this
module loads no optional client.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bus.event import Event
from herald.core.refs import SecretStore
from herald.core.registry import resolve

if TYPE_CHECKING:
    from bus.base import KeyValue
    from eventsources.http_server import HTTPServers


class EmitResult(enum.Enum):
    """What became of an emitted event."""

    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    """The bus already had an event with this (source, id) within its dedup window."""
    FILTERED = "filtered"
    """The EventSource's filter dropped it; the input is still acknowledged."""


Emit = Callable[[Event], Awaitable[EmitResult]]


@dataclass(slots=True)
class SourceContext:
    """What a source adapter may use: its names, secrets and the shared HTTP servers."""

    event_source: str
    event_name: str
    secrets: SecretStore = field(default_factory=SecretStore)
    http: HTTPServers | None = None
    kv: Callable[[str], Awaitable[KeyValue]] | None = None
    """The bus's key-value stores (``bus.kv``), for state kept across restarts (calendar)."""


@runtime_checkable
class Source(Protocol):
    """One event of one EventSource, turning outside input into events."""

    @property
    def ready(self) -> asyncio.Event:
        """Set once the source truly listens or is subscribed."""
        ...

    async def run(self, emit: Emit) -> None:
        """Take input and emit events until cancelled."""
        ...


class SourceFactory(Protocol):
    """Builds the source for one event's config."""

    def __call__(self, config: Any, context: SourceContext) -> Source: ...


REGISTRY: dict[str, str] = {
    "webhook": "eventsources.webhook:WebhookSource",
    "github": "eventsources.github:GithubSource",
    "nats": "eventsources.nats:NATSSource",
    "mqtt": "eventsources.mqtt:MQTTSource",
    "kafka": "eventsources.kafka:KafkaSource",
    "calendar": "eventsources.calendar:CalendarSource",
}
"""Spec field name of a source type -> ``module:attribute`` of its factory."""


def factory(kind: str) -> SourceFactory:
    """The factory for event source type ``kind``; ConfigError when Herald cannot run it."""
    made: SourceFactory = resolve(REGISTRY, kind, "event source")
    return made
