"""The Sensor at run time: match, filter, hold, decide, fire, settle.

One :class:`Sensor` serves one Sensor manifest. It opens one durable bus
consumer over the ``(eventSourceName, eventName)`` pairs its dependencies
name, and for each delivery:

1. **match and filter**: every dependency of that pair applies its filters
   (:mod:`sensors.filters`);
2. **hold and decide**: each trigger that uses a passing dependency records the
   event as that dependency's latest (latest event wins) and evaluates its
   condition (:mod:`sensors.conditions`). A stateless condition (no ``&&``)
   fires on the event alone; otherwise a true condition fires with the held
   events and clears them, and a false one keeps them in the bus's key-value
   store, so partial state survives a restart on a durable bus;
3. **fire**: template parameters are resolved, the trigger runs with its
   ``rateLimit`` and ``retryStrategy``; after the last failed attempt (or a
   permanent error) the ``dlqTrigger`` runs;
4. **settle**: the delivery is acked once every trigger it fired has finished
   (success or DLQ): at-least-once. With ``atLeastOnce: false`` on every trigger
   it fired, it is acked before firing (at-most-once, as Argo's default).

:meth:`Sensor.decide` is step 1 and 2 without side effects on the bus, so the
same code explains decisions in ``herald test``. Firings of different events
run concurrently (bounded by the subscription's in-flight limit); as in Argo,
their completion order is not guaranteed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from bus.base import DEFAULT_MAX_INFLIGHT, Bus, Delivery, Key, KeyValue
from bus.event import Event, now
from bus.subjects import escape
from herald.core.backoff import Backoff
from herald.core.cron import Schedule, schedule
from herald.core.errors import (
    ConfigError,
    HeraldError,
    PermanentTriggerError,
    TemporaryTriggerError,
)
from sensors.conditions import Condition, compile_condition
from sensors.filters import Clause, DependencyFilter, FilterResult
from sensors.spec import RateLimit, SensorSpec, Trigger, TriggerTemplate
from sensors.transform import Transform, TransformError, compile_transform
from triggers import base as trigger_base
from triggers.params import apply_parameters

log = logging.getLogger("herald.sensor")

_UNIT_SECONDS = {"Second": 1.0, "Minute": 60.0, "Hour": 3600.0}
_SPEC_KEY = "_spec"

ContextFactory = Callable[[str], trigger_base.TriggerContext]


class RateLimiter:
    """Spaces firings evenly: at most ``requestsPerUnit`` per unit (a leaky bucket)."""

    def __init__(
        self,
        spec: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = _UNIT_SECONDS[spec.unit] / spec.requests_per_unit
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def acquire(self) -> None:
        """Wait for this firing's slot."""
        current = self._clock()
        slot = max(current, self._next)
        self._next = slot + self._interval
        if slot > current:
            await self._sleep(slot - current)


@dataclass(slots=True)
class TriggerRunner:
    """One trigger of the sensor: its condition, held events, adapter and policies."""

    name: str
    spec: Trigger
    kind: str
    condition: Condition | None
    adapter: trigger_base.Trigger
    at_least_once: bool
    retry: Backoff
    limiter: RateLimiter | None
    dlq: TriggerRunner | None
    resets: tuple[Schedule, ...] = ()
    held: dict[str, Event] = field(default_factory=dict)
    _template_doc: bytes = b""
    _spec_without_parameters: Any = None

    @property
    def dependencies(self) -> tuple[str, ...]:
        return self.condition.names if self.condition else ()

    def resolved_spec(self, events: Mapping[str, Event]) -> Any:
        """The trigger type's spec with the trigger's ``parameters`` applied."""
        if not self.spec.parameters:
            if self._spec_without_parameters is None:
                self._spec_without_parameters = self.spec.template.trigger_spec
            return self._spec_without_parameters
        doc = orjson.loads(self._template_doc)
        doc = apply_parameters(doc, self.spec.parameters, events)
        try:
            return TriggerTemplate.model_validate(doc).trigger_spec
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PermanentTriggerError(
                f"parameters made the template invalid at {where}: {first['msg']}"
            ) from e


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger to fire, with the events (by dependency) that satisfied it."""

    trigger: TriggerRunner
    events: Mapping[str, Event]


@dataclass(slots=True)
class Decision:
    """What the sensor decided for one event, before any side effect."""

    event: Event
    filters: list[tuple[str, FilterResult]] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)
    held: list[tuple[TriggerRunner, str]] = field(default_factory=list)
    waiting: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def matched(self) -> list[str]:
        return [dep for dep, result in self.filters if result.passed]

    def summary(self) -> str:
        """The part of the event's log line that says what was decided."""
        if not self.filters:
            return "no dependency for this event"
        if not self.matched:
            return "filtered out: " + "; ".join(
                f"{dep}: {result.reason()}" for dep, result in self.filters
            )
        parts = [f"matched {', '.join(self.matched)}"]
        for trigger, condition, have in self.waiting:
            parts.append(f"{trigger} waiting ({condition}; have {', '.join(have)})")
        return "; ".join(parts)


