"""The sensor at run time: conditions, held state, firing, retries, DLQ and acks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.base import Bus
from bus.event import Event
from bus.memory import MemoryBus
from bus.sqlite import SqliteBus
from sensors.sensor import RateLimiter, Sensor
from sensors.spec import RateLimit, SensorSpec
from tests.sink import HTTPSink
from triggers.base import SharedHTTP, TriggerContext


def _spec(
    deps: list[tuple[str, str]],
    triggers: list[dict[str, Any]],
    filters: dict[str, dict[str, Any]] | None = None,
) -> SensorSpec:
    dependencies = []
    for name, event_name in deps:
        dep: dict[str, Any] = {"name": name, "eventSourceName": "es", "eventName": event_name}
        if filters and name in filters:
            dep["filters"] = filters[name]
        dependencies.append(dep)
    return SensorSpec.model_validate({"dependencies": dependencies, "triggers": triggers})


def _http(name: str, url: str, conditions: str | None = None, **extra: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": name,
        "http": {
            "url": url,
            "payload": [
                {"src": {"dependencyName": d, "dataKey": "n"}, "dest": d}
                for d in extra.pop("payload_deps", [])
            ],
        },
    }
    if conditions:
        template["conditions"] = conditions
    return {"template": template, **extra}


def _log(name: str, conditions: str | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "log": {}}
    if conditions:
        template["conditions"] = conditions
    return {"template": template}


_HTTP = SharedHTTP()


@pytest.fixture(autouse=True)
async def _close_http() -> AsyncIterator[None]:
    yield
    await _HTTP.close()


def _sensor(spec: SensorSpec, name: str = "s") -> Sensor:
    return Sensor(
        name, spec, lambda trigger: TriggerContext(sensor=name, trigger=trigger, shared_http=_HTTP)
    )


def _event(event_name: str, n: int, source: str = "es") -> Event:
    return Event.new(source=source, type="webhook", subject=event_name, data={"n": n})


# ------------------------------------------------------------------ deciding


def test_a_single_dependency_fires_on_each_matching_event() -> None:
    sensor = _sensor(_spec([("a", "ea")], [_log("t")]))
    for i in range(3):
        decision = sensor.decide(_event("ea", i))
        assert [(f.trigger.name, f.events["a"].data["n"]) for f in decision.firings] == [("t", i)]


def test_events_of_other_sources_or_names_match_nothing() -> None:
    sensor = _sensor(_spec([("a", "ea")], [_log("t")]))
    assert sensor.decide(_event("eb", 1)).summary() == "no dependency for this event"
    assert not sensor.decide(_event("ea", 1, source="other")).firings


def test_and_keeps_the_latest_event_per_dependency_and_clears_on_fire() -> None:
    sensor = _sensor(_spec([("a", "ea"), ("b", "eb")], [_log("t", "a && b")]))
    for i in range(1, 11):
        decision = sensor.decide(_event("ea", i))
        assert not decision.firings
        assert decision.waiting == [("t", "a && b", ("a",))]
    fired = sensor.decide(_event("eb", 100)).firings
    assert len(fired) == 1
    assert {d: e.data["n"] for d, e in fired[0].events.items()} == {"a": 10, "b": 100}
    assert not sensor.decide(_event("eb", 101)).firings  # state was cleared
    assert sensor.triggers[0].held.keys() == {"b"}


def test_default_conditions_require_every_dependency() -> None:
    sensor = _sensor(_spec([("a", "ea"), ("b", "eb")], [_log("t")]))
    assert not sensor.decide(_event("ea", 1)).firings
    assert sensor.decide(_event("eb", 2)).firings


def test_or_fires_on_each_event_alone() -> None:
    sensor = _sensor(_spec([("a", "ea"), ("b", "eb")], [_log("t", "a || b")]))
    assert list(sensor.decide(_event("ea", 1)).firings[0].events) == ["a"]
    assert list(sensor.decide(_event("eb", 2)).firings[0].events) == ["b"]


def test_names_with_dashes_and_parentheses_work() -> None:
    sensor = _sensor(
        _spec(
            [("dep-a", "ea"), ("dep-b", "eb"), ("dep-c", "ec")],
            [_log("t", "dep-a && (dep-b || dep-c)")],
        )
    )
    assert not sensor.decide(_event("ea", 1)).firings
    assert sensor.decide(_event("ec", 2)).firings


def test_two_dependencies_on_one_event_are_filtered_separately() -> None:
    sensor = _sensor(
        _spec(
            [("small", "ea"), ("big", "ea")],
            [_log("t-small", "small"), _log("t-big", "big")],
            filters={"small": {"cel": "n < 10"}, "big": {"cel": "n >= 10"}},
        )
    )
    assert [f.trigger.name for f in sensor.decide(_event("ea", 3)).firings] == ["t-small"]
    assert [f.trigger.name for f in sensor.decide(_event("ea", 30)).firings] == ["t-big"]


def test_each_trigger_keeps_its_own_state() -> None:
    sensor = _sensor(
        _spec([("a", "ea"), ("b", "eb")], [_log("both", "a && b"), _log("only-a", "a")])
    )
    first = sensor.decide(_event("ea", 1))
    assert [f.trigger.name for f in first.firings] == ["only-a"]
    second = sensor.decide(_event("eb", 2))
    assert [f.trigger.name for f in second.firings] == ["both"]


def test_a_filtered_event_says_why() -> None:
    sensor = _sensor(_spec([("a", "ea")], [_log("t")], filters={"a": {"cel": "n > 5"}}))
    decision = sensor.decide(_event("ea", 1))
    assert not decision.firings
    assert decision.summary().startswith("filtered out: a: cel: fail")


# ------------------------------------------------------------------ running


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    the_bus = MemoryBus()
    await the_bus.start()
    try:
        yield the_bus
    finally:
        await the_bus.close()


class Running:
    """A sensor running on a bus in the background, stopped on exit."""

    def __init__(self, sensor: Sensor, bus: Bus) -> None:
        self.sensor, self.bus = sensor, bus
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self.sensor.run(self.bus, ready, self.stop), name="s")
        await asyncio.wait_for(ready.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)


async def test_the_http_trigger_fires_with_payload_and_event_ids(bus: Bus, sink: HTTPSink) -> None:
    sensor = _sensor(_spec([("a", "ea")], [_http("t", sink.url + "/hook", payload_deps=["a"])]))
    async with Running(sensor, bus):
        event = _event("ea", 7)
        await bus.publish(event)
        (request,) = await sink.wait_for(1)
    assert request.path == "/hook"
    assert request.json() == {"a": "7"}
    assert request.headers["X-Herald-Event-Ids"] == event.id


async def test_an_event_is_acked_only_after_its_trigger_finished(bus: Bus, sink: HTTPSink) -> None:
    sink.hold = asyncio.Event()
    spec = _spec([("a", "ea")], [_http("t", sink.url)])
    running = Running(_sensor(spec), bus)
    async with running:
        await bus.publish(_event("ea", 1))
        await sink.wait_for(1)
        # Stop while the trigger is still waiting for its answer: the delivery is not acked.
        running.stop.set()
        await asyncio.sleep(0)
        assert running.task is not None
        running.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running.task
        running.task = asyncio.create_task(asyncio.sleep(0))
    sink.hold.set()
    async with Running(_sensor(spec), bus):
        requests = await sink.wait_for(2)
    ids = [r.headers["X-Herald-Event-Ids"] for r in requests]
    assert ids[0] == ids[1]  # the same event, delivered again


async def test_temporary_failures_are_retried_with_backoff(bus: Bus, sink: HTTPSink) -> None:
    sink.statuses = [500, 503, 200]
    retry = {"steps": 3, "duration": "10ms", "factor": 2}
    sensor = _sensor(_spec([("a", "ea")], [_http("t", sink.url, retryStrategy=retry)]))
    async with Running(sensor, bus):
        await bus.publish(_event("ea", 1))
        assert len(await sink.wait_for(3)) == 3


async def test_after_the_last_attempt_the_dlq_trigger_fires(bus: Bus, sink: HTTPSink) -> None:
    sink.statuses = [500, 500, 200]
    trigger = _http(
        "t",
        sink.url + "/main",
        retryStrategy={"steps": 2, "duration": "5ms"},
        dlqTrigger={"template": {"name": "dlq", "http": {"url": sink.url + "/dlq"}}},
    )
    async with Running(_sensor(_spec([("a", "ea")], [trigger])), bus):
        await bus.publish(_event("ea", 1))
        requests = await sink.wait_for(3)
    assert [r.path for r in requests] == ["/main", "/main", "/dlq"]


async def test_a_permanent_failure_goes_to_the_dlq_without_retries(
    bus: Bus, sink: HTTPSink
) -> None:
    sink.statuses = [404, 200]
    trigger = _http(
        "t",
        sink.url + "/main",
        retryStrategy={"steps": 5, "duration": "5ms"},
        dlqTrigger={"template": {"name": "dlq", "http": {"url": sink.url + "/dlq"}}},
    )
    async with Running(_sensor(_spec([("a", "ea")], [trigger])), bus):
        await bus.publish(_event("ea", 1))
        requests = await sink.wait_for(2)
    assert [r.path for r in requests] == ["/main", "/dlq"]


async def test_policy_status_allow_is_the_exact_set_of_accepted_codes(
    bus: Bus, sink: HTTPSink
) -> None:
    sink.statuses = [201, 200]
    trigger = _http(
        "t",
        sink.url + "/main",
        policy={"status": {"allow": [200]}},
        dlqTrigger={"template": {"name": "dlq", "http": {"url": sink.url + "/dlq"}}},
    )
    async with Running(_sensor(_spec([("a", "ea")], [trigger])), bus):
        await bus.publish(_event("ea", 1))
        requests = await sink.wait_for(2)
    assert [r.path for r in requests] == ["/main", "/dlq"]


async def test_template_parameters_change_the_request(bus: Bus, sink: HTTPSink) -> None:
    trigger = _http(
        "t",
        sink.url + "/base",
        parameters=[
            {
                "src": {"dependencyName": "a", "dataKey": "n"},
                "dest": "http.url",
                "operation": "append",
            }
        ],
    )
    async with Running(_sensor(_spec([("a", "ea")], [trigger])), bus):
        await bus.publish(_event("ea", 42))
        (request,) = await sink.wait_for(1)
    assert request.path == "/base42"


async def test_partial_state_survives_a_restart_on_a_durable_bus(
    tmp_path: Path, sink: HTTPSink
) -> None:
    spec = _spec(
        [("a", "ea"), ("b", "eb")],
        [_http("t", sink.url, "a && b", payload_deps=["a", "b"])],
    )
    url = tmp_path / "bus.db"
    first = SqliteBus(url)
    await first.start()
    async with Running(_sensor(spec), first):
        await first.publish(_event("ea", 1))
        for _ in range(200):
            if await (await first.kv("sensor-s")).keys():
                break
            await asyncio.sleep(0.01)
    await first.close()

    second = SqliteBus(url)
    await second.start()
    try:
        async with Running(_sensor(spec), second):
            await second.publish(_event("eb", 2))
            (request,) = await sink.wait_for(1)
    finally:
        await second.close()
    assert request.json() == {"a": "1", "b": "2"}


async def test_changed_conditions_drop_stale_partial_state(tmp_path: Path, sink: HTTPSink) -> None:
    url = tmp_path / "bus.db"
    before = _spec([("a", "ea"), ("b", "eb")], [_http("t", sink.url, "a && b")])
    after = _spec([("a", "ea"), ("b", "eb"), ("c", "ec")], [_http("t", sink.url, "a && b && c")])
    first = SqliteBus(url)
    await first.start()
    async with Running(_sensor(before), first):
        await first.publish(_event("ea", 1))
        for _ in range(200):
            if len(await (await first.kv("sensor-s")).keys()) > 1:
                break
            await asyncio.sleep(0.01)
    await first.close()
    second = SqliteBus(url)
    await second.start()
    try:
        sensor = _sensor(after)
        async with Running(sensor, second):
            assert sensor.triggers[0].held == {}
    finally:
        await second.close()


# ------------------------------------------------------------------ conditionsReset


def _reset_spec(cron: str, timezone: str | None = None) -> SensorSpec:
    by_time: dict[str, str] = {"cron": cron}
    if timezone:
        by_time["timezone"] = timezone
    template = {
        "name": "t",
        "conditions": "a && b",
        "conditionsReset": [{"byTime": by_time}],
        "log": {},
    }
    return _spec([("a", "ea"), ("b", "eb")], [{"template": template}])


async def test_conditions_reset_clears_held_events_at_each_tick(bus: Bus) -> None:
    clock = [datetime(2026, 11, 27, 23, 58, 30, tzinfo=UTC)]
    slept: list[float] = []
    tick = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 1:
            await asyncio.Event().wait()  # the second wait never ends in this test
        await tick.wait()
        clock[0] += timedelta(seconds=seconds)

    spec = _reset_spec("59 23 * * *", "UTC")
    sensor = Sensor(
        "s",
        spec,
        lambda trigger: TriggerContext(sensor="s", trigger=trigger, shared_http=_HTTP),
        clock=lambda: clock[0],
        sleep=sleep,
    )
    async with Running(sensor, bus):
        await bus.publish(_event("ea", 1))
        for _ in range(200):
            if sensor.triggers[0].held:
                break
            await asyncio.sleep(0.01)
        assert set(sensor.triggers[0].held) == {"a"}
        assert slept == [30.0]  # 23:58:30 -> 23:59:00
        tick.set()
        for _ in range(200):
            if not sensor.triggers[0].held:
                break
            await asyncio.sleep(0.01)
        assert sensor.triggers[0].held == {}
        assert await (await bus.kv("sensor-s")).keys() == ["t._spec"]


async def test_held_events_older_than_the_last_reset_are_dropped_on_restart(
    tmp_path: Path,
) -> None:
    spec = _reset_spec("0 * * * *")
    first = SqliteBus(tmp_path / "bus.db")
    await first.start()
    old = Event(
        id="old",
        source="es",
        type="webhook",
        subject="ea",
        data={"n": 1},
        time=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
    )
    kv = await first.kv("sensor-s")
    sensor = Sensor("s", spec, lambda t: TriggerContext(sensor="s", trigger=t, shared_http=_HTTP))
    await kv.put("t._spec", sensor._fingerprint(sensor.triggers[0]).encode())
    await kv.put("t.a", old.to_json())
    await first.close()

    second = SqliteBus(tmp_path / "bus.db")
    await second.start()
    try:
        at_ten_past = datetime(2026, 11, 27, 10, 10, tzinfo=UTC)
        restarted = Sensor(
            "s",
            spec,
            lambda t: TriggerContext(sensor="s", trigger=t, shared_http=_HTTP),
            clock=lambda: at_ten_past,
        )
        async with Running(restarted, second):
            assert restarted.triggers[0].held == {}  # the 10:00 reset came after 09:30
        kept = Sensor(
            "s",
            spec,
            lambda t: TriggerContext(sensor="s", trigger=t, shared_http=_HTTP),
            clock=lambda: datetime(2026, 11, 27, 9, 50, tzinfo=UTC),
        )
        await (await second.kv("sensor-s")).put("t.a", old.to_json())
        async with Running(kept, second):
            assert set(kept.triggers[0].held) == {"a"}  # no reset since 09:30
    finally:
        await second.close()


async def test_rate_limit_spaces_firings_evenly() -> None:
    clock = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    spec = RateLimit.model_validate({"unit": "Second", "requestsPerUnit": 4})
    limiter = RateLimiter(spec, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        await limiter.acquire()
    assert waits == [0.25, 0.25, 0.25, 0.25]  # the first one goes at once
