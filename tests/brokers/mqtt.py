"""A real MQTT broker for tests and benchmarks, on a free loopback port.

:class:`MqttBroker` runs Mosquitto (``mosquitto -c <temp config>``) when the
binary is installed, else the pure-Python ``amqtt`` broker from PyPI in a
subprocess, so that the suite needs nothing but pip. It can be stopped and
started again on the same port; Mosquitto keeps its sessions and queued QoS 1
messages across that restart (``persistence true`` in a directory of its
own, written on a graceful stop). amqtt keeps nothing across a restart:
:attr:`MqttBroker.persistent` says which, so a test that needs it can skip.
Clients name :attr:`MqttBroker.username` (in :attr:`MqttBroker.url` too), which
amqtt needs to keep their sessions while they are away.

``HERALD_TEST_MQTT_BROKER=amqtt`` (or ``mosquitto``) forces one broker, to
exercise the fallback on a machine that has Mosquitto.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

START_DEADLINE = 15.0
"""Seconds the broker may take to start (or stop) before the helper gives up."""

BrokerKind = Literal["mosquitto", "amqtt"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mosquitto_binary() -> str | None:
    """The ``mosquitto`` binary, looked up on PATH and the usual sbin folders."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return shutil.which("mosquitto", path=path)


def broker_kind() -> BrokerKind:
    """Mosquitto when installed (or forced), else amqtt."""
    forced = os.environ.get("HERALD_TEST_MQTT_BROKER", "")
    if forced == "amqtt":
        return "amqtt"
    if forced == "mosquitto" or mosquitto_binary() is not None:
        return "mosquitto"
    return "amqtt"


def _password_line(user: str, password: str) -> str:
    """A Mosquitto password-file line (``$6$``: salted SHA-512, as mosquitto_passwd -H sha512)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{user}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class MqttBroker:
    """One MQTT broker process on 127.0.0.1, restartable on the same port.

    ``users`` (name -> password) turns off anonymous access (Mosquitto only);
    ``tls`` (certificate file, key file) makes the listener speak TLS only
    (:attr:`url` then says ``ssl://``).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        kind: BrokerKind | None = None,
        users: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.kind: BrokerKind = kind or broker_kind()
        self.workdir = workdir
        self.port = free_port()
        self.users = dict(users or {})
        self.tls = tls
        if self.users and self.kind != "mosquitto":
            raise RuntimeError("broker users need Mosquitto")
        self._process: asyncio.subprocess.Process | None = None
        self._log = workdir / f"{self.kind}.log"

    @property
    def url(self) -> str:
        """The broker URL as Argo writes it (``tcp://127.0.0.1:<port>``, with :attr:`username`)."""
        user = f"{self.username}@" if self.username else ""
        scheme = "ssl" if self.tls else "tcp"
        return f"{scheme}://{user}127.0.0.1:{self.port}"

    @property
    def username(self) -> str | None:
        """The username clients present: amqtt keeps no session for anonymous clients.

        amqtt runs with ``allow_anonymous: false``, which admits any client that
        names a user and keeps its session (an anonymous client's QoS 1
        messages are not queued while it is away). Mosquitto needs none.
        """
        return "herald-test" if self.kind == "amqtt" else None

    @property
    def persistent(self) -> bool:
        """Whether sessions and queued QoS 1 messages survive a restart."""
        return self.kind == "mosquitto"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (benchmarks pin it to a CPU)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> MqttBroker:
        """Start the broker and return once it accepts connections."""
        if self.running:
            raise RuntimeError("the MQTT broker is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = self._mosquitto() if self.kind == "mosquitto" else self._amqtt()
        log = self._log.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        await self._wait_listening()
        return self

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM: Mosquitto saves its sessions; SIGKILL with ``kill``)."""
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

    async def restart(self, *, kill: bool = False) -> None:
        """Stop, then start on the same port (and, for Mosquitto, the same store)."""
        await self.stop(kill=kill)
        await self.start()

    async def close(self) -> None:
        """Stop the broker if it runs (idempotent)."""
        await self.stop()

    def _mosquitto(self) -> list[str]:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed")
        store = self.workdir / "store"
        store.mkdir(exist_ok=True)
        lines = [
            # Run as whoever runs the tests (as root, Mosquitto would switch to the
            # "mosquitto" user, who cannot read or write this temporary directory).
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} 127.0.0.1",
            *([f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"] if self.tls else []),
            "persistence true",
            f"persistence_location {store}/",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            "set_tcp_nodelay true",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.users:
            passwords = self.workdir / "passwords"
            passwords.write_text(
                "\n".join(_password_line(u, p) for u, p in self.users.items()) + "\n"
            )
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return [binary, "-c", str(config)]

    def _amqtt(self) -> list[str]:
        config = self.workdir / "amqtt.yaml"
        config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            + (
                f"    ssl: true\n    certfile: {self.tls[0]}\n    keyfile: {self.tls[1]}\n"
                if self.tls
                else ""
            )
            + "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: false\n"
        )
        script = "from amqtt.scripts.broker_script import main; main()"
        return [sys.executable, "-c", script, "-c", str(config)]

    async def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            process = self._process
            assert process is not None
            if process.returncode is not None:
                raise RuntimeError(f"{self.kind} exited with {process.returncode}: {self._tail()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    await self.stop(kill=True)
                    raise RuntimeError(
                        f"{self.kind} not listening within {START_DEADLINE}s: {self._tail()}"
                    ) from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def _tail(self) -> str:
        try:
            lines = self._log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:])
