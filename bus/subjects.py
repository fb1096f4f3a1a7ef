"""Bus subjects: ``<bus>.<eventSourceName>.<eventName>``, escaped for brokers.

Names are Kubernetes names and event names are free map keys, so characters
that NATS subjects reserve (``.``, ``*``, ``>``, whitespace) and anything
outside ``[A-Za-z0-9-]`` are escaped as ``_XX`` (hex of each UTF-8 byte), with
``_`` itself escaped too, which keeps the mapping reversible.
"""

from __future__ import annotations

import re

_SAFE = re.compile(r"[A-Za-z0-9-]")


def escape(token: str) -> str:
    """One subject token with reserved characters escaped; never empty."""
    if not token:
        return "_"
    out: list[str] = []
    for ch in token:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"_{b:02X}" for b in ch.encode())
    return "".join(out)


def unescape(token: str) -> str:
    """The inverse of :func:`escape`."""
    if token == "_":
        return ""
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "_":
            raw.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(token[i].encode())
            i += 1
    return raw.decode()


def subject(bus: str, event_source: str, event_name: str) -> str:
    """The subject of events from ``event_source``/``event_name`` on bus ``bus``."""
    return f"{escape(bus)}.{escape(event_source)}.{escape(event_name)}"
