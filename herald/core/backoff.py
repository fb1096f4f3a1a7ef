"""Backoff as Argo Events writes it, and the delays it yields.

``Backoff{duration, factor, jitter, steps}``: ``duration`` is an integer of
nanoseconds or a Go duration string (default 1s), ``factor`` multiplies it after
each step (default 1), ``jitter`` adds up to that fraction at random, ``steps``
is the number of attempts (default 5, as Argo's ``DefaultBackoff``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from herald.core.durations import parse_go_duration
from herald.core.model import Spec


def _amount(value: object) -> object:
    """Argo's ``Amount`` is a JSON number, sometimes written as a quoted string."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    return value


Amount = Annotated[float, BeforeValidator(_amount)]


class Backoff(Spec):
    """Retry and reconnection timing, as Argo's ``v1alpha1.Backoff``."""

    duration: int | str | None = Field(
        default=None, description="Initial delay: integer nanoseconds or a duration like '2s'."
    )
    factor: Amount | None = Field(default=None, ge=0, description="Multiplier after each step.")
    jitter: Amount | None = Field(default=None, ge=0, description="Random extra, as a fraction.")
    steps: int | None = Field(default=None, ge=0, description="Number of attempts.")

    @field_validator("duration")
    @classmethod
    def _valid_duration(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str):
            try:
                int(value)
            except ValueError:
                parse_go_duration(value)
        elif isinstance(value, int) and value < 0:
            raise ValueError("duration must not be negative")
        return value

    def duration_seconds(self, default: float = 1.0) -> float:
        """The first delay in seconds."""
        d = self.duration
        if d is None:
            return default
        if isinstance(d, int):
            return d / 1e9
        try:
            return int(d) / 1e9
        except ValueError:
            return parse_go_duration(d)

    def attempts(self, default: int = 5) -> int:
        """How many attempts in all (at least one)."""
        return self.steps if self.steps else default

    def delays(
        self, *, default_steps: int = 5, rng: random.Random | None = None
    ) -> Iterator[float]:
        """The waits between attempts: ``attempts() - 1`` delays."""
        rnd = rng or random
        delay = self.duration_seconds()
        factor = self.factor if self.factor is not None else 1.0
        jitter = self.jitter or 0.0
        for _ in range(self.attempts(default_steps) - 1):
            yield delay + (delay * jitter * rnd.random() if jitter > 0 else 0.0)
            delay *= factor if factor > 0 else 1.0


DEFAULT_RECONNECT = Backoff.model_validate(
    {"duration": "1s", "factor": 2, "jitter": 0.2, "steps": 5}
)
"""Reconnection timing when a source's ``connectionBackoff`` is not set."""

MAX_RECONNECT_DELAY = 60.0
"""The longest wait between two connection attempts, in seconds."""


def reconnect_delays(backoff: Backoff | None) -> Iterator[float]:
    """Waits between connection attempts: ``backoff``'s steps, then its last delay forever.

    Argo gives up once the steps are spent and the pod restarts; a Herald
    process runs many sources, so one broker outage must not end it: the last
    delay repeats (capped at :data:`MAX_RECONNECT_DELAY`).
    """
    spec = backoff or DEFAULT_RECONNECT
    delay = spec.duration_seconds()
    factor = spec.factor if spec.factor is not None and spec.factor > 0 else 1.0
    jitter = spec.jitter or 0.0
    steps = max(spec.attempts(DEFAULT_RECONNECT.attempts()) - 1, 1)
    made = 0
    while True:
        base = min(max(delay, 0.01), MAX_RECONNECT_DELAY)
        yield base + (base * jitter * random.random() if jitter > 0 else 0.0)
        made += 1
        if made < steps:
            delay *= factor
