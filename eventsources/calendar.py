"""The ``calendar`` source: events on a cron schedule or at a fixed interval.

The config is Argo's ``CalendarEventSource``. Argo parses ``schedule`` with the
standard five cron fields (minute hour day-of-month month day-of-week, an
optional ``CRON_TZ=<zone>`` prefix, no ``@hourly`` descriptors) and takes it in
preference to ``interval``; one of the two is required. Both are checked here so
that a bad schedule fails at validation, not when the source starts.
``persistence`` keeps the last tick so that missed ones can be caught up.

:class:`CalendarSource` runs one event. What it guarantees:

- **One event per tick, never two.** The event id is
  ``<eventSource>:<event>:<tick>`` with the tick's scheduled time in RFC 3339
  UTC (``es:ev:2026-01-02T15:04:00Z``), and the last emitted tick is kept in
  the bus's key-value store (bucket ``eventsource-<eventSource>``, key
  ``calendar.<event>``): a tick at or before it is never emitted again, and a
  tick replayed after a crash between the bus and the store is dropped by the
  bus's deduplication (argo-events #2265 reports duplicate calendar events).
- **Data** is Argo's ``CalendarEventData``: ``{"eventTime", "metadata"}``,
  ``eventTime`` being the tick in the schedule's zone as Go's
  ``time.Time.String()`` writes it (``2026-01-02 15:04:00 +0000 UTC``);
  ``metadata`` only when set.
- **Time zones.** ``timezone`` (an IANA name, ``Local`` for this machine's
  zone, default UTC) is the zone the cron fields are read in; a
  ``CRON_TZ=``/``TZ=`` prefix in ``schedule`` wins over it. Daylight-saving
  gaps fire at the first valid time after the gap. ``exclusionDates`` skip
  every tick whose date, in the schedule's zone, is the date of one of them.
- **Intervals** tick on a grid: the first tick is a whole second plus the
  interval after the start, each next one an interval after the previous one
  (not after the moment it fired), so ticks do not drift.
- **Catch-up.** With ``persistence.catchup.enabled``, ticks missed while
  Herald was down (or while the bus refused events) are emitted at start, in
  order, oldest first, from the last emitted tick but from no further back
  than ``maxDuration``. Without it, missed ticks are skipped (with a log line)
  and the schedule resumes from now.
- A :class:`~herald.core.errors.BusError` from ``emit`` is retried for the same
  tick with a backoff; the tick is not lost. ``ready`` is set once the last
  tick has been read and the next one computed.

Where Herald differs from Argo, and why: Argo keeps the last tick in a
ConfigMap named by ``persistence.configMap`` (only when it is set, and catches
up only then); Herald keeps it in the bus's key-value store whenever the
process provides one, which works the same outside Kubernetes, so
``configMap`` is accepted and ignored with a log note. ``eventTime`` is the
scheduled time, not the moment the timer fired (Argo's carries a few
milliseconds of delay and Go's monotonic clock reading), so that the same tick
always has the same data. Without ``timezone`` Herald reads the schedule in
UTC; Argo uses the pod's local zone, which is UTC in its container image.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import Field, field_validator, model_validator

from bus.base import KeyValue
from bus.event import Event
from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    invalid,
    metadata_field,
)
from eventsources.source import Emit, SourceContext
from herald.core.backoff import Backoff
from herald.core.cron import Schedule, schedule
from herald.core.durations import format_seconds, parse_go_duration
from herald.core.errors import BusError, ConfigError
from herald.core.model import Spec

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, lowest, highest, names) of the five fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_EXDATE_PREFIX = "EXDATE:"
_EXDATE_FORMAT = "%Y%m%dT%H%M%SZ"
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def check_timezone(name: str) -> str:
    """An IANA time zone name (``UTC``, ``Europe/Paris``), or ``Local``."""
    if name in ("", "Local", "UTC"):
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise field_error(
            "invalid_timezone",
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'",
        ) from None
    return name


def _number(text: str, names: dict[str, int], field: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"{field} {text!r} is not a number")
    return int(text)


def _check_field(text: str, field: str, lowest: int, highest: int, names: dict[str, int]) -> None:
    for part in text.split(","):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise ValueError(f"{field} {part!r} has more than one '/'")
        bounds = range_step[0].split("-")
        if bounds[0] in ("*", "?"):
            start, end = lowest, highest
        else:
            if len(bounds) > 2:
                raise ValueError(f"{field} {part!r} has more than one '-'")
            start = _number(bounds[0], names, field)
            end = _number(bounds[1], names, field) if len(bounds) == 2 else start
        if len(range_step) == 2:
            step = range_step[1]
            if not step.isdigit() or int(step) == 0:
                raise ValueError(f"{field} step {step!r} must be a positive number")
            if len(bounds) == 1:
                end = highest
        if start < lowest or end > highest:
            raise ValueError(f"{field} {part!r} is outside {lowest}-{highest}")
        if start > end:
            raise ValueError(f"{field} range {part!r} runs backwards")


def check_cron(expression: str) -> str:
    """A five-field cron expression as Argo's calendar parses it; raises ValueError."""
    spec = expression.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        zone, _, spec = spec.partition(" ")
        check_timezone(zone.partition("=")[2])
        spec = spec.strip()
    if spec.startswith("@"):
        raise ValueError(
            f"{spec!r}: descriptors such as @hourly are not accepted; "
            "write the five fields, e.g. '0 * * * *'"
        )
    fields = spec.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} has {len(fields)} fields; a schedule has 5: "
            "minute hour day-of-month month day-of-week, e.g. '30 * * * *'"
        )
    for text, (field, lowest, highest, names) in zip(fields, _FIELDS, strict=True):
        _check_field(text, field, lowest, highest, names)
    return expression