@dataclass(slots=True)
class _Dependency:
    name: str
    key: Key
    filter: DependencyFilter
    transform: Transform | None = None


class Sensor:
    """A running Sensor manifest: build once, then :meth:`run` on a bus."""

    def __init__(
        self,
        name: str,
        spec: SensorSpec,
        context_factory: ContextFactory,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        clock: Callable[[], datetime] = now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.spec = spec
        self.max_inflight = max_inflight
        self._clock = clock
        self._sleep = sleep
        self._deps: dict[Key, list[_Dependency]] = {}
        for i, dep in enumerate(spec.dependencies):
            try:
                compiled = DependencyFilter(dep)
            except ConfigError as e:
                raise ConfigError(e.reason, path=f"spec.dependencies[{i}].{e.path}") from e
            transform = None
            if dep.transform is not None:
                try:
                    transform = compile_transform(dep.transform)
                except ConfigError as e:
                    raise ConfigError(e.reason, path=f"spec.dependencies[{i}].{e.path}") from e
            key = Key(dep.event_source_name, dep.event_name)
            self._deps.setdefault(key, []).append(_Dependency(dep.name, key, compiled, transform))
        names = [d.name for d in spec.dependencies]
        self.triggers = [
            self._build_trigger(t, f"spec.triggers[{i}]", names, context_factory)
            for i, t in enumerate(spec.triggers)
        ]
        self._kv: KeyValue | None = None

    @property
    def keys(self) -> list[Key]:
        """The (eventSourceName, eventName) pairs this sensor consumes."""
        return list(self._deps)

    @property
    def consumer(self) -> str:
        """The durable consumer name on the bus."""
        return f"sensor-{self.name}"

    def _build_trigger(
        self,
        spec: Trigger,
        path: str,
        dependencies: Sequence[str],
        context_factory: ContextFactory,
        *,
        dlq: bool = False,
    ) -> TriggerRunner:
        template = spec.template
        kind = template.trigger_type
        resets: list[Schedule] = []
        for i, reset in enumerate(template.conditions_reset or ()):
            try:
                resets.append(schedule(reset.by_time.cron, reset.by_time.timezone))
            except ConfigError as e:
                raise ConfigError(
                    e.reason, path=f"{path}.template.conditionsReset[{i}].byTime.cron"
                ) from e
        try:
            make = trigger_base.factory(kind)
        except ConfigError as e:
            raise ConfigError(e.reason, path=f"{path}.template.{kind}") from e
        condition = None if dlq else _condition(template.conditions, dependencies, path)
        context = context_factory(template.name)
        if spec.policy and spec.policy.status:
            context.allowed_statuses = frozenset(spec.policy.status.allow)
        if spec.policy and spec.policy.k8s:
            context.k8s_policy = spec.policy.k8s
        try:
            adapter = make(template.trigger_spec, context)
        except ConfigError as e:
            where = f"{path}.template.{kind}" + (f".{e.path}" if e.path else "")
            raise ConfigError(e.reason, path=where) from e
        return TriggerRunner(
            name=template.name,
            spec=spec,
            kind=kind,
            condition=condition,
            adapter=adapter,
            at_least_once=spec.at_least_once is not False,
            retry=spec.retry_strategy or Backoff.model_validate({"steps": 1}),
            limiter=RateLimiter(spec.rate_limit) if spec.rate_limit else None,
            resets=tuple(resets),
            dlq=(
                self._build_trigger(
                    spec.dlq_trigger, f"{path}.dlqTrigger", dependencies, context_factory, dlq=True
                )
                if spec.dlq_trigger
                else None
            ),
            _template_doc=orjson.dumps(
                template.model_dump(mode="json", by_alias=True, exclude_none=True)
            ),
        )

    # ------------------------------------------------------------------ deciding

    def decide(self, event: Event) -> Decision:
        """Filter ``event`` and update held state; return what to fire. No I/O."""
        decision = Decision(event)
        deps = self._deps.get(Key(event.source, event.subject))
        if not deps:
            return decision
        passed: list[tuple[str, Event]] = []
        for candidate in deps:
            seen = event
            if candidate.transform is not None:
                try:
                    seen = candidate.transform.apply(event)
                except TransformError as e:
                    decision.filters.append((candidate.name, _transform_failed(e)))
                    continue
            result = candidate.filter.apply(seen)
            decision.filters.append((candidate.name, result))
            if result.passed:
                passed.append((candidate.name, seen))
        if not passed:
            return decision
        for trigger in self.triggers:
            assert trigger.condition is not None
            used = {d: e for d, e in passed if d in trigger.condition.names}
            if not used:
                continue
            if trigger.condition.stateless:
                if trigger.condition.holds(used.keys()):
                    decision.firings.append(Firing(trigger, used))
                continue
            for name, seen in used.items():
                trigger.held[name] = seen
            if trigger.condition.holds(trigger.held.keys()):
                decision.firings.append(Firing(trigger, dict(trigger.held)))
                trigger.held.clear()
            else:
                decision.held.extend((trigger, name) for name in used)
                decision.waiting.append((trigger.name, trigger.condition.text, tuple(trigger.held)))
        return decision

    # ------------------------------------------------------------------ running

    async def run(self, bus: Bus, ready: asyncio.Event, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set, then drain in-flight firings."""
        self._kv = await bus.kv(f"sensor-{self.name}")
        await self._restore(self._kv)
        sub = await bus.subscribe(self.consumer, self.keys, max_inflight=self.max_inflight)
        ready.set()
        log.info(
            "sensor %s ready: %d dependencies, %d triggers",
            self.name,
            len(self.spec.dependencies),
            len(self.triggers),
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                stopper = tasks.create_task(
                    _close_on(stopping, sub.close), name=f"sensor:{self.name}:stop"
                )
                resets = [
                    tasks.create_task(
                        self._reset_loop(trigger, when),
                        name=f"sensor:{self.name}:reset:{trigger.name}:{i}",
                    )
                    for trigger in self.triggers
                    for i, when in enumerate(trigger.resets)
                ]
                async for delivery in sub:
                    await self._handle(delivery, tasks)
                stopper.cancel()
                for task in resets:
                    task.cancel()
        finally:
            await sub.close()
            for trigger in self.triggers:
                await _close_trigger(trigger)

    async def _handle(self, delivery: Delivery, tasks: asyncio.TaskGroup) -> None:
        event = delivery.event
        decision = self.decide(event)
        await self._store_held(decision)
        if not decision.firings:
            await delivery.ack()
            log.info(_line(self.name, event, decision.summary()))
            return
        if not any(f.trigger.at_least_once for f in decision.firings):
            await delivery.ack()
            delivery = _Settled(event)
        tasks.create_task(
            self._complete(delivery, decision), name=f"sensor:{self.name}:fire:{event.id}"
        )

    async def _complete(self, delivery: Delivery, decision: Decision) -> None:
        firings = decision.firings
        if len(firings) == 1:
            outcomes = [await self.execute(firings[0].trigger, firings[0].events)]
        else:
            outcomes = await asyncio.gather(*(self.execute(f.trigger, f.events) for f in firings))
        for firing in decision.firings:
            await self._release(firing)
        await delivery.ack()
        prefix = decision.summary()
        log.info(_line(self.name, decision.event, f"{prefix}; {'; '.join(outcomes)}"))

    async def execute(self, trigger: TriggerRunner, events: Mapping[str, Event]) -> str:
        """Fire with retries, then the DLQ trigger; never raises a trigger error."""
        delays = list(trigger.retry.delays(default_steps=1))
        attempts = len(delays) + 1
        error: HeraldError | None = None
        for attempt in range(1, attempts + 1):
            if trigger.limiter is not None:
                await trigger.limiter.acquire()
            try:
                spec = trigger.resolved_spec(events)
                outcome = await trigger.adapter.fire(spec, events)
            except TemporaryTriggerError as e:
                error = e
                if attempt < attempts:
                    await asyncio.sleep(max(delays[attempt - 1], e.retry_after or 0.0))
                    continue
            except PermanentTriggerError as e:
                error = e
            except HeraldError as e:
                error = PermanentTriggerError(f"{type(e).__name__}: {e}")
            else:
                return f"fired {trigger.name}: {outcome}"
            break
        assert error is not None
        tried = f"after {attempt} attempt{'s' if attempt != 1 else ''}"
        failed = f"{trigger.name} failed {tried}: {error}"
        if trigger.dlq is None:
            log.error("sensor %s: trigger %s", self.name, failed)
            return failed
        dlq_outcome = await self.execute(trigger.dlq, events)
        return f"{failed}; dead-lettered: {dlq_outcome}"

    # ------------------------------------------------------------------ state

    async def _restore(self, kv: KeyValue) -> None:
        """Load held events; drop those of triggers whose condition or deps changed."""
        for trigger in self.triggers:
            prefix = f"{escape(trigger.name)}."
            fingerprint = self._fingerprint(trigger).encode()
            stored = await kv.get(prefix + _SPEC_KEY)
            keys = [k for k in await kv.keys() if k.startswith(prefix) and k != prefix + _SPEC_KEY]
            if stored != fingerprint:
                for key in keys:
                    await kv.delete(key)
                await kv.put(prefix + _SPEC_KEY, fingerprint)
                continue
            by_key = {escape(d): d for d in trigger.dependencies}
            for key in keys:
                raw = await kv.get(key)
                dep = by_key.get(key[len(prefix) :])
                if raw is None or dep is None:
                    await kv.delete(key)
                    continue
                held = Event.from_json(raw)
                if self._reset_since(trigger, held.time):
                    await kv.delete(key)
                    continue
                trigger.held[dep] = held
            if trigger.held:
                log.info(
                    "sensor %s: trigger %s restored held events of %s",
                    self.name,
                    trigger.name,
                    ", ".join(sorted(trigger.held)),
                )

    def _reset_since(self, trigger: TriggerRunner, when: datetime) -> bool:
        """Whether a conditionsReset tick of ``trigger`` happened after ``when``."""
        current = self._clock()
        return any(reset.previous_before(current) > when for reset in trigger.resets)

    async def _reset_loop(self, trigger: TriggerRunner, when: Schedule) -> None:
        """Clear the trigger's held events at every tick of ``when``."""
        while True:
            current = self._clock()
            tick = when.next_after(current)
            await self._sleep(max(0.0, (tick - current).total_seconds()))
            await self.reset(trigger, f"conditionsReset {when.expression!r} ({when.zone.key})")

    async def reset(self, trigger: TriggerRunner, why: str) -> None:
        """Forget every event ``trigger`` holds (memory and key-value store)."""
        dropped = sorted(trigger.held)
        trigger.held.clear()
        if self._kv is not None:
            for dep in dropped:
                await self._kv.delete(_held_key(trigger.name, dep))
        if dropped:
            log.info(
                "sensor %s: trigger %s cleared held events of %s (%s)",
                self.name,
                trigger.name,
                ", ".join(dropped),
                why,
            )

    def _fingerprint(self, trigger: TriggerRunner) -> str:
        deps = [
            self.spec.dependency(name).model_dump(mode="json", by_alias=True)
            for name in trigger.dependencies
        ]
        text = orjson.dumps(
            {"conditions": trigger.condition and trigger.condition.text, "deps": deps},
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(text).hexdigest()

    async def _store_held(self, decision: Decision) -> None:
        if self._kv is None:
            return
        for trigger, dep in decision.held:
            held = trigger.held.get(dep)
            if held is not None:
                await self._kv.put(_held_key(trigger.name, dep), held.to_json())

    async def _release(self, firing: Firing) -> None:
        """After a stateful firing, forget held events that no newer event replaced."""
        trigger = firing.trigger
        if self._kv is None or trigger.condition is None or trigger.condition.stateless:
            return
        for dep in firing.events:
            if dep not in trigger.held:
                await self._kv.delete(_held_key(trigger.name, dep))


class _Settled:
    """Stands in for a delivery acked before its firing (at-most-once)."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.attempt = 1

    async def ack(self) -> None:
        return None

    async def nak(self, delay: float = 0.0) -> None:
        return None


def _transform_failed(error: TransformError) -> FilterResult:
    return FilterResult(False, (Clause("transform", False, None, str(error), error=True),))


def _condition(expression: str | None, dependencies: Sequence[str], path: str) -> Condition:
    try:
        return compile_condition(expression, dependencies)
    except ConfigError as e:
        raise ConfigError(e.reason, path=f"{path}.template.{e.path}") from e


def _held_key(trigger: str, dep: str) -> str:
    return f"{escape(trigger)}.{escape(dep)}"


def _line(sensor: str, event: Event, what: str) -> str:
    return f"sensor={sensor} event={event.id} from={event.source}/{event.subject}: {what}"


async def _close_on(stopping: asyncio.Event, close: Callable[[], Any]) -> None:
    await stopping.wait()
    await close()


async def _close_trigger(trigger: TriggerRunner) -> None:
    await trigger.adapter.close()
    if trigger.dlq is not None:
        await _close_trigger(trigger.dlq)
