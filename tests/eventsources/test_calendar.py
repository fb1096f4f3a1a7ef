"""The calendar source: cron and interval ticks, time zones, exclusions, catch-up, never twice.

Time is a :class:`FakeClock` the tests move by hand, so no test waits for a
schedule; one test runs on the real clock with a short interval. The last tick
is kept in a real :class:`~bus.memory.MemoryBus` key-value store, shared by the
two runs of a restart test.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bus.base import KeyValue
from bus.event import Event
from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.calendar import CalendarEventSource, CalendarSource, go_time, local_zone
from eventsources.source import EmitResult, SourceContext
from herald.core.errors import BusError, ConfigError
from tests.eventsources.conftest import running

DEADLINE = 10.0
"""Seconds any wait may take before the test fails."""

T0 = datetime(2026, 1, 2, 10, 7, 30, 250_000, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when the test says so; knows what the source waits for."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self.waiting_for: datetime | None = None
        self._changed = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        async with self._changed:
            self.waiting_for = when
            self._changed.notify_all()
            await self._changed.wait_for(lambda: self._now >= when)
            self.waiting_for = None

    async def set(self, when: datetime) -> None:
        async with self._changed:
            self._now = when
            self._changed.notify_all()

    async def wait_sleeping_until(self, when: datetime) -> None:
        """Wait until the source sleeps until ``when`` (its next tick)."""
        async with asyncio.timeout(DEADLINE), self._changed:
            await self._changed.wait_for(lambda: self.waiting_for is not None)
        assert self.waiting_for == when, f"next tick {self.waiting_for}, expected {when}"

    async def tick(self, when: datetime) -> None:
        """Expect the source to wait for ``when``, then move the clock there."""
        await self.wait_sleeping_until(when)
        await self.set(when)


@dataclass
class Recorder:
    bus: MemoryBus
    calls: list[tuple[Event, EmitResult]] = field(default_factory=list)
    failures: int = 0
    """Emits that raise BusError before one succeeds."""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def emit(self, event: Event) -> EmitResult:
        if self.failures > 0:
            self.failures -= 1
            raise BusError("the bus is down (test)")
        result = EmitResult.PUBLISHED if await self.bus.publish(event) else EmitResult.DUPLICATE
        async with self._changed:
            self.calls.append((event, result))
            self._changed.notify_all()
        return result

    async def wait_calls(self, count: int) -> list[tuple[Event, EmitResult]]:
        async with asyncio.timeout(DEADLINE), self._changed:
            await self._changed.wait_for(lambda: len(self.calls) >= count)
        return list(self.calls)

    @property
    def ids(self) -> list[str]:
        return [event.id for event, _ in self.calls]


def make_source(
    bus: MemoryBus,
    spec: dict[str, Any],
    clock: FakeClock | None,
    *,
    event_source: str = "cal",
    kv: Any = "bus",
) -> CalendarSource:
    config = CalendarEventSource.model_validate(spec)
    context = SourceContext(event_source, "tick", kv=bus.kv if kv == "bus" else kv)
    return CalendarSource(config, context, clock=clock)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------------------


async def test_cron_schedule_ticks_with_argo_data_and_a_stable_id(bus: MemoryBus) -> None:
    clock = FakeClock(T0)
    spec = {"schedule": "*/15 * * * *", "metadata": {"team": "ops"}}
    recorder = Recorder(bus)
    async with running(make_source(bus, spec, clock), recorder.emit):
        await clock.tick(at("2026-01-02T10:15:00+00:00"))
        ((event, result),) = await recorder.wait_calls(1)
        await clock.wait_sleeping_until(at("2026-01-02T10:30:00+00:00"))
    assert result is EmitResult.PUBLISHED
    assert event.id == "cal:tick:2026-01-02T10:15:00Z"
    assert (event.source, event.type, event.subject) == ("cal", "calendar", "tick")
    assert event.data == {"eventTime": "2026-01-02 10:15:00 +0000 UTC", "metadata": {"team": "ops"}}


async def test_interval_ticks_on_a_grid_that_does_not_drift(bus: MemoryBus) -> None:
    clock = FakeClock(T0)
    recorder = Recorder(bus)
    async with running(make_source(bus, {"interval": "90s"}, clock), recorder.emit):
        # A whole second plus the interval after the start, then one interval apart.
        await clock.tick(at("2026-01-02T10:09:00+00:00"))
        await recorder.wait_calls(1)
        await clock.wait_sleeping_until(at("2026-01-02T10:10:30+00:00"))
        await clock.set(at("2026-01-02T10:10:30.400+00:00"))  # the timer fires late
        await recorder.wait_calls(2)
        await clock.wait_sleeping_until(at("2026-01-02T10:12:00+00:00"))
    assert recorder.ids == ["cal:tick:2026-01-02T10:09:00Z", "cal:tick:2026-01-02T10:10:30Z"]
    assert "metadata" not in recorder.calls[0][0].data


async def test_timezone_and_cron_tz_prefix(bus: MemoryBus) -> None:
    clock = FakeClock(at("2026-03-07T00:00:00+00:00"))
    recorder = Recorder(bus)
    spec = {"schedule": "0 9 * * *", "timezone": "America/New_York"}
    async with running(make_source(bus, spec, clock), recorder.emit):
        await clock.tick(at("2026-03-07T14:00:00+00:00"))  # 09:00 EST
        await recorder.wait_calls(1)
        await clock.wait_sleeping_until(at("2026-03-08T13:00:00+00:00"))  # 09:00 EDT
    assert recorder.calls[0][0].data["eventTime"] == "2026-03-07 09:00:00 -0500 EST"

    clock = FakeClock(at("2026-03-07T00:00:00+00:00"))
    spec = {"schedule": "CRON_TZ=Asia/Tokyo 0 9 * * *", "timezone": "America/New_York"}
    tokyo = Recorder(bus)
    async with running(make_source(bus, spec, clock, event_source="tokyo"), tokyo.emit):
        await clock.tick(at("2026-03-08T00:00:00+00:00"))  # the prefix wins: 09:00 JST
        await tokyo.wait_calls(1)
    assert tokyo.calls[0][0].data["eventTime"] == "2026-03-08 09:00:00 +0900 JST"


async def test_local_timezone_reads_the_schedule_in_this_machines_zone(bus: MemoryBus) -> None:
    clock = FakeClock(T0)
    here = T0.astimezone(local_zone())
    expected = here.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    source = make_source(bus, {"schedule": "0 9 * * *", "timezone": "Local"}, clock)
    async with running(source, Recorder(bus).emit):
        await clock.wait_sleeping_until(
            expected if here.hour >= 9 else expected - timedelta(days=1)
        )


async def test_exclusion_dates_skip_whole_days(bus: MemoryBus) -> None:
    clock = FakeClock(at("2026-01-02T00:00:00+00:00"))
    spec = {
        "schedule": "0 12 * * *",
        "exclusionDates": ["EXDATE:20260103T000000Z,20260105T235959Z"],
    }
    recorder = Recorder(bus)
    async with running(make_source(bus, spec, clock), recorder.emit):
        await clock.tick(at("2026-01-02T12:00:00+00:00"))
        await recorder.wait_calls(1)
        await clock.tick(at("2026-01-04T12:00:00+00:00"))  # the 3rd is excluded
        await recorder.wait_calls(2)
        await clock.wait_sleeping_until(at("2026-01-06T12:00:00+00:00"))  # and the 5th
    assert recorder.ids == ["cal:tick:2026-01-02T12:00:00Z", "cal:tick:2026-01-04T12:00:00Z"]


async def test_catch_up_after_a_restart_emits_missed_ticks_once(bus: MemoryBus) -> None:
    spec = {"schedule": "* * * * *", "persistence": {"catchup": {"enabled": True}}}
    clock = FakeClock(at("2026-01-02T10:00:30+00:00"))
    first = Recorder(bus)
    async with running(make_source(bus, spec, clock), first.emit):
        await clock.tick(at("2026-01-02T10:01:00+00:00"))
        await first.wait_calls(1)
        await clock.tick(at("2026-01-02T10:02:00+00:00"))
        await first.wait_calls(2)
    # Down from 10:02 to 10:06:30; the ticks of 10:03 to 10:06 were missed.
    clock = FakeClock(at("2026-01-02T10:06:30+00:00"))
    second = Recorder(bus)
    async with running(make_source(bus, spec, clock), second.emit):
        await second.wait_calls(4)
        await clock.wait_sleeping_until(at("2026-01-02T10:07:00+00:00"))
    assert second.ids == [f"cal:tick:2026-01-02T10:0{m}:00Z" for m in (3, 4, 5, 6)]
    assert all(result is EmitResult.PUBLISHED for _, result in second.calls), "never twice"


async def test_catch_up_goes_back_no_further_than_max_duration(bus: MemoryBus) -> None:
    spec = {
        "schedule": "* * * * *",
        "persistence": {"catchup": {"enabled": True, "maxDuration": "3m"}},
    }
    clock = FakeClock(at("2026-01-02T10:00:30+00:00"))
    first = Recorder(bus)
    async with running(make_source(bus, spec, clock), first.emit):
        await clock.tick(at("2026-01-02T10:01:00+00:00"))
        await first.wait_calls(1)
    clock = FakeClock(at("2026-01-02T10:10:30+00:00"))
    second = Recorder(bus)
    async with running(make_source(bus, spec, clock), second.emit):
        await second.wait_calls(3)
        await clock.wait_sleeping_until(at("2026-01-02T10:11:00+00:00"))
    assert second.ids == [f"cal:tick:2026-01-02T10:{m:02d}:00Z" for m in (8, 9, 10)]


async def test_without_catch_up_a_restart_resumes_from_now_and_never_repeats(
    bus: MemoryBus,
) -> None:
    spec = {"interval": "1m"}
    clock = FakeClock(at("2026-01-02T10:00:00+00:00"))
    first = Recorder(bus)
    async with running(make_source(bus, spec, clock), first.emit):
        await clock.tick(at("2026-01-02T10:01:00+00:00"))
        await first.wait_calls(1)
    # Restarted at the very moment of the tick it already emitted: not again.
    second = Recorder(bus)
    async with running(make_source(bus, spec, clock), second.emit):
        await clock.wait_sleeping_until(at("2026-01-02T10:02:00+00:00"))
    assert second.calls == []
    # A clock that went back waits for the tick after the stored one.
    clock = FakeClock(at("2026-01-02T09:59:10+00:00"))
    third = Recorder(bus)
    async with running(make_source(bus, spec, clock), third.emit):
        await clock.wait_sleeping_until(at("2026-01-02T10:02:00+00:00"))
    assert third.calls == []
    # Down for a while without catch-up: the missed ticks are skipped, the grid is kept.
    clock = FakeClock(at("2026-01-02T10:05:20+00:00"))
    fourth = Recorder(bus)
    async with running(make_source(bus, spec, clock), fourth.emit):
        await clock.wait_sleeping_until(at("2026-01-02T10:06:00+00:00"))
    assert fourth.calls == []


async def test_without_catch_up_ticks_missed_while_emitting_are_skipped(
    bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(at("2026-01-02T10:00:00+00:00"))

    @dataclass
    class Slow(Recorder):
        """An emit that takes three and a half minutes (a bus that answers late)."""

        async def emit(self, event: Event) -> EmitResult:
            result = await super().emit(event)
            await clock.set(clock.now() + timedelta(minutes=3, seconds=30))
            return result

    recorder = Slow(bus)
    with caplog.at_level(logging.WARNING, logger="herald.source.calendar"):
        async with running(make_source(bus, {"interval": "1m"}, clock), recorder.emit):
            await clock.tick(at("2026-01-02T10:01:00+00:00"))
            await recorder.wait_calls(1)
            await clock.wait_sleeping_until(at("2026-01-02T10:05:00+00:00"))
    assert recorder.ids == ["cal:tick:2026-01-02T10:01:00Z"]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "2026-01-02T10:02:00Z" in line
    assert "skipped" in line


@dataclass
class FailingPuts:
    """A key-value store whose writes fail after ``working`` (the bus went away)."""

    inner: KeyValue
    working: int

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes) -> None:
        if self.working <= 0:
            raise BusError("the key-value store is down (test)")
        self.working -= 1
        await self.inner.put(key, value)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def keys(self) -> list[str]:
        return await self.inner.keys()


async def test_a_tick_whose_store_failed_is_replayed_and_dropped_by_the_bus(
    bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    spec = {"interval": "1m", "persistence": {"catchup": {"enabled": True}}}

    async def failing_kv(name: str) -> KeyValue:
        return FailingPuts(await bus.kv(name), working=1)

    clock = FakeClock(at("2026-01-02T10:00:00+00:00"))
    first = Recorder(bus)
    with caplog.at_level(logging.WARNING, logger="herald.source.calendar"):
        async with running(make_source(bus, spec, clock, kv=failing_kv), first.emit):
            await clock.tick(at("2026-01-02T10:01:00+00:00"))
            await first.wait_calls(1)
            await clock.tick(at("2026-01-02T10:02:00+00:00"))  # emitted, not stored
            await first.wait_calls(2)
            await clock.wait_sleeping_until(at("2026-01-02T10:03:00+00:00"))
    assert sum("was not stored" in r.getMessage() for r in caplog.records) == 1
    second = Recorder(bus)
    async with running(make_source(bus, spec, clock), second.emit):
        await second.wait_calls(1)
        await clock.wait_sleeping_until(at("2026-01-02T10:03:00+00:00"))
    assert second.ids == ["cal:tick:2026-01-02T10:02:00Z"]
    assert second.calls[0][1] is EmitResult.DUPLICATE, "the bus drops the replayed tick"


async def test_a_bus_error_retries_the_same_tick(bus: MemoryBus) -> None:
    clock = FakeClock(T0)
    recorder = Recorder(bus, failures=2)
    async with running(make_source(bus, {"schedule": "*/15 * * * *"}, clock), recorder.emit):
        await clock.tick(at("2026-01-02T10:15:00+00:00"))
        await recorder.wait_calls(1)
    assert recorder.ids == ["cal:tick:2026-01-02T10:15:00Z"]


async def test_real_clock_interval_ticks(bus: MemoryBus) -> None:
    recorder = Recorder(bus)
    async with running(make_source(bus, {"interval": "300ms"}, None, kv=None), recorder.emit):
        calls = await recorder.wait_calls(2)
    first, second = (datetime.fromisoformat(e.id.split(":", 2)[2]) for e, _ in calls[:2])
    assert second - first == timedelta(milliseconds=300)


def test_refused_before_start(bus: MemoryBus) -> None:
    spec = {"interval": "1m", "persistence": {"catchup": {"enabled": True}}}
    with pytest.raises(ConfigError, match="key-value store"):
        make_source(bus, spec, FakeClock(T0), kv=None)
    with pytest.raises(ConfigError, match="never fires"):
        make_source(bus, {"schedule": "0 0 31 2 *"}, FakeClock(T0))


def test_go_time_matches_go() -> None:
    assert go_time(at("2026-01-02T15:04:05+00:00")) == "2026-01-02 15:04:05 +0000 UTC"
    assert go_time(at("2026-01-02T15:04:05.5+00:00")) == "2026-01-02 15:04:05.5 +0000 UTC"


def test_the_registry_runs_calendar_with_this_source() -> None:
    assert source_registry.factory("calendar") is CalendarSource
