"""``herald run``: every EventSource and Sensor of some manifests in one process.

The runner refuses what it cannot run before starting anything (unknown or
not-yet-runnable source and trigger types, filters that do not compile), then:

1. opens the bus (sqlite in the state directory by default, or ``--bus``);
2. starts every sensor, which subscribes before any source takes input, so no
   event published by this process is missed;
3. starts every source, each event of each EventSource as one named task, and
   waits until all of them listen;
4. on SIGTERM/SIGINT stops intake (sources and HTTP servers; in-flight requests
   finish and are acknowledged only once the bus has them), lets sensors drain
   their in-flight firings up to the grace period, then closes the bus.
   Deliveries not settled by then are delivered again on the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.base import DEFAULT_DEDUP_WINDOW, Bus, KeyValue
from bus.event import Event
from bus.registry import open_bus
from eventsources import source as source_registry
from eventsources.http_server import HTTPServers
from eventsources.source import EmitResult, Source, SourceContext
from eventsources.spec import EVENT_SOURCE_TYPES
from herald.core.errors import ConfigError, HeraldError
from herald.loader import EventBusManifest, EventSourceManifest, LoadResult, SensorManifest
from herald.settings import Settings
from herald.supervisor import Supervisor
from sensors import cel
from sensors.exprs import SourceFilter, TranslationError
from sensors.sensor import Sensor
from triggers.base import SharedHTTP, TriggerContext

log = logging.getLogger("herald.run")

READY_TIMEOUT = 30.0
"""Seconds a source or sensor may take to become ready before the run fails."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Something in the manifests that this process cannot run."""

    origin: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.path}: {self.message}"


@dataclass(slots=True)
class _SourcePlan:
    event_source: str
    event_name: str
    kind: str
    source: Source
    emitter: _Emitter


class _BusRef:
    """The bus, once it is open: sources get its key-value stores before it exists."""

    def __init__(self) -> None:
        self.bus: Bus | None = None

    async def kv(self, name: str) -> KeyValue:
        if self.bus is None:
            raise HeraldError(f"key-value store {name!r} asked for before the bus was opened")
        return await self.bus.kv(name)


@dataclass(slots=True)
class Plan:
    """Everything to run, built and checked before anything starts."""

    sensors: list[Sensor] = field(default_factory=list)
    sources: list[_SourcePlan] = field(default_factory=list)
    http: SharedHTTP = field(default_factory=SharedHTTP)
    bus: _BusRef = field(default_factory=_BusRef)
    refusals: list[Refusal] = field(default_factory=list)
    bus_url: str = ""
    dedup_window: float = DEFAULT_DEDUP_WINDOW


def plan(result: LoadResult, settings: Settings, servers: HTTPServers) -> Plan:
    """Build sources and sensors from loaded manifests; collect every refusal."""
    out = Plan()
    secrets = settings.secret_store()
    _plan_bus(result, settings, out)
    for res in result.of_kind("Sensor"):
        assert isinstance(res.manifest, SensorManifest)
        sensor_name = res.name

        def context(trigger: str, sensor: str = sensor_name) -> TriggerContext:
            return TriggerContext(
                sensor=sensor,
                trigger=trigger,
                secrets=secrets,
                shared_http=out.http,
                slack_api_url=settings.slack_api_url,
            )

        try:
            out.sensors.append(Sensor(res.name, res.manifest.spec, context))
        except ConfigError as e:
            out.refusals.append(Refusal(res.origin, e.path, e.reason))
    routes: dict[tuple[str, str], str] = {}
    for res in result.of_kind("EventSource"):
        assert isinstance(res.manifest, EventSourceManifest)
        for kind, name, config in res.manifest.spec.events():
            path = f"spec.{kind}.{name}"
            route = config.http_route()
            if route is not None:
                where = f"{res.origin} {path}"
                key = route[1].route_key()
                if key in routes and not routes[key].startswith(f"{res.origin} "):
                    out.refusals.append(
                        Refusal(
                            res.origin,
                            path,
                            f"port {key[0]} endpoint {key[1]} is also served by {routes[key]}; "
                            "in one process every port and endpoint can serve one event",
                        )
                    )
                    continue
                routes.setdefault(key, where)
            try:
                make = source_registry.factory(kind)
                filter_program = _compile_filter(config, path)
            except ConfigError as e:
                out.refusals.append(Refusal(res.origin, e.path or path, e.reason))
                continue
            ctx = SourceContext(
                event_source=res.name,
                event_name=name,
                secrets=secrets,
                http=servers,
                kv=out.bus.kv,
            )
            try:
                made = make(config, ctx)
            except ConfigError as e:
                out.refusals.append(Refusal(res.origin, e.path or path, e.reason))
                continue
            out.sources.append(
                _SourcePlan(
                    res.name,
                    name,
                    EVENT_SOURCE_TYPES[kind],
                    made,
                    _Emitter(res.name, name, filter_program),
                )
            )
    return out


def _plan_bus(result: LoadResult, settings: Settings, out: Plan) -> None:
    buses = result.of_kind("EventBus")
    embedded = None
    for res in buses:
        assert isinstance(res.manifest, EventBusManifest)
        if res.manifest.spec.embedded is not None:
            embedded = res.manifest.spec
            break
    if settings.bus_url:
        out.bus_url = settings.bus_url
    elif embedded is not None and embedded.embedded is not None:
        out.bus_url = embedded.embedded.url
    else:
        out.bus_url = settings.effective_bus_url()
    if embedded is not None:
        out.dedup_window = embedded.dedup_window_seconds()


