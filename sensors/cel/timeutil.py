"""CEL timestamps and durations over Python ``datetime`` and ``timedelta``.

CEL timestamps are instants between 0001-01-01T00:00:00Z and
9999-12-31T23:59:59.999999999Z, with nanosecond precision; durations are, as
in cel-go, whatever fits in int64 nanoseconds (about ±292 years). Herald reads
any tz-aware ``datetime`` and any ``timedelta`` from an activation, and its
results are ``datetime``/``timedelta`` too: when a value has nanoseconds below
the microsecond it is a :class:`Timestamp` or :class:`Duration`, subclasses that
carry them in ``nanos`` and compare with them.

All arithmetic here is exact integer nanoseconds; anything out of range raises
:class:`CelEvalError`, so no ``OverflowError`` escapes into the engine. This
module also parses and prints both types in CEL's formats (RFC 3339, Go's
duration syntax).
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo
from typing import Any

from sensors.cel.errors import CelEvalError

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
ZERO = datetime.timedelta(0)
MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
MIN_TIMESTAMP_NS = MIN_SECONDS * 10**9
MAX_TIMESTAMP_NS = (MAX_SECONDS + 1) * 10**9 - 1
MIN_DURATION_NS = -(2**63)
MAX_DURATION_NS = 2**63 - 1


class Timestamp(datetime.datetime):
    """A UTC ``datetime`` with ``nanos`` (0-999) below its microseconds."""

    __slots__ = ("nanos",)
    nanos: int

    def __eq__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) == timestamp_ns(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) != timestamp_ns(other)
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) < timestamp_ns(other)
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) <= timestamp_ns(other)
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) > timestamp_ns(other)
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, datetime.datetime):
            return timestamp_ns(self) >= timestamp_ns(other)
        return NotImplemented

    __hash__ = datetime.datetime.__hash__


class Duration(datetime.timedelta):
    """A ``timedelta`` with ``nanos`` (0-999) added to its microseconds."""

    __slots__ = ("nanos",)
    nanos: int

    def __eq__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) == duration_ns(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) != duration_ns(other)
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) < duration_ns(other)
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) <= duration_ns(other)
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) > duration_ns(other)
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, datetime.timedelta):
            return duration_ns(self) >= duration_ns(other)
        return NotImplemented

    __hash__ = datetime.timedelta.__hash__


# -- nanosecond conversions ----------------------------------------------------


def timestamp_ns(ts: datetime.datetime) -> int:
    """Nanoseconds since the Unix epoch (the datetime must be tz-aware)."""
    d = ts - EPOCH
    micros = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    return micros * 1000 + getattr(ts, "nanos", 0)


def from_timestamp_ns(ns: int) -> datetime.datetime:
    """The UTC timestamp ``ns`` after the epoch; raise when outside years 1-9999."""
    if not MIN_TIMESTAMP_NS <= ns <= MAX_TIMESTAMP_NS:
        raise CelEvalError("timestamp out of range (years 1 to 9999)")
    micros, nanos = divmod(ns, 1000)
    base = EPOCH + datetime.timedelta(microseconds=micros)
    if not nanos:
        return base
    ts = Timestamp(
        base.year,
        base.month,
        base.day,
        base.hour,
        base.minute,
        base.second,
        base.microsecond,
        tzinfo=UTC,
    )
    ts.nanos = nanos
    return ts


def duration_ns(d: datetime.timedelta) -> int:
    """The duration in nanoseconds."""
    micros = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    return micros * 1000 + getattr(d, "nanos", 0)


def from_duration_ns(ns: int) -> datetime.timedelta:
    """The duration of ``ns`` nanoseconds; raise outside int64 nanoseconds."""
    if not MIN_DURATION_NS <= ns <= MAX_DURATION_NS:
        raise CelEvalError("duration out of range (int64 nanoseconds, about ±292 years)")
    micros, nanos = divmod(ns, 1000)
    if not nanos:
        return datetime.timedelta(microseconds=micros)
    d = Duration(microseconds=micros)
    d.nanos = nanos
    return d


# -- arithmetic ------------------------------------------------------------------


def add_timestamp(ts: datetime.datetime, delta: datetime.timedelta) -> datetime.datetime:
    """``ts + delta`` with CEL's range error."""
    return from_timestamp_ns(timestamp_ns(ts) + duration_ns(delta))


def subtract_timestamp(ts: datetime.datetime, delta: datetime.timedelta) -> datetime.datetime:
    """``ts - delta`` with CEL's range error."""
    return from_timestamp_ns(timestamp_ns(ts) - duration_ns(delta))


def sub_timestamps(a: datetime.datetime, b: datetime.datetime) -> datetime.timedelta:
    """``a - b`` as a duration, with CEL's range error."""
    return from_duration_ns(timestamp_ns(a) - timestamp_ns(b))


