"""The ``log`` trigger: write the firing events to the sensor's log.

Useful as a first trigger and for debugging filters; it needs nothing outside
the process. :class:`LogTriggerRunner` writes one line per firing to the
standard ``logging`` logger ``herald.trigger.log``: the sensor and trigger
names and, per dependency (in name order), the event's context and its data as
compact JSON, cut at :data:`MAX_DATA_CHARS` with a note. ``intervalSeconds``
limits it to one line per interval; the firings dropped in between are counted
and reported on the next line, so nothing disappears silently.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from pydantic import Field

from bus.event import Event
from herald.core.model import Spec
from triggers.base import TriggerContext

LOGGER_NAME = "herald.trigger.log"
MAX_DATA_CHARS = 2000
"""Longest rendering of one event's data in a log line; longer data is cut, with a note."""

_LOG = logging.getLogger(LOGGER_NAME)


class LogTrigger(Spec):
    """Log the events that fired the trigger."""

    interval_seconds: int = Field(
        default=0,
        ge=0,
        description="Log at most once per this many seconds; 0 logs every firing.",
    )


class LogTriggerRunner:
    """Logs each firing on one INFO line of ``herald.trigger.log``.

    ``clock`` (seconds, monotonic) is injectable so that tests can move time.
    The interval is read from the spec passed to :meth:`fire`.
    """

    def __init__(
        self,
        spec: LogTrigger,
        context: TriggerContext,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sensor = context.sensor
        self._trigger = context.trigger
        self._clock = clock
        self._last_logged: float | None = None
        self._suppressed = 0

    async def fire(self, spec: LogTrigger, events: Mapping[str, Event]) -> str:
        """Log ``events`` unless the interval forbids it; return what happened."""
        interval = spec.interval_seconds
        now = self._clock()
        if interval > 0 and self._last_logged is not None and now - self._last_logged < interval:
            self._suppressed += 1
            return f"suppressed (at most one line per {interval} s)"
        self._last_logged = now
        suppressed, self._suppressed = self._suppressed, 0
        if _LOG.isEnabledFor(logging.INFO):
            _LOG.info("%s", self._line(events, suppressed))
        count = len(events)
        return f"logged {count} event{'' if count == 1 else 's'}"

    async def close(self) -> None:
        """Nothing to release."""

    def _line(self, events: Mapping[str, Event], suppressed: int) -> str:
        parts = [f"{name}: {_describe(events[name])}" for name in sorted(events)]
        line = f"sensor {self._sensor!r} trigger {self._trigger!r} fired: " + " | ".join(parts)
        if suppressed:
            line += f" ({suppressed} firing{'' if suppressed == 1 else 's'} suppressed)"
        return line


def _describe(event: Event) -> str:
    when = event.time.isoformat().replace("+00:00", "Z")
    return (
        f"id={event.id} source={event.source} subject={event.subject} type={event.type} "
        f"time={when} data={_data_text(event.data)}"
    )


def _data_text(data: Any) -> str:
    """``data`` as compact JSON, cut at MAX_DATA_CHARS with a note saying so."""
    try:
        text = orjson.dumps(data, default=str, option=orjson.OPT_UTC_Z).decode()
    except orjson.JSONEncodeError:
        # orjson refuses some values json accepts (integers beyond 64 bits).
        text = json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= MAX_DATA_CHARS:
        return text
    return f"{text[:MAX_DATA_CHARS]}… (truncated, {len(text)} chars in all)"
