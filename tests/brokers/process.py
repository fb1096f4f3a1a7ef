"""The process side of a test broker: start it, wait until it serves, stop it.

Every broker helper (Mosquitto or amqtt, nats-server, …) runs one child
process on 127.0.0.1 that a test may stop (gracefully or with SIGKILL) and
start again on the same ports. :class:`BrokerProcess` is that part, written
once: it appends the child's output to a log file, waits on a readiness check
with a deadline (failing at once, with the log's last lines, when the child
exits), and stops it with SIGTERM or SIGKILL, escalating to SIGKILL when the
deadline passes. What "ready" means (a port that accepts connections, a
health endpoint) is the broker helper's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

START_DEADLINE = 15.0
"""Seconds a broker may take to start (or stop) before the helper gives up."""

POLL_INTERVAL = 0.02
"""Seconds between two readiness checks."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def accepts_connections(ports: Iterable[int]) -> bool:
    """Whether every one of ``ports`` on 127.0.0.1 accepts a TCP connection now."""
    for port in ports:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return True


class BrokerProcess:
    """One broker child process and its log file; restartable.

    ``name`` appears in errors (``"mosquitto exited with 1: <last log lines>"``).
    """

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The process id while it runs (benchmarks pin it to a CPU)."""
        return self._process.pid if self._process is not None and self.running else None

    async def start(self, command: Sequence[str], ready: Callable[[], Awaitable[bool]]) -> None:
        """Run ``command`` and return once ``ready()`` is true.

        Raises :class:`RuntimeError` when the process exits first, or when it is
        not ready within :data:`START_DEADLINE` seconds (it is killed then).
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self._process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output
            )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            process = self._process
            assert process is not None
            if process.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {process.returncode}: {self.tail()}")
            if await ready():
                return
            if time.monotonic() > deadline:
                await self.stop(kill=True)
                raise RuntimeError(f"{self.name} not ready within {START_DEADLINE}s: {self.tail()}")
            await asyncio.sleep(POLL_INTERVAL)

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM, or SIGKILL with ``kill``) and wait until it exited."""
        process = self._process
        self._process = None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), START_DEADLINE)
        except TimeoutError:
            process.kill()
            await process.wait()

    def tail(self, lines: int = 5) -> str:
        """The last ``lines`` lines of the log, joined on one line (for error messages)."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])
