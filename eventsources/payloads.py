"""What every source checks in a payload before it becomes an event's data.

A source that parses JSON from the outside (an HTTP body, a broker message
with ``jsonBody: true``) refuses what the bus could not carry: invalid JSON,
and nesting deeper than :data:`MAX_BODY_DEPTH` (a durable bus stores events as
JSON, and orjson refuses to write more than ~250 levels). Broker sources skip
such a message with a warning (:class:`BadInput`); HTTP sources answer 400.

W3C trace context passes from a message's headers into the event's
``traceparent`` extension only when it has the shape :data:`TRACEPARENT`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_BODY_DEPTH = 128
"""Deepest nesting of arrays/objects accepted in a JSON payload.

The bus serialises events with orjson, which refuses more than 254 levels; the
event envelope adds two or three, and real payloads (GitHub's included) stay
below 10.
"""

TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?")
"""A W3C ``traceparent`` header value: version, trace id, parent id, flags."""


class BadInput(Exception):
    """A message that cannot become an event; the source logs it and skips it."""


def too_deep(raw: bytes, value: Any, limit: int = MAX_BODY_DEPTH) -> bool:
    """Whether ``value`` (parsed from ``raw``) nests arrays/objects more than ``limit`` deep.

    Nesting deeper than the limit takes more brackets than that, so most
    payloads are answered by counting bytes, without walking the value.
    """
    if len(raw) <= 2 * limit or raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def json_body(raw: bytes) -> Any:
    """A ``jsonBody`` payload as a JSON value, or :class:`BadInput` saying what is wrong."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if not raw:
            raise BadInput("the payload is empty, but jsonBody is true") from None
        raise BadInput(f"the payload is not JSON ({e}), but jsonBody is true") from None
    if too_deep(raw, value):
        raise BadInput(f"the payload nests deeper than {MAX_BODY_DEPTH} levels")
    return value
