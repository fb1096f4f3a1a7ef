"""One owner for every long-lived task of a process, and the signals that stop it.

Every task has a name and is started through the :class:`Supervisor`, whose
TaskGroup owns it: when one task fails, the others are cancelled and the
failure propagates instead of being lost. ``SIGTERM``/``SIGINT`` set the
supervisor's ``stopping`` event; the runner then shuts down in a fixed order
(stop intake, drain, settle, close).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("herald.supervisor")


class Supervisor:
    """Owns named tasks (a TaskGroup) and the process's stop signal."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._group = asyncio.TaskGroup()
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    async def __aenter__(self) -> Supervisor:
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._group.__aexit__(*exc)

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``coro`` as the task ``name`` (names are unique)."""
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise ValueError(f"a task named {name!r} is already running")
        task = self._group.create_task(coro, name=name)
        self._tasks[name] = task
        return task

    def running(self) -> list[str]:
        """Names of the tasks still running."""
        return sorted(name for name, task in self._tasks.items() if not task.done())

    def handle_signals(self) -> None:
        """Make SIGTERM and SIGINT request a graceful stop (a second one is not special)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self.stopping.is_set():
            log.info("received %s: stopping intake, draining in-flight events", sig.name)
        self.stopping.set()