def add_durations(a: datetime.timedelta, b: datetime.timedelta) -> datetime.timedelta:
    """``a + b`` with CEL's range error."""
    return from_duration_ns(duration_ns(a) + duration_ns(b))


def sub_durations(a: datetime.timedelta, b: datetime.timedelta) -> datetime.timedelta:
    """``a - b`` with CEL's range error."""
    return from_duration_ns(duration_ns(a) - duration_ns(b))


def negate_duration(a: datetime.timedelta) -> datetime.timedelta:
    """``-a`` with CEL's range error."""
    return from_duration_ns(-duration_ns(a))


def check_duration(value: datetime.timedelta) -> datetime.timedelta:
    """Return ``value`` if it fits in int64 nanoseconds, else raise."""
    return from_duration_ns(duration_ns(value)) if value else value


# -- conversions -----------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def parse_timestamp(text: str) -> datetime.datetime:
    """Parse an RFC 3339 timestamp such as ``2009-02-13T23:31:30.5Z``."""
    m = _RFC3339.match(text)
    if not m:
        raise CelEvalError(f"timestamp {text!r} is not RFC 3339")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    nanos = int(((m.group(7) or "") + "000000000")[:9])
    offset = 0
    if not m.group(8):
        sign = -1 if m.group(9) == "-" else 1
        offset = sign * (int(m.group(10)) * 3600 + int(m.group(11)) * 60)
    if year < 1:
        raise CelEvalError(f"timestamp {text!r} out of range")
    try:
        wall = datetime.datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise CelEvalError(f"timestamp {text!r} is not a valid date and time") from None
    seconds = (wall - EPOCH) // datetime.timedelta(seconds=1) - offset
    try:
        return from_timestamp_ns(seconds * 10**9 + nanos)
    except CelEvalError:
        raise CelEvalError(f"timestamp {text!r} out of range") from None


def timestamp_from_seconds(seconds: int) -> datetime.datetime:
    """The timestamp ``seconds`` after the Unix epoch."""
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise CelEvalError(f"timestamp({seconds}) out of range")
    return EPOCH + datetime.timedelta(seconds=seconds)


def timestamp_seconds(ts: datetime.datetime) -> int:
    """Whole seconds since the Unix epoch (floor)."""
    return timestamp_ns(ts) // 10**9


def format_timestamp(ts: datetime.datetime) -> str:
    """RFC 3339 in UTC with the fraction trimmed, as CEL's ``string(timestamp)``."""
    ns = timestamp_ns(ts)
    seconds, fraction = divmod(ns, 10**9)
    utc = EPOCH + datetime.timedelta(seconds=seconds)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc:%H:%M:%S}"
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def parse_duration(text: str) -> datetime.timedelta:
    """Parse Go's duration syntax (``1h30m``, ``-1.5s``, ``100ns``), exactly."""
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return ZERO
    if not s:
        raise CelEvalError(f"invalid duration {text!r}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        whole, fraction, unit = (m.group(1), m.group(2) or "", m.group(3)) if m else ("", "", "")
        if not m or not (whole or fraction):
            raise CelEvalError(f"invalid duration {text!r}")
        scale = _UNIT_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        pos = m.end()
    return from_duration_ns(sign * total)


def duration_from_seconds(seconds: int) -> datetime.timedelta:
    """``duration(int)``: that many seconds."""
    return from_duration_ns(seconds * 10**9)


def format_duration(value: datetime.timedelta) -> str:
    """Seconds with a trimmed fraction and an ``s``, as CEL's ``string(duration)``."""
    ns = duration_ns(value)
    sign = "-" if ns < 0 else ""
    seconds, fraction = divmod(abs(ns), 10**9)
    if fraction:
        return f"{sign}{seconds}." + f"{fraction:09d}".rstrip("0") + "s"
    return f"{sign}{seconds}s"


_OFFSET = re.compile(r"([+-]?)(\d{1,2}):(\d{2})\Z")


@functools.lru_cache(maxsize=256)
def timezone(name: str) -> datetime.tzinfo:
    """A tzinfo for an IANA name (``Europe/Paris``) or a fixed offset (``+05:30``)."""
    m = _OFFSET.match(name)
    if m:
        offset = datetime.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return datetime.timezone(-offset if m.group(1) == "-" else offset)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CelEvalError(f"unknown time zone {name!r}") from None


def in_zone(ts: Any, tz: datetime.tzinfo) -> datetime.datetime:
    """``ts`` as wall-clock time in ``tz`` (sub-microsecond nanoseconds dropped)."""
    try:
        result: datetime.datetime = ts.astimezone(tz)
    except OverflowError:
        raise CelEvalError("timestamp out of range in that time zone") from None
    return result
