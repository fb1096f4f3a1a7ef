"""The Bus protocol every backend implements, and the shapes it hands out.

Contract (checked by ``tests/bus/contract.py`` against every backend):

- ``publish(event)`` returns once the event is durable in that backend, and
  returns False (storing nothing) when an event with the same ``(source, id)``
  was published within the dedup window.
- ``subscribe(consumer, keys)`` opens a durable consumer named ``consumer``
  over the ``(eventSourceName, eventName)`` keys. A consumer sees the events
  published after it was first created; once created it keeps its place, and
  events that were delivered but never acked are delivered again (after a
  process restart too, on durable backends). Events of one key arrive in
  publish order.
- Each :class:`Delivery` is settled once: ``ack()`` (done) or ``nak(delay)``
  (deliver again, no sooner than ``delay`` seconds).
- ``kv(name)`` is a small key-value store for state that must survive restarts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from bus.event import Event

DEFAULT_DEDUP_WINDOW = 3600.0
"""Seconds within which a second event with the same (source, id) is dropped."""

DEFAULT_MAX_INFLIGHT = 256
"""Deliveries handed to one subscription and not yet settled, at most."""


class Key(NamedTuple):
    """What a consumer subscribes to: events of one EventSource's event name."""

    event_source: str
    event_name: str


@runtime_checkable
class Delivery(Protocol):
    """One event handed to a consumer, to be settled exactly once."""

    @property
    def event(self) -> Event: ...

    @property
    def attempt(self) -> int:
        """1 on first delivery, then 2, 3, ... on redeliveries."""
        ...

    async def ack(self) -> None:
        """The consumer is done with the event; it is not delivered again."""
        ...

    async def nak(self, delay: float = 0.0) -> None:
        """Deliver the event again, no sooner than ``delay`` seconds from now."""
        ...


@runtime_checkable
class Subscription(Protocol):
    """An async iterator of deliveries for one durable consumer."""

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def __anext__(self) -> Delivery: ...

    async def close(self) -> None:
        """Stop receiving; unsettled deliveries will be delivered again later."""
        ...


@runtime_checkable
class KeyValue(Protocol):
    """A small durable key-value store (sqlite: a table; JetStream: a KV bucket)."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self) -> list[str]: ...


@runtime_checkable
class Bus(Protocol):
    """An event bus: publish with dedup, durable consumers, key-value state."""

    @property
    def url(self) -> str:
        """The bus URL, credentials masked."""
        ...

    async def start(self) -> None:
        """Open connections and storage; must be awaited before anything else."""
        ...

    async def close(self) -> None:
        """Release everything; unsettled deliveries stay pending on durable backends."""
        ...

    async def publish(self, event: Event) -> bool:
        """Store ``event`` durably; False when it was a duplicate and was dropped."""
        ...

    async def subscribe(
        self,
        consumer: str,
        keys: Sequence[Key],
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> Subscription:
        """Open (creating if new) the durable consumer ``consumer`` over ``keys``."""
        ...

    async def kv(self, name: str) -> KeyValue:
        """The key-value store ``name``, created if absent."""
        ...