def _positive_duration(value: str, what: str) -> str:
    try:
        seconds = parse_go_duration(value)
    except ValueError as e:
        raise field_error("invalid_duration", str(e)) from None
    if seconds <= 0:
        raise field_error("invalid_duration", f"{what} must be longer than zero, e.g. 10s")
    return value


class CatchupConfiguration(Spec):
    """Fire the ticks missed while the source was down, when it starts again."""

    enabled: bool | None = Field(default=None, description="Catch up missed ticks on start.")
    max_duration: str | None = Field(
        default=None, description="Catch up at most this far back, e.g. 5m (default: no limit)."
    )

    @field_validator("max_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _positive_duration(value, "maxDuration")


class ConfigMapPersistence(Spec):
    """The ConfigMap Argo keeps the last tick in (Herald keeps it in the bus's key-value store)."""

    name: str | None = Field(default=None, description="ConfigMap name.")
    create_if_not_exist: bool | None = Field(
        default=None, description="Create the ConfigMap when it is missing."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _K8S_NAME.match(value):
            raise field_error(
                "invalid_name", f"{value!r} is not a valid Kubernetes name (lowercase DNS name)"
            )
        return value


class EventPersistence(Spec):
    """Remember the last tick across restarts."""

    catchup: CatchupConfiguration | None = Field(
        default=None, description="Catch up missed ticks on start."
    )
    config_map: ConfigMapPersistence | None = Field(
        default=None, description="Where Argo stores the last tick."
    )


class CalendarEventSource(SourceConfig):
    """One timer event: a cron schedule or an interval."""

    schedule: str | None = Field(
        default=None,
        description="Cron expression with 5 fields, e.g. '30 * * * *'; wins over interval.",
    )
    interval: str | None = Field(
        default=None, description="Fixed interval as a duration, e.g. 10s, 30m, 2h."
    )
    exclusion_dates: list[str] | None = Field(
        default=None,
        description="Days without ticks, as 'EXDATE:20250102T150405Z' (date part is matched).",
    )
    timezone: str | None = Field(
        default=None, description="IANA time zone the schedule runs in, e.g. America/New_York."
    )
    metadata: Metadata | None = metadata_field()
    persistence: EventPersistence | None = Field(
        default=None, description="Remember the last tick across restarts, and catch up."
    )
    filter: EventSourceFilter | None = filter_field()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_cron(value)
        except ValueError as e:
            raise field_error("invalid_cron", str(e)) from None

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        return None if value is None else _positive_duration(value, "interval")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("exclusion_dates")
    @classmethod
    def _exclusion_dates(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            if not entry.startswith(_EXDATE_PREFIX):
                raise field_error(
                    "invalid_exclusion_date",
                    f"{entry!r} must start with 'EXDATE:', e.g. 'EXDATE:20250102T150405Z'",
                )
            for stamp in entry[len(_EXDATE_PREFIX) :].split(","):
                try:
                    datetime.strptime(stamp, _EXDATE_FORMAT)
                except ValueError:
                    raise field_error(
                        "invalid_exclusion_date",
                        f"{stamp!r} in {entry!r} is not a UTC date-time like 20250102T150405Z",
                    ) from None
        return value

    @model_validator(mode="after")
    def _when(self) -> Self:
        if not self.schedule and not self.interval:
            raise invalid(
                Problem(
                    (),
                    "say when to fire: set schedule (cron, e.g. '30 * * * *') or "
                    "interval (e.g. 10s)",
                    kind="missing",
                ),
                title=type(self).__name__,
            )
        return self

    @property
    def interval_seconds(self) -> float | None:
        """The interval in seconds, or None for a schedule."""
        return None if self.interval is None else parse_go_duration(self.interval)

    def manifest_warnings(self) -> list[Note]:
        """``interval`` next to ``schedule`` loads, as in Argo, but does nothing."""
        if self.schedule and self.interval:
            return [
                (
                    ("interval",),
                    "interval is ignored because schedule is set (schedule wins, as in Argo): "
                    "remove one",
                )
            ]
        return []


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.calendar")

EVENT_TYPE = "calendar"
"""The ``type`` attribute of every event of this source."""

MAX_SKIPPED_TICKS = 100_000
"""Ticks skipped by ``exclusionDates`` in a row before the schedule counts as never firing."""

MAX_RETRY_DELAY = 30.0
"""Seconds between two attempts to emit a tick the bus refused, at most."""

_CRON_PREFIXES = ("CRON_TZ=", "TZ=")


class Clock(Protocol):
    """Wall-clock time for the source; tests inject one they move by hand."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now()`` is at or after ``when``."""
        ...


class SystemClock:
    """The real clock: sleeps in slices, so that a wall-clock jump is noticed within a minute."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 60.0))


def local_zone() -> ZoneInfo:
    """This machine's time zone (``/etc/localtime``), or UTC when it has none."""
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="Local")
    except (OSError, ValueError):
        log.info("no /etc/localtime: timezone Local is read as UTC")
        return ZoneInfo("UTC")


def go_time(when: datetime) -> str:
    """``when`` as Go's ``time.Time.String()`` writes it: ``2006-01-02 15:04:05.5 -0700 MST``."""
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    return f"{when:%Y-%m-%d %H:%M:%S}{fraction} {when:%z} {when.tzname()}"


def rfc3339(when: datetime) -> str:
    """``when`` in UTC as RFC 3339 with a ``Z`` (fraction only when there is one)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _exclusions(entries: list[str] | None) -> frozenset[date]:
    """The dates of ``EXDATE:`` entries (UTC date of each stamp, as Argo compares them)."""
    days: set[date] = set()
    for entry in entries or []:
        for stamp in entry[len(_EXDATE_PREFIX) :].split(","):
            days.add(datetime.strptime(stamp, _EXDATE_FORMAT).date())
    return frozenset(days)


@dataclasses.dataclass(frozen=True, slots=True)
class Ticks:
    """When a calendar fires: a cron schedule or an interval grid, minus excluded dates."""

    zone: ZoneInfo
    cron: Schedule | None
    interval: timedelta | None
    excluded: frozenset[date]

    @classmethod
    def of(cls, config: CalendarEventSource) -> Ticks:
        """The ticks of ``config``; ConfigError when its zone or schedule cannot be used."""
        name = config.timezone or "UTC"
        zone = local_zone() if name == "Local" else ZoneInfo(name)
        cron: Schedule | None = None
        interval: timedelta | None = None
        if config.schedule:
            cron = schedule(config.schedule, None if name == "Local" else name)
            if name == "Local" and not config.schedule.strip().startswith(_CRON_PREFIXES):
                cron = dataclasses.replace(cron, zone=zone)
            zone = cron.zone
        else:
            seconds = config.interval_seconds
            assert seconds is not None  # the model requires schedule or interval
            interval = timedelta(seconds=seconds)
        return cls(zone, cron, interval, _exclusions(config.exclusion_dates))

    def first_after(self, start: datetime) -> datetime:
        """The first tick strictly after ``start`` (an interval starts on a whole second)."""
        if self.interval is None:
            return self._allowed(self._raw_next(start))
        tick = start.replace(microsecond=0) + self.interval
        while tick <= start:
            tick += self.interval
        return self._allowed(tick)

    def after(self, tick: datetime) -> datetime:
        """The tick that follows ``tick``."""
        return self._allowed(self._raw_next(tick))

    def resume(self, tick: datetime, when: datetime) -> datetime:
        """The first tick at or after ``when`` on the grid of ``tick`` (an earlier tick)."""
        if self.interval is None:
            return self._allowed(self._raw_next(when - timedelta(microseconds=1)))
        steps = -((tick - when) // self.interval)  # ceiling division
        return self._allowed(tick + max(steps, 0) * self.interval)

    def _raw_next(self, when: datetime) -> datetime:
        if self.interval is not None:
            return when + self.interval
        assert self.cron is not None
        try:
            return self.cron.next_after(when)
        except ValueError as e:  # croniter: no such date (e.g. February 31)
            raise ConfigError(f"schedule {self.cron.expression!r} never fires: {e}") from e

    def _allowed(self, tick: datetime) -> datetime:
        if not self.excluded:
            return tick
        for _ in range(MAX_SKIPPED_TICKS):
            if tick.astimezone(self.zone).date() not in self.excluded:
                return tick
            tick = self._raw_next(tick)
        raise ConfigError(
            f"no tick outside exclusionDates in the next {MAX_SKIPPED_TICKS} ticks: "
            "remove some exclusion dates"
        )


def _retry_delays() -> Iterator[float]:
    last = 1.0
    for delay in Backoff.model_validate({"duration": "100ms", "factor": 2, "steps": 10}).delays():
        last = min(delay, MAX_RETRY_DELAY)
        yield last
    while True:
        yield last


class CalendarSource:
    """One event of a ``calendar`` EventSource.

    ``clock`` is injectable so that tests move time instead of waiting for it.
    """

    def __init__(
        self,
        config: CalendarEventSource,
        context: SourceContext,
        *,
        clock: Clock | None = None,
    ) -> None:
        owner = f"{context.event_source}/{context.event_name}"
        self.config = config
        self.context = context
        self.owner = owner
        self._clock: Clock = clock or SystemClock()
        try:
            self._ticks = Ticks.of(config)
            self._ticks.first_after(self._clock.now())
        except ConfigError as e:
            raise ConfigError(f"{owner}: {e}", path="schedule") from e
        catchup = config.persistence.catchup if config.persistence else None
        self._catchup = bool(catchup and catchup.enabled)
        self._max_text = catchup.max_duration if catchup is not None else None
        self._max_catchup = (
            timedelta(seconds=parse_go_duration(self._max_text)) if self._max_text else None
        )
        if self._catchup and context.kv is None:
            raise ConfigError(
                f"{owner}: persistence.catchup needs the bus's key-value store to remember the "
                "last tick, and this process gives the source none",
                path="persistence.catchup",
            )
        self._bucket = f"eventsource-{context.event_source}"
        self._key = f"calendar.{context.event_name}"
        self._id_prefix = f"{context.event_source}:{context.event_name}:"
        self._metadata = dict(config.metadata) if config.metadata else None
        self._ready = asyncio.Event()

    @property
    def ready(self) -> asyncio.Event:
        """Set once the last tick is known and the next one scheduled."""
        return self._ready

    async def run(self, emit: Emit) -> None:
        """Emit one event per tick until cancelled."""
        try:
            await self._run(emit)
        finally:
            self._ready.clear()

    async def _run(self, emit: Emit) -> None:
        persistence = self.config.persistence
        if persistence is not None and persistence.config_map is not None:
            log.info(
                "%s: persistence.configMap is not used: Herald keeps the last tick in the bus's "
                "key-value store %s",
                self.owner,
                self._bucket,
            )
        store = await self._store()
        last = await self._load(store)
        now = self._clock.now()
        if last is None:
            tick = self._ticks.first_after(now)
        else:
            # Continue the grid of the last run (an interval keeps its phase).
            tick = self._ticks.after(last)
            if not self._catchup and tick < now:
                tick = self._ticks.resume(tick, now)
            elif self._max_catchup is not None and tick < now - self._max_catchup:
                earliest = now - self._max_catchup
                log.info(
                    "%s: last tick %s is older than catchup.maxDuration %s: catching up from %s",
                    self.owner,
                    rfc3339(last),
                    self._max_text,
                    rfc3339(earliest),
                )
                tick = self._ticks.resume(tick, earliest)
        if tick < now:
            log.info("%s: catching up ticks missed since %s", self.owner, rfc3339(tick))
        self._ready.set()
        log.info("%s: %s; next tick at %s", self.owner, self._describe(), rfc3339(tick))
        while True:
            if last is not None and tick <= last:
                tick = self._ticks.after(tick)  # emitted before: never twice
                continue
            await self._clock.sleep_until(tick)
            await self._emit(tick, emit)
            last = tick
            await self._save(store, tick)
            tick = self._next(tick)

    def _next(self, tick: datetime) -> datetime:
        """The tick after ``tick``; without catch-up, ticks already in the past are skipped."""
        following = self._ticks.after(tick)
        now = self._clock.now()
        if following >= now:
            return following
        if not self._catchup:
            resumed = self._ticks.resume(following, now)
            log.warning(
                "%s: ticks from %s to before %s were missed and are skipped "
                "(set persistence.catchup.enabled to emit them)",
                self.owner,
                rfc3339(following),
                rfc3339(resumed),
            )
            return resumed
        if self._max_catchup is not None and now - following > self._max_catchup:
            return self._ticks.resume(following, now - self._max_catchup)
        return following

    def _describe(self) -> str:
        ticks = self._ticks
        if ticks.interval is not None:
            return f"every {format_seconds(ticks.interval.total_seconds())}"
        assert ticks.cron is not None
        return f"schedule {ticks.cron.expression!r} in {ticks.zone.key}"

    async def _emit(self, tick: datetime, emit: Emit) -> None:
        """Emit the event of ``tick``, retrying while the bus refuses it."""
        data: dict[str, object] = {"eventTime": go_time(tick.astimezone(self._ticks.zone))}
        if self._metadata is not None:
            data["metadata"] = self._metadata
        event = Event.new(
            source=self.context.event_source,
            type=EVENT_TYPE,
            subject=self.context.event_name,
            data=data,
            id=self._id_prefix + rfc3339(tick),
        )
        delays: Iterator[float] | None = None
        while True:
            try:
                result = await emit(event)
            except BusError as e:
                if delays is None:
                    delays = _retry_delays()
                    log.warning(
                        "%s: the bus did not take tick %s (%s); retrying", self.owner, event.id, e
                    )
                await asyncio.sleep(next(delays))
                continue
            if delays is not None:
                log.info("%s: the bus took tick %s", self.owner, event.id)
            log.debug("%s: tick %s %s", self.owner, event.id, result.value)
            return

    async def _store(self) -> KeyValue | None:
        """The key-value store of the last tick (None when the process gives none)."""
        opener = self.context.kv
        if opener is None:
            return None
        delays: Iterator[float] | None = None
        while True:
            try:
                return await opener(self._bucket)
            except BusError as e:
                if delays is None:
                    delays = _retry_delays()
                    log.warning("%s: cannot open the key-value store (%s); retrying", self.owner, e)
                await asyncio.sleep(next(delays))

    async def _load(self, store: KeyValue | None) -> datetime | None:
        """The last emitted tick, if one was stored."""
        if store is None:
            return None
        delays: Iterator[float] | None = None
        while True:
            try:
                raw = await store.get(self._key)
                break
            except BusError as e:
                if delays is None:
                    delays = _retry_delays()
                    log.warning("%s: cannot read the last tick (%s); retrying", self.owner, e)
                await asyncio.sleep(next(delays))
        if raw is None:
            return None
        try:
            stored = datetime.fromisoformat(orjson.loads(raw)["lastTick"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            log.warning(
                "%s: the stored last tick %r is unreadable (%s): starting from now",
                self.owner,
                raw[:100],
                e,
            )
            return None
        return stored if stored.tzinfo is not None else stored.replace(tzinfo=UTC)

    async def _save(self, store: KeyValue | None, tick: datetime) -> None:
        """Remember ``tick`` as the last emitted one (a failure is logged, not fatal)."""
        if store is None:
            return
        try:
            await store.put(self._key, orjson.dumps({"lastTick": rfc3339(tick)}))
        except BusError as e:
            log.warning(
                "%s: the last tick %s was not stored (%s); a restart may emit it again, "
                "and the bus drops the duplicate",
                self.owner,
                rfc3339(tick),
                e,
            )
