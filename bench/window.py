"""What the broker benchmarks share: the payloads they send and the window they measure.

:class:`Counter` counts deliveries into the consumer under test (raw client or
Herald) and keeps the window from the first delivery (or an explicit
:meth:`Counter.start`) to the last, on the wall clock and in this process's CPU
time. :func:`wait_quiet` waits for the window to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass, field

import orjson


def payload(seq: int, size: int) -> bytes:
    """A JSON message of about ``size`` bytes carrying its sequence number."""
    head = orjson.dumps({"seq": seq, "pad": ""})
    return orjson.dumps({"seq": seq, "pad": "x" * max(size - len(head), 0)})


@dataclass
class Counter:
    """Counts deliveries; the window's wall and CPU time."""

    target: int
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    cpu_first: float = 0.0
    cpu_last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        """Open the window now (else it opens with the first delivery)."""
        self.first, self.cpu_first = time.perf_counter(), time.process_time()

    def tick(self, n: int = 1) -> None:
        """Count ``n`` deliveries; the window closes when the target is reached."""
        now = time.perf_counter()
        if not self.first:
            self.first, self.cpu_first = now, time.process_time()
        self.count += n
        self.last = now
        if self.count >= self.target:
            self.cpu_last = time.process_time()
            self.done.set()

    @property
    def rate(self) -> float:
        """Deliveries per second over the window."""
        seconds = self.last - self.first
        return self.count / seconds if seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        """CPU microseconds of this process per delivery over the window."""
        end = self.cpu_last or time.process_time()
        return (end - self.cpu_first) * 1e6 / self.count if self.count else float("nan")


async def wait_quiet(counter: Counter, publisher: subprocess.Popen[bytes] | None) -> None:
    """Until every message arrived, or the publisher is done and nothing came for a second."""
    idle_since = time.monotonic()
    seen = -1
    while not counter.done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(counter.done.wait(), 0.2)
        if counter.count != seen:
            seen, idle_since = counter.count, time.monotonic()
        finished = publisher is None or publisher.poll() is not None
        if finished and time.monotonic() - idle_since > 1.0:
            return


def comparison(
    title: str, column: str, width: int, client: str, rows: list[tuple[object, Counter, Counter]]
) -> str:
    """The report table: per row (label, raw client's window, Herald's), rates and ratios."""
    lines = [
        title,
        f"{column:<{width}}{client + ' msg/s':>14}{'herald msg/s':>14}{'ratio':>7}"
        f"{client + ' CPU us':>16}{'herald CPU us':>15}{'ratio':>7}   received",
    ]
    for label, raw, herald in rows:
        ratio = herald.rate / raw.rate if raw.rate else float("nan")
        cpu_ratio = raw.cpu_us / herald.cpu_us if herald.cpu_us else float("nan")
        lines.append(
            f"{label!s:<{width}}{raw.rate:>14.0f}{herald.rate:>14.0f}{ratio:>7.0%}"
            f"{raw.cpu_us:>16.1f}{herald.cpu_us:>15.1f}{cpu_ratio:>7.0%}"
            f"   {raw.count}/{herald.count}"
        )
    lines.append(
        f"ratios: herald msg/s / {client} msg/s; {client} CPU per message / herald's "
        "(the share of the raw client's rate Herald reaches on one busy core)"
    )
    return "\n".join(lines)
