"""Go-style durations (``1h30m``, ``500ms``, ``2s``), as Argo manifests write them."""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(r"^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError with the accepted form."""
    s = text.strip()
    if s in {"0", "+0", "-0"}:
        return 0.0
    if not _WHOLE.match(s):
        raise ValueError(
            f"{text!r} is not a duration: write a number with a unit, "
            "e.g. '500ms', '10s', '1m30s' (units ns, us, ms, s, m, h)"
        )
    sign = -1.0 if s.startswith("-") else 1.0
    total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(s))
    return sign * total


def format_seconds(seconds: float) -> str:
    """A compact human form for log lines (``1.5s``, ``250ms``)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"
