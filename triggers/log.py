"""The ``log`` trigger's spec: write the firing events to the sensor's log.

Useful as a first trigger and for debugging filters; it needs nothing outside
the process.
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec


class LogTrigger(Spec):
    """Log the events that fired the trigger."""

    interval_seconds: int = Field(
        default=0,
        ge=0,
        description="Log at most once per this many seconds; 0 logs every firing.",
    )
