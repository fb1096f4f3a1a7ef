"""Cron schedules as Argo writes them: five fields, an optional ``CRON_TZ=`` prefix.

Used by ``conditionsReset.byTime`` (and any other schedule): the next and
previous tick of a schedule in its timezone, DST included (a tick that does not
exist on the day the clocks go forward happens at the first valid time after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from herald.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed cron expression bound to a timezone."""

    expression: str
    zone: ZoneInfo

    def next_after(self, when: datetime) -> datetime:
        """The first tick strictly after ``when`` (tz-aware), in UTC."""
        tick: datetime = croniter(self.expression, when.astimezone(self.zone)).get_next(datetime)
        return tick.astimezone(UTC)

    def previous_before(self, when: datetime) -> datetime:
        """The last tick at or before ``when`` (tz-aware), in UTC."""
        tick: datetime = croniter(self.expression, when.astimezone(self.zone)).get_prev(datetime)
        return tick.astimezone(UTC)


def schedule(expression: str, timezone: str | None = None) -> Schedule:
    """Parse ``expression`` (five fields, optional ``CRON_TZ=Zone`` prefix) in ``timezone``."""
    text = expression.strip()
    zone_name = timezone or "UTC"
    for prefix in ("CRON_TZ=", "TZ="):
        if text.startswith(prefix):
            zone_name, _, text = text[len(prefix) :].partition(" ")
            text = text.strip()
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"unknown timezone {zone_name!r}") from e
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ConfigError(
            f"cron {expression!r} is not a five-field schedule "
            "(minute hour day-of-month month day-of-week)"
        )
    return Schedule(text, zone)
