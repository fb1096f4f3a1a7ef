"""The in-process bus (``memory://``): the Bus contract with nothing durable.

It exists for tests and for throwaway ``herald run`` sessions: every event,
consumer position and key-value entry lives in this process and is gone when
the bus closes or the process exits. Apart from durability it behaves exactly
like the sqlite backend and passes the same contract suite
(``tests/bus/contract.py``):

- ``publish`` checks that the event serialises (so data that could not go on a
  real bus is refused here too, with :class:`~herald.core.errors.BusError`)
  and drops a second ``(source, id)`` seen within the dedup window (monotonic
  clock). Deliveries hand out the published :class:`~bus.event.Event` itself,
  shared by every consumer: event data is read-only by contract.
- A consumer is created by its first ``subscribe`` and sees the events
  published after that; it keeps collecting events for its keys while no
  subscription is open, until the bus closes. Subscribing again with other
  keys changes the keys for events published from then on.
- Consumers are exclusive: a second ``subscribe`` to a consumer that already
  has an open subscription raises :class:`~herald.core.errors.BusError`
  (a sensor's partial state assumes one active reader).
- Each subscription hands out at most ``max_inflight`` unsettled deliveries,
  in publish order (redeliveries first: they are older). A delivery still
  unsettled when its subscription closes is delivered again, with
  ``attempt + 1``, to the next subscription of that consumer.
- Settling one delivery twice raises :class:`~herald.core.errors.BusError`.
  ``ack()`` after the subscription closed still acks the event (a handler that
  finished during shutdown is not redone); ``nak()`` then is a no-op, since the
  close already released the event for redelivery.
- After ``close()`` every method raises
  :class:`~herald.core.errors.BusClosedError`, except ``close()`` itself and
  ``Subscription.close()``, which are idempotent; open subscriptions end their
  iteration with ``StopAsyncIteration``.

Memory stays bounded by the backlog: an event is kept once, shared by the
consumers that still owe it an ack, and dropped when the last one acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import math
import time
from collections import deque
from collections.abc import Sequence
from typing import Self
from urllib.parse import urlsplit

from bus.base import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_MAX_INFLIGHT,
    Delivery,
    Key,
    KeyValue,
    Subscription,
)
from bus.event import Event
from herald.core.errors import BusClosedError, BusError, ConfigError

__all__ = ["MemoryBus"]


class _State(enum.Enum):
    READY = "ready"
    DELAYED = "delayed"
    LEASED = "leased"


class _Entry:
    """One event a consumer still owes an ack for."""

    __slots__ = ("attempts", "due", "event", "lease", "seq", "state")

    def __init__(self, seq: int, event: Event) -> None:
        self.seq = seq
        self.event = event
        self.attempts = 0
        self.state = _State.READY
        self.due = 0.0
        self.lease: _MemoryDelivery | None = None


class _Consumer:
    """A durable (for the bus's lifetime) consumer: its keys and its backlog.

    ``ready`` and ``delayed`` are heaps with lazy deletion: an item whose entry
    was acked meanwhile, or changed state, is skipped when popped.
    """

    __slots__ = ("delayed", "entries", "keys", "name", "ready", "subscription")

    def __init__(self, name: str, keys: frozenset[Key]) -> None:
        self.name = name
        self.keys = keys
        self.entries: dict[int, _Entry] = {}
        self.ready: list[int] = []
        self.delayed: list[tuple[float, int]] = []
        self.subscription: _MemorySubscription | None = None

    def add(self, seq: int, event: Event) -> None:
        self.entries[seq] = _Entry(seq, event)
        heapq.heappush(self.ready, seq)

    def make_ready(self, entry: _Entry) -> None:
        entry.state = _State.READY
        entry.lease = None
        heapq.heappush(self.ready, entry.seq)

    def delay(self, entry: _Entry, due: float) -> None:
        entry.state = _State.DELAYED
        entry.lease = None
        entry.due = due
        heapq.heappush(self.delayed, (due, entry.seq))

    def take(self, now: float) -> _Entry | None:
        """The oldest entry that may be delivered now, or None."""
        while self.delayed and self.delayed[0][0] <= now:
            due, seq = heapq.heappop(self.delayed)
            entry = self.entries.get(seq)
            if entry is not None and entry.state is _State.DELAYED and entry.due == due:
                self.make_ready(entry)
        while self.ready:
            seq = heapq.heappop(self.ready)
            entry = self.entries.get(seq)
            if entry is not None and entry.state is _State.READY:
                return entry
        return None

    def next_due(self) -> float | None:
        """When the earliest delayed entry becomes deliverable (loop time), if any."""
        while self.delayed:
            due, seq = self.delayed[0]
            entry = self.entries.get(seq)
            if entry is not None and entry.state is _State.DELAYED and entry.due == due:
                return due
            heapq.heappop(self.delayed)
        return None


class _MemoryDelivery:
    """One event handed to a subscription; settle it once with ack() or nak()."""

    __slots__ = ("_attempt", "_bus", "_consumer", "_entry", "_event", "_settled", "_subscription")

    def __init__(
        self,
        bus: MemoryBus,
        subscription: _MemorySubscription,
        consumer: _Consumer,
        entry: _Entry,
    ) -> None:
        self._bus = bus
        self._subscription = subscription
        self._consumer = consumer
        self._entry = entry
        self._event = entry.event
        self._attempt = entry.attempts
        self._settled: str | None = None

    @property
    def event(self) -> Event:
        return self._event

    @property
    def attempt(self) -> int:
        return self._attempt

    def _settle(self, how: str) -> None:
        self._bus._check_open()
        if self._settled is not None:
            raise BusError(
                f"delivery of event {self._event.id!r} (source {self._event.source!r}) to "
                f"consumer {self._consumer.name!r} was already {self._settled}; "
                "settle each delivery exactly once"
            )
        self._settled = how
        self._subscription._settled(self)

    async def ack(self) -> None:
        """Done with the event: it is not delivered to this consumer again."""
        self._settle("acked")
        entries = self._consumer.entries
        if entries.get(self._entry.seq) is self._entry:
            del entries[self._entry.seq]

    async def nak(self, delay: float = 0.0) -> None:
        """Deliver the event again, no sooner than ``delay`` seconds from now."""
        delay = _check_delay(delay)
        self._settle("nakked")
        entry = self._entry
        if entry.lease is not self or self._consumer.entries.get(entry.seq) is not entry:
            return  # released when its subscription closed (already due again), or acked
        if delay > 0:
            self._consumer.delay(entry, asyncio.get_running_loop().time() + delay)
        else:
            self._consumer.make_ready(entry)
        sub = self._consumer.subscription
        if sub is not None:
            sub._wake.set()


class _MemorySubscription:
    """The open reader of one consumer; iterate it for deliveries."""

    def __init__(self, bus: MemoryBus, consumer: _Consumer, max_inflight: int) -> None:
        self._bus = bus
        self._consumer = consumer
        self._max_inflight = max_inflight
        self._unsettled: set[_MemoryDelivery] = set()
        self._wake = asyncio.Event()
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise StopAsyncIteration
            self._wake.clear()
            timeout: float | None = None
            if len(self._unsettled) < self._max_inflight:
                now = loop.time()
                entry = self._consumer.take(now)
                if entry is not None:
                    return self._lease(entry)
                due = self._consumer.next_due()
                if due is not None:
                    timeout = due - now
            await _wait(self._wake, timeout)

    def _lease(self, entry: _Entry) -> _MemoryDelivery:
        entry.attempts += 1
        entry.state = _State.LEASED
        delivery = _MemoryDelivery(self._bus, self, self._consumer, entry)
        entry.lease = delivery
        self._unsettled.add(delivery)
        return delivery

    def _settled(self, delivery: _MemoryDelivery) -> None:
        if delivery in self._unsettled:
            self._unsettled.discard(delivery)
            self._wake.set()

    def _end(self) -> None:
        """Release unsettled deliveries for redelivery and end the iteration."""
        if self._closed:
            return
        self._closed = True
        consumer = self._consumer
        for delivery in sorted(self._unsettled, key=lambda d: d._entry.seq):
            entry = delivery._entry
            if entry.lease is delivery and consumer.entries.get(entry.seq) is entry:
                consumer.make_ready(entry)
        self._unsettled.clear()
        if consumer.subscription is self:
            consumer.subscription = None
        self._wake.set()

    async def close(self) -> None:
        """Stop receiving; unsettled deliveries go to the next subscription. Idempotent."""
        self._end()


class _MemoryKeyValue:
    """A bucket of the in-memory key-value store."""

    def __init__(self, bus: MemoryBus, data: dict[str, bytes]) -> None:
        self._bus = bus
        self._data = data

    async def get(self, key: str) -> bytes | None:
        self._bus._check_open()
        return self._data.get(key)

    async def put(self, key: str, value: bytes) -> None:
        self._bus._check_open()
        self._data[key] = bytes(value)

    async def delete(self, key: str) -> None:
        self._bus._check_open()
        self._data.pop(key, None)

    async def keys(self) -> list[str]:
        self._bus._check_open()
        return sorted(self._data)


class MemoryBus:
    """The ``memory://`` bus: in-process, nothing durable. See the module docstring."""

    def __init__(self, *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> None:
        self._dedup_window = _check_window(dedup_window)
        self._started = False
        self._closed = False
        self._seq = 0
        self._dedup: dict[tuple[str, str], float] = {}
        self._dedup_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._consumers: dict[str, _Consumer] = {}
        self._routes: dict[tuple[str, str], list[_Consumer]] = {}
        self._buckets: dict[str, dict[str, bytes]] = {}

    @classmethod
    def from_url(cls, url: str, *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> MemoryBus:
        """A bus for ``memory://`` (nothing may follow the scheme)."""
        parts = urlsplit(url)
        if parts.scheme != "memory" or parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ConfigError(f"a memory bus URL is exactly 'memory://', got {url!r}")
        return cls(dedup_window=dedup_window)

    @property
    def url(self) -> str:
        return "memory://"

    @property
    def dedup_window(self) -> float:
        """Seconds within which a repeated (source, id) is dropped."""
        return self._dedup_window

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the memory:// bus is closed; open a new one")
        if not self._started:
            raise BusError("the memory:// bus is not started; await bus.start() first")

    async def start(self) -> None:
        """Mark the bus usable (there is nothing to open). Idempotent."""
        if self._closed:
            raise BusClosedError("the memory:// bus is closed and cannot be restarted")
        self._started = True

    async def close(self) -> None:
        """End open subscriptions and drop everything. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for consumer in self._consumers.values():
            if consumer.subscription is not None:
                consumer.subscription._end()
        self._consumers.clear()
        self._routes.clear()
        self._buckets.clear()
        self._dedup.clear()
        self._dedup_order.clear()

    async def publish(self, event: Event) -> bool:
        """Hand ``event`` to every consumer of its key; False for a duplicate."""
        if self._closed or not self._started:
            self._check_open()
        event.check_storable()  # refuse what a durable bus could not store
        now = time.monotonic()
        horizon = now - self._dedup_window
        order, seen = self._dedup_order, self._dedup
        while order and order[0][0] <= horizon:
            at, old = order.popleft()
            if seen.get(old) == at:
                del seen[old]
        ident = (event.source, event.id)
        if ident in seen:
            return False
        seen[ident] = now
        order.append((now, ident))
        # A Key is a tuple, so a plain one finds it without building a NamedTuple per event.
        consumers = self._routes.get((event.source, event.subject))
        if consumers:
            self._seq += 1
            for consumer in consumers:
                consumer.add(self._seq, event)
                if consumer.subscription is not None:
                    consumer.subscription._wake.set()
        return True

    async def subscribe(
        self,
        consumer: str,
        keys: Sequence[Key],
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> Subscription:
        """Open consumer ``consumer`` (created if new) over ``keys``; exclusive."""
        self._check_open()
        wanted = _check_subscribe(consumer, keys, max_inflight)
        state = self._consumers.get(consumer)
        if state is None:
            state = self._consumers[consumer] = _Consumer(consumer, wanted)
            self._route()
        elif state.subscription is not None:
            raise BusError(
                f"consumer {consumer!r} already has an open subscription on memory://; "
                "consumers are exclusive: close the other subscription first"
            )
        elif state.keys != wanted:
            state.keys = wanted
            self._route()
        sub = _MemorySubscription(self, state, max_inflight)
        state.subscription = sub
        return sub

    def _route(self) -> None:
        routes: dict[tuple[str, str], list[_Consumer]] = {}
        for state in self._consumers.values():
            for key in state.keys:
                routes.setdefault(key, []).append(state)
        self._routes = routes

    async def kv(self, name: str) -> KeyValue:
        """The in-memory bucket ``name``, created if absent."""
        self._check_open()
        if not name:
            raise ValueError("a key-value bucket needs a non-empty name")
        return _MemoryKeyValue(self, self._buckets.setdefault(name, {}))


def _check_window(dedup_window: float) -> float:
    if not math.isfinite(dedup_window) or dedup_window < 0:
        raise ConfigError(
            f"dedup window must be a finite number of seconds >= 0, got {dedup_window}"
        )
    return float(dedup_window)


def _check_delay(delay: float) -> float:
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"nak delay must be a finite number of seconds >= 0, got {delay}")
    return float(delay)


def _check_subscribe(consumer: str, keys: Sequence[Key], max_inflight: int) -> frozenset[Key]:
    if not consumer:
        raise ValueError("a consumer needs a non-empty name")
    if max_inflight < 1:
        raise ValueError(f"max_inflight must be >= 1, got {max_inflight} (consumer {consumer!r})")
    return frozenset(Key(*key) for key in keys)


async def _wait(wake: asyncio.Event, seconds: float | None) -> None:
    """Wait until ``wake`` is set, or ``seconds`` passed (None: no limit)."""
    if seconds is None:
        await wake.wait()
        return
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
