"""Bus URLs to backends: ``open_bus("sqlite:///.herald/bus.db")``.

The EventBus spec and ``herald run --bus`` name a bus by URL; the scheme picks
the backend through the :data:`BACKENDS` registry, never an if/elif chain.
``memory://`` and ``sqlite:///path`` are embedded; brokers (``nats://``,
``kafka://``) are added here by key, each through a factory that imports its
optional client only when called.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from bus.base import DEFAULT_DEDUP_WINDOW, Bus
from bus.memory import MemoryBus
from bus.sqlite import SqliteBus
from herald.core.errors import ConfigError
from herald.core.urls import mask_url

__all__ = ["BACKENDS", "BusFactory", "open_bus"]


class BusFactory(Protocol):
    """Builds an unstarted bus from its URL; raises ConfigError for a bad URL."""

    def __call__(self, url: str, *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> Bus: ...


BACKENDS: dict[str, BusFactory] = {
    "memory": MemoryBus.from_url,
    "sqlite": SqliteBus.from_url,
}
"""URL scheme -> factory of the backend that serves it."""


def open_bus(url: str, *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> Bus:
    """The bus for ``url``, not started yet: ``await bus.start()`` before use.

    Raises :class:`~herald.core.errors.ConfigError` when the scheme is unknown
    (the message lists the known ones) or the backend rejects the URL.
    """
    scheme = urlsplit(url).scheme if "://" in url else ""
    factory = BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in sorted(BACKENDS))
        shown = f"{scheme}://" if scheme else repr(mask_url(url))
        raise ConfigError(f"unknown bus URL scheme {shown}; known schemes: {known}")
    return factory(url, dedup_window=dedup_window)
