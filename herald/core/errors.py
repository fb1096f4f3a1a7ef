"""The one exception tree of Herald.

::

    HeraldError
    ├── ConfigError (also ValueError)     a manifest, setting or reference is wrong
    │   └── SecretError                   a secret or ConfigMap ref cannot be resolved
    ├── SourceError                       an EventSource cannot take input
    ├── BusError                          the bus cannot publish, deliver or store
    │   └── BusClosedError                the bus was used after close()
    └── TriggerError                      a trigger failed
        ├── TemporaryTriggerError         retry later (optionally after ``retry_after`` s)
        └── PermanentTriggerError         retrying cannot help: go to the DLQ trigger

Third-party exceptions are translated into these at the adapter boundary
(``raise ... from e``); messages say what was wrong, where, and what to do.
"""

from __future__ import annotations


class HeraldError(Exception):
    """Root of every error Herald raises on purpose."""


class ConfigError(HeraldError, ValueError):
    """A manifest, setting or reference is invalid; ``path`` names the field."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class SecretError(ConfigError):
    """A secret or ConfigMap key selector could not be resolved."""


class SourceError(HeraldError):
    """An EventSource could not start or lost its input."""


class BusError(HeraldError):
    """The bus could not publish, deliver, ack or store."""


class BusClosedError(BusError):
    """The bus was used after it was closed."""


class TriggerError(HeraldError):
    """A trigger failed to act."""


class TemporaryTriggerError(TriggerError):
    """A failure that may pass: retry with backoff, no sooner than ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentTriggerError(TriggerError):
    """A failure retrying cannot fix: the trigger goes straight to its DLQ trigger."""
