"""The Bus behaviour contract, written once and run against every backend.

A backend's test module subclasses :class:`BusContract` and implements
:meth:`BusContract.make_bus`; every ``test_*`` method here then runs against
it (``tests/bus/test_memory.py``, ``tests/bus/test_sqlite.py``). Durability
across restarts is backend-specific and tested in the backend's own module.

Waiting: a test never sleeps to let something happen; it waits for the
delivery with a deadline (:func:`receive`). To show that something is *not*
delivered it publishes a sentinel afterwards and checks that the sentinel
comes next (events of one key arrive in publish order). Only backpressure,
where nothing may arrive at all, waits a short quiet period
(:meth:`BusContract.assert_blocked`), and only the dedup-window test waits for
time itself to pass (a window of a fraction of a second).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bus.base import DEFAULT_DEDUP_WINDOW, Bus, Delivery, Key, KeyValue, Subscription
from bus.event import Event
from herald.core.errors import BusClosedError, BusError

DEADLINE = 5.0
"""Seconds a test waits for a delivery that must come."""

KEY = Key("es", "ev")

BusFactory = Callable[..., Awaitable[Bus]]


def event(n: int | str, *, source: str = "es", subject: str = "ev", data: Any = None) -> Event:
    """A small event with the stable id ``id-<n>`` on key (source, subject)."""
    return Event.new(
        source=source,
        type="webhook",
        subject=subject,
        id=f"id-{n}",
        data={"n": n} if data is None else data,
    )


async def receive(sub: Subscription, deadline: float = DEADLINE) -> Delivery:
    """The next delivery of ``sub``; fails the test if none comes within ``deadline`` s."""
    try:
        return await asyncio.wait_for(anext(sub), deadline)
    except TimeoutError:
        pytest.fail(f"no delivery within {deadline} s")


async def receive_ids(sub: Subscription, count: int, *, ack: bool = True) -> list[str]:
    """The event ids of the next ``count`` deliveries, acked unless told otherwise."""
    ids = []
    for _ in range(count):
        delivery = await receive(sub)
        ids.append(delivery.event.id)
        if ack:
            await delivery.ack()
    return ids


class BusContract:
    """The behaviour every Bus backend shares. Subclass and implement make_bus."""

    quiet_period = 0.05
    """Seconds :meth:`assert_blocked` waits to show nothing arrives (embedded: in-process)."""

    def make_bus(self, state_dir: Path, *, dedup_window: float) -> Bus:
        """An unstarted bus keeping its state (if any) under ``state_dir``."""
        raise NotImplementedError

    @pytest.fixture
    async def bus_factory(self, tmp_path: Path) -> AsyncIterator[BusFactory]:
        """Opens started buses on this test's state dir; closes them all at teardown."""
        opened: list[Bus] = []

        async def factory(*, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> Bus:
            bus = self.make_bus(tmp_path, dedup_window=dedup_window)
            await bus.start()
            opened.append(bus)
            return bus

        yield factory
        for bus in opened:
            await bus.close()

    @pytest.fixture
    async def bus(self, bus_factory: BusFactory) -> Bus:
        return await bus_factory()

    async def assert_blocked(self, task: asyncio.Task[Delivery]) -> None:
        """``task`` (a pending ``anext``) does not complete while nothing changes."""
        for _ in range(50):
            await asyncio.sleep(0)
        done, _ = await asyncio.wait({task}, timeout=self.quiet_period)
        assert not done, "a delivery was handed out although max_inflight were unsettled"

    # -- shapes -------------------------------------------------------------

    async def test_backend_implements_the_protocols(self, bus: Bus) -> None:
        assert isinstance(bus, Bus)
        sub = await bus.subscribe("c", [KEY])
        assert isinstance(sub, Subscription)
        await bus.publish(event(1))
        delivery = await receive(sub)
        assert isinstance(delivery, Delivery)
        assert isinstance(await bus.kv("b"), KeyValue)
        await delivery.ack()
        await sub.close()

    async def test_every_event_field_survives_the_trip(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [Key("my-source", "push.main")])
        sent = Event(
            id="0b1c2d3e4f",
            source="my-source",
            type="github",
            subject="push.main",
            data={
                "body": {"ref": "refs/heads/main", "size": 3, "ratio": 0.25, "ok": True},
                "header": {"X-Github-Event": ["push"]},
                "list": [1, "two", None, {"ü": "ñ ✓"}],
            },
            time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            dataschema="https://example.com/push.json",
            extensions={
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "origsource": "https://github.com/org/repo",
            },
        )
        assert await bus.publish(sent) is True
        got = (await receive(sub)).event
        assert got == sent
        assert got.time.utcoffset() == timedelta(0)
        assert dict(got.extensions) == dict(sent.extensions)
        await sub.close()

    async def test_time_zone_and_scalar_data_survive(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        plus2 = timezone(timedelta(hours=2))
        sent = Event(
            id="x", source="es", type="calendar", subject="ev", data=None,
            time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus2),
        )  # fmt: skip
        await bus.publish(sent)
        got = (await receive(sub)).event
        assert got == sent
        assert got.data is None
        assert got.time == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
        await sub.close()

    async def test_data_that_is_not_json_is_refused_and_not_remembered(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        with pytest.raises(BusError, match="not JSON-serialisable"):
            await bus.publish(event(1, data={"when": object()}))
        assert await bus.publish(event(1)) is True  # the failed publish left no dedup entry
        assert (await receive(sub)).event.data == {"n": 1}
        await sub.close()

    # -- dedup --------------------------------------------------------------

    async def test_same_source_and_id_within_the_window_is_dropped(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        assert await bus.publish(event(1)) is True
        assert await bus.publish(event(1, data={"other": "content"})) is False
        assert await bus.publish(event(2)) is True
        assert await receive_ids(sub, 2) == ["id-1", "id-2"]
        await sub.close()

    async def test_same_id_from_another_source_is_not_a_duplicate(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [Key("a", "ev"), Key("b", "ev")])
        assert await bus.publish(event(1, source="a")) is True
        assert await bus.publish(event(1, source="b")) is True
        got = [(await receive(sub)).event for _ in range(2)]
        assert [(e.source, e.id) for e in got] == [("a", "id-1"), ("b", "id-1")]
        await sub.close()

    async def test_same_id_is_accepted_again_after_the_window(
        self, bus_factory: BusFactory
    ) -> None:
        window = 0.2
        bus = await bus_factory(dedup_window=window)
        sub = await bus.subscribe("c", [KEY])
        assert await bus.publish(event(1)) is True
        assert await bus.publish(event(1)) is False
        await asyncio.sleep(window * 1.5)  # the behaviour under test is the passing of time
        assert await bus.publish(event(1)) is True
        first, second = await receive(sub), await receive(sub)
        assert (first.event.id, second.event.id) == ("id-1", "id-1")
        assert second.attempt == 1  # a new event, not a redelivery
        await sub.close()

    # -- consumers and keys ---------------------------------------------------

    async def test_a_new_consumer_sees_only_events_published_after_it(self, bus: Bus) -> None:
        await bus.publish(event(1))
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]
        await sub.close()

    async def test_a_consumer_collects_events_while_no_subscription_is_open(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await sub.close()
        await bus.publish(event(1))
        sub = await bus.subscribe("c", [KEY])
        assert await receive_ids(sub, 1) == ["id-1"]
        await sub.close()

    async def test_a_consumer_sees_only_its_keys(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [Key("es", "a")])
        await bus.publish(event(1, subject="b"))
        await bus.publish(event(2, source="other", subject="a"))
        await bus.publish(event(3, subject="a"))
        assert await receive_ids(sub, 1) == ["id-3"]
        await sub.close()

    async def test_two_consumers_each_get_every_event(self, bus: Bus) -> None:
        one = await bus.subscribe("one", [KEY])
        two = await bus.subscribe("two", [KEY])
        for n in range(5):
            await bus.publish(event(n))
        expected = [f"id-{n}" for n in range(5)]
        assert await receive_ids(one, 5) == expected
        assert await receive_ids(two, 5) == expected
        await one.close()
        await two.close()

    async def test_subscribing_again_with_other_keys_replaces_them(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [Key("es", "old")])
        await sub.close()
        sub = await bus.subscribe("c", [Key("es", "new")])
        await bus.publish(event(1, subject="old"))
        await bus.publish(event(2, subject="new"))
        assert await receive_ids(sub, 1) == ["id-2"]
        await sub.close()

    async def test_consumers_are_exclusive(self, bus: Bus) -> None:
        first = await bus.subscribe("c", [KEY])
        with pytest.raises(BusError, match="already has an open subscription"):
            await bus.subscribe("c", [KEY])
        other = await bus.subscribe("other", [KEY])  # another name is fine
        await first.close()
        again = await bus.subscribe("c", [KEY])
        await again.close()
        await other.close()

    async def test_events_of_a_key_arrive_in_publish_order(self, bus: Bus) -> None:
        keys = [Key("es", "a"), Key("es", "b"), Key("gh", "a")]
        sub = await bus.subscribe("c", keys, max_inflight=16)
        sent: dict[Key, list[str]] = {key: [] for key in keys}
        for n in range(600):
            key = keys[n * 7 % 3]
            assert await bus.publish(event(n, source=key.event_source, subject=key.event_name))
            sent[key].append(f"id-{n}")
        got: dict[Key, list[str]] = {key: [] for key in keys}
        for _ in range(600):
            delivery = await receive(sub)
            got[Key(delivery.event.source, delivery.event.subject)].append(delivery.event.id)
            await delivery.ack()
        assert got == sent
        await sub.close()

    # -- settling -------------------------------------------------------------

    async def test_acked_events_are_not_delivered_again(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        delivery = await receive(sub)
        assert delivery.attempt == 1
        await delivery.ack()
        await sub.close()
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]
        await sub.close()

    async def test_nak_redelivers_at_once_counting_attempts(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        for attempt in (1, 2, 3):
            delivery = await receive(sub)
            assert (delivery.event.id, delivery.attempt) == ("id-1", attempt)
            await delivery.nak()
        last = await receive(sub)
        assert (last.event.id, last.attempt) == ("id-1", 4)
        await last.ack()
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]
        await sub.close()

    async def test_nak_with_delay_redelivers_no_sooner_and_lets_others_pass(self, bus: Bus) -> None:
        delay = 0.3
        loop = asyncio.get_running_loop()
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        first = await receive(sub)
        naked_at = loop.time()
        await first.nak(delay)
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]  # not held up by the delayed one
        again = await receive(sub)
        assert loop.time() - naked_at >= delay - 0.02  # timer slack of the clocks
        assert (again.event.id, again.attempt) == ("id-1", 2)
        await again.ack()
        await sub.close()

    async def test_nak_delay_must_be_a_finite_non_negative_number(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        delivery = await receive(sub)
        for bad in (-1.0, float("inf"), float("nan")):
            with pytest.raises(ValueError, match="nak delay"):
                await delivery.nak(bad)
        await delivery.ack()  # a refused nak did not settle it
        await sub.close()

    async def test_settling_twice_is_an_error(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        await bus.publish(event(2))
        acked, nakked = await receive(sub), await receive(sub)
        await acked.ack()
        with pytest.raises(BusError, match="already acked"):
            await acked.ack()
        with pytest.raises(BusError, match="already acked"):
            await acked.nak()
        await nakked.nak()
        with pytest.raises(BusError, match="already nakked"):
            await nakked.ack()
        again = await receive(sub)  # the nak stood; the error changed nothing
        assert (again.event.id, again.attempt) == ("id-2", 2)
        await again.ack()
        await bus.publish(event(3))
        assert await receive_ids(sub, 1) == ["id-3"]
        await sub.close()

    async def test_unsettled_deliveries_come_back_after_the_subscription_closes(
        self, bus: Bus
    ) -> None:
        sub = await bus.subscribe("c", [KEY])
        for n in (1, 2, 3):
            await bus.publish(event(n))
        await (await receive(sub)).ack()
        unsettled = await receive(sub)
        assert unsettled.event.id == "id-2"
        await sub.close()
        sub = await bus.subscribe("c", [KEY])
        again = await receive(sub)
        assert (again.event.id, again.attempt) == ("id-2", 2)
        never_seen = await receive(sub)
        assert (never_seen.event.id, never_seen.attempt) == ("id-3", 1)
        await again.ack()
        await never_seen.ack()
        await sub.close()

    async def test_ack_after_the_subscription_closed_still_counts(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        late = await receive(sub)
        await sub.close()
        await late.ack()  # e.g. a trigger that finished during shutdown
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]
        await sub.close()

    async def test_nak_after_the_subscription_closed_changes_nothing(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        late = await receive(sub)
        await sub.close()
        await late.nak(3600)  # the close already released it for redelivery
        sub = await bus.subscribe("c", [KEY])
        again = await receive(sub)
        assert (again.event.id, again.attempt) == ("id-1", 2)
        await again.ack()
        await sub.close()

    async def test_max_inflight_bounds_unsettled_deliveries(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY], max_inflight=2)
        for n in range(5):
            await bus.publish(event(n))
        first, second = await receive(sub), await receive(sub)
        third = asyncio.create_task(anext(sub), name="third-delivery")
        try:
            await self.assert_blocked(third)
            await first.ack()
            got = await asyncio.wait_for(third, DEADLINE)
        finally:
            third.cancel()
        assert got.event.id == "id-2"
        fourth = asyncio.create_task(anext(sub), name="fourth-delivery")
        try:
            await self.assert_blocked(fourth)
            await second.nak()
            redelivered = await asyncio.wait_for(fourth, DEADLINE)
        finally:
            fourth.cancel()
        assert (redelivered.event.id, redelivered.attempt) == ("id-1", 2)
        await got.ack()
        await redelivered.ack()
        assert await receive_ids(sub, 2) == ["id-3", "id-4"]
        await sub.close()

    async def test_max_inflight_must_be_positive(self, bus: Bus) -> None:
        with pytest.raises(ValueError, match="max_inflight"):
            await bus.subscribe("c", [KEY], max_inflight=0)

    # -- closing --------------------------------------------------------------

    async def test_closing_a_subscription_ends_its_iteration(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        seen: list[str] = []
        both_seen = asyncio.Event()

        async def consume() -> None:
            async for delivery in sub:
                seen.append(delivery.event.id)
                await delivery.ack()
                if len(seen) == 2:
                    both_seen.set()

        consumer = asyncio.create_task(consume(), name="consume")
        await bus.publish(event(1))
        await bus.publish(event(2))
        await asyncio.wait_for(both_seen.wait(), DEADLINE)
        await sub.close()
        await asyncio.wait_for(consumer, DEADLINE)  # the async for loop ended by itself
        assert seen == ["id-1", "id-2"]
        await sub.close()  # idempotent

    async def test_closing_the_bus_ends_open_subscriptions(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        waiting = asyncio.create_task(anext(sub), name="waiting-for-delivery")
        for _ in range(10):
            await asyncio.sleep(0)
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, DEADLINE)
        with pytest.raises(StopAsyncIteration):
            await anext(sub)
        await sub.close()  # closing an ended subscription is fine

    async def test_a_closed_bus_refuses_everything(self, bus: Bus) -> None:
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        delivery = await receive(sub)
        kv = await bus.kv("state")
        await bus.close()
        await bus.close()  # idempotent
        with pytest.raises(BusClosedError):
            await bus.publish(event(2))
        with pytest.raises(BusClosedError):
            await bus.subscribe("c", [KEY])
        with pytest.raises(BusClosedError):
            await bus.kv("state")
        with pytest.raises(BusClosedError):
            await kv.put("k", b"v")
        with pytest.raises(BusClosedError):
            await kv.get("k")
        with pytest.raises(BusClosedError):
            await delivery.ack()
        with pytest.raises(BusClosedError):
            await delivery.nak()
        with pytest.raises(BusClosedError):
            await bus.start()

    async def test_a_bus_must_be_started(self, tmp_path: Path) -> None:
        bus = self.make_bus(tmp_path, dedup_window=DEFAULT_DEDUP_WINDOW)
        with pytest.raises(BusError, match="start"):
            await bus.publish(event(1))
        await bus.close()

    # -- key-value --------------------------------------------------------------

    async def test_kv_get_put_overwrite_delete_keys(self, bus: Bus) -> None:
        kv = await bus.kv("sensor-state")
        assert await kv.get("missing") is None
        assert await kv.keys() == []
        await kv.put("b", b"\x00\xffbinary")
        await kv.put("a", b"1")
        assert await kv.get("b") == b"\x00\xffbinary"
        await kv.put("a", b"2")
        assert await kv.get("a") == b"2"
        assert await kv.keys() == ["a", "b"]
        await kv.delete("a")
        await kv.delete("a")  # deleting a missing key is fine
        assert await kv.get("a") is None
        assert await kv.keys() == ["b"]

    async def test_kv_buckets_are_separate_and_shared_by_name(self, bus: Bus) -> None:
        one, two = await bus.kv("one"), await bus.kv("two")
        await one.put("k", b"from one")
        assert await two.get("k") is None
        await two.put("k", b"from two")
        assert await (await bus.kv("one")).get("k") == b"from one"
        assert await (await bus.kv("two")).keys() == ["k"]
