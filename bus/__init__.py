"""The bus: the Event envelope Herald carries, the Bus protocol, and its backends.

Backends (``memory://``, ``sqlite:///path``; later ``nats://``, ``kafka://``)
are chosen by URL through :func:`bus.registry.open_bus`.
"""

from bus.base import Bus, Delivery, KeyValue, Subscription
from bus.event import Event

__all__ = ["Bus", "Delivery", "Event", "KeyValue", "Subscription"]