def _compile_filter(config: Any, path: str) -> SourceFilter | None:
    spec = getattr(config, "filter", None)
    if spec is None:
        return None
    try:
        return SourceFilter(spec.expression)
    except TranslationError as e:
        raise ConfigError(e.reason, path=f"{path}.filter.expression") from e


class _Emitter:
    """Applies an EventSource's filter, then publishes; one per event of a source."""

    __slots__ = ("_bus", "_name", "_program")

    def __init__(self, event_source: str, event_name: str, program: SourceFilter | None) -> None:
        self._name = f"{event_source}/{event_name}"
        self._program = program
        self._bus: Bus | None = None

    def bind(self, bus: Bus) -> None:
        self._bus = bus

    async def emit(self, event: Event) -> EmitResult:
        if self._bus is None:
            raise HeraldError("emit called before the bus was opened")
        if self._program is not None and not self._passes(event):
            return EmitResult.FILTERED
        if await self._bus.publish(event):
            log.debug("source=%s event=%s: published", self._name, event.id)
            return EmitResult.PUBLISHED
        log.info(
            "source=%s event=%s: duplicate within the dedup window, dropped", self._name, event.id
        )
        return EmitResult.DUPLICATE

    def _passes(self, event: Event) -> bool:
        assert self._program is not None
        try:
            passed = self._program.matches(event.data)
        except cel.CelError as e:
            log.info(
                "source=%s event=%s: dropped, filter %r failed: %s",
                self._name,
                event.id,
                self._program.expression,
                e,
            )
            return False
        if not passed:
            log.info(
                "source=%s event=%s: dropped by filter %r",
                self._name,
                event.id,
                self._program.expression,
            )
        return passed


async def run(result: LoadResult, settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run the loaded manifests until ``stop`` (or a signal); returns an exit code."""
    servers = HTTPServers(
        host=settings.http_host, secrets=settings.secret_store(), grace=settings.shutdown_grace
    )
    the_plan = plan(result, settings, servers)
    if the_plan.refusals:
        for refusal in the_plan.refusals:
            log.error("cannot run: %s", refusal)
        return 2
    if not the_plan.sensors and not the_plan.sources:
        log.error("nothing to run: no EventSource or Sensor in the given paths")
        return 2
    bus = open_bus(the_plan.bus_url, dedup_window=the_plan.dedup_window)
    await bus.start()
    the_plan.bus.bus = bus
    log.info("bus %s open", bus.url)
    try:
        async with Supervisor() as sup:
            if stop is None:
                sup.handle_signals()
            else:
                sup.start("stop-relay", _relay(stop, sup.stopping))
            sensors_stop = asyncio.Event()
            sensor_tasks, source_tasks = await _start_all(sup, the_plan, bus, sensors_stop)
            log.info(
                "herald running: %d sources, %d sensors (stop with Ctrl-C or SIGTERM)",
                len(the_plan.sources),
                len(the_plan.sensors),
            )
            await sup.stopping.wait()
            await _shutdown(
                sensor_tasks, source_tasks, servers, sensors_stop, settings.shutdown_grace
            )
    finally:
        await servers.close()
        await the_plan.http.close()
        await bus.close()
        log.info("herald stopped")
    return 0


async def _start_all(
    sup: Supervisor, the_plan: Plan, bus: Bus, sensors_stop: asyncio.Event
) -> tuple[list[asyncio.Task[Any]], list[asyncio.Task[Any]]]:
    """Start sensors, then sources; return (sensor tasks, source tasks) once all are ready."""
    sensor_tasks, source_tasks = [], []
    readies: list[tuple[str, asyncio.Event]] = []
    for sensor in the_plan.sensors:
        ready = asyncio.Event()
        sensor_tasks.append(
            sup.start(f"sensor:{sensor.name}", sensor.run(bus, ready, sensors_stop))
        )
        readies.append((f"sensor {sensor.name}", ready))
    await _all_ready(readies)
    readies = []
    for item in the_plan.sources:
        item.emitter.bind(bus)
        name = f"source:{item.event_source}/{item.event_name}"
        source_tasks.append(sup.start(name, item.source.run(item.emitter.emit)))
        readies.append((f"source {item.event_source}/{item.event_name}", item.source.ready))
    await _all_ready(readies)
    return sensor_tasks, source_tasks


async def _all_ready(readies: Sequence[tuple[str, asyncio.Event]]) -> None:
    for what, ready in readies:
        try:
            await asyncio.wait_for(ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            raise HeraldError(f"{what} did not become ready within {READY_TIMEOUT:g}s") from None


async def _shutdown(
    sensor_tasks: Sequence[asyncio.Task[Any]],
    source_tasks: Sequence[asyncio.Task[Any]],
    servers: HTTPServers,
    sensors_stop: asyncio.Event,
    grace: float,
) -> None:
    """Stop intake, then let sensors drain their in-flight firings within ``grace``."""
    await servers.close()
    for task in source_tasks:
        task.cancel()
    await asyncio.gather(*source_tasks, return_exceptions=True)
    sensors_stop.set()
    done, pending = await asyncio.wait(sensor_tasks, timeout=grace) if sensor_tasks else ((), ())
    del done
    if pending:
        log.warning(
            "%d sensors still firing after %gs; their events will be delivered again on restart",
            len(pending),
            grace,
        )
        for task in pending:
            task.cancel()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
