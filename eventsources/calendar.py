"""The ``calendar`` source: events on a cron schedule or at a fixed interval.

The config is Argo's ``CalendarEventSource``. Argo parses ``schedule`` with the
standard five cron fields (minute hour day-of-month month day-of-week, an
optional ``CRON_TZ=<zone>`` prefix, no ``@hourly`` descriptors) and takes it in
preference to ``interval``; one of the two is required. Both are checked here so
that a bad schedule fails at validation, not when the source starts.
``persistence`` keeps the last tick so that missed ones can be caught up.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

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
from herald.core.durations import parse_go_duration
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
