"""CEL timestamps and durations over Python ``datetime`` and ``timedelta``.

CEL timestamps are instants between 0001-01-01T00:00:00Z and
9999-12-31T23:59:59.999999999Z; Herald carries them as tz-aware ``datetime``
(microsecond precision: nanoseconds in literals are truncated). CEL durations are
``timedelta`` limited, as in cel-go, to what fits in int64 nanoseconds
(about ±292 years). This module parses and prints both in CEL's formats
(RFC 3339, Go's duration syntax) and raises :class:`CelEvalError` on anything out
of range, so no ``OverflowError`` escapes into the engine.
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo

from sensors.cel.errors import CelEvalError

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MIN_TIMESTAMP = datetime.datetime(1, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
MAX_DURATION_US = (2**63 - 1) // 1000
ZERO = datetime.timedelta(0)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_US = {
    "ns": 0.001,
    "us": 1,
    "µs": 1,
    "μs": 1,
    "ms": 1000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
}
_OFFSET = re.compile(r"([+-]?)(\d{1,2}):(\d{2})\Z")


def check_timestamp(value: datetime.datetime) -> datetime.datetime:
    """Return ``value`` if CEL allows it (year 1 to 9999), else raise."""
    return value


def check_duration(value: datetime.timedelta) -> datetime.timedelta:
    """Return ``value`` if it fits in int64 nanoseconds (cel-go's range), else raise."""
    us = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    if -MAX_DURATION_US <= us <= MAX_DURATION_US:
        return value
    raise CelEvalError("duration out of range")


def add_timestamp(ts: datetime.datetime, delta: datetime.timedelta) -> datetime.datetime:
    """``ts + delta`` with CEL's range error."""
    try:
        return ts + delta
    except OverflowError:
        raise CelEvalError("timestamp out of range") from None


def sub_timestamps(a: datetime.datetime, b: datetime.datetime) -> datetime.timedelta:
    """``a - b`` as a duration, with CEL's range error."""
    return check_duration(a - b)


def parse_timestamp(text: str) -> datetime.datetime:
    """Parse an RFC 3339 timestamp such as ``2009-02-13T23:31:30Z``."""
    m = _RFC3339.match(text)
    if not m:
        raise CelEvalError(f"timestamp {text!r} is not RFC 3339")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = m.group(7) or ""
    micros = int((fraction + "000000")[:6])
    if m.group(8):
        tz: datetime.tzinfo = UTC
    else:
        sign = -1 if m.group(9) == "-" else 1
        offset = datetime.timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = datetime.timezone(sign * offset)
    if year < 1:
        raise CelEvalError(f"timestamp {text!r} out of range")
    try:
        value = datetime.datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise CelEvalError(f"timestamp {text!r} out of range or invalid") from None


def timestamp_from_seconds(seconds: int) -> datetime.datetime:
    """The timestamp ``seconds`` after the Unix epoch."""
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise CelEvalError(f"timestamp({seconds}) out of range")
    return EPOCH + datetime.timedelta(seconds=seconds)


def timestamp_seconds(ts: datetime.datetime) -> int:
    """Whole seconds since the Unix epoch (floor)."""
    delta = ts - EPOCH
    return delta.days * 86400 + delta.seconds


def format_timestamp(ts: datetime.datetime) -> str:
    """RFC 3339 in UTC with the fraction trimmed, as CEL's ``string(timestamp)``."""
    utc = ts.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) < 19:  # strftime does not pad years below 1000 everywhere
        text = f"{utc.year:04d}" + text[text.index("-") :]
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_duration(text: str) -> datetime.timedelta:
    """Parse Go's duration syntax (``1h30m``, ``-1.5s``, ``100ns``)."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return ZERO
    if not s:
        raise CelEvalError(f"invalid duration {text!r}")
    total = 0.0
    whole_us = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise CelEvalError(f"invalid duration {text!r}")
        number, unit = m.group(1), m.group(2)
        factor = _UNIT_US[unit]
        if "." in number or unit == "ns":
            total += float(number) * factor
        else:
            whole_us += int(number) * int(factor)
        pos = m.end()
    us = whole_us + int(total)
    return check_duration(datetime.timedelta(microseconds=sign * us))


def duration_microseconds(value: datetime.timedelta) -> int:
    """The duration in whole microseconds."""
    return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds


def format_duration(value: datetime.timedelta) -> str:
    """Seconds with a trimmed fraction and an ``s``, as CEL's ``string(duration)``."""
    us = duration_microseconds(value)
    sign = "-" if us < 0 else ""
    seconds, micros = divmod(abs(us), 1_000_000)
    if micros:
        return f"{sign}{seconds}.{micros:06d}".rstrip("0") + "s"
    return f"{sign}{seconds}s"


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
