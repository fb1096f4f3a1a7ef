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

``websocket_path`` adds a listener for MQTT over websockets
(:attr:`MqttBroker.ws_url`, ``wss://`` with ``tls``) that upgrades only at
that path, as real brokers and their proxies do. It always runs amqtt
(tests/brokers/amqtt_ws.py), with or without Mosquitto on the machine:
Mosquitto does not route by path, and Debian's build may have no websockets at
all (2.0.11 "Unable to start any listening sockets" on ``protocol
websockets``), so a test would behave differently from machine to machine.

The process itself (start, readiness deadline, SIGTERM/SIGKILL, log tail) is
:class:`tests.brokers.process.BrokerProcess`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from tests.brokers.process import BrokerProcess, accepts_connections, free_port

BrokerKind = Literal["mosquitto", "amqtt"]

AMQTT_WEBSOCKETS = Path(__file__).with_name("amqtt_ws.py")
"""The script that runs amqtt with a websocket listener at one path."""


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
    """One MQTT broker process on 127.0.0.1, restartable on the same port(s).

    ``users`` (name -> password) turns off anonymous access (Mosquitto only);
    ``tls`` (certificate file, key file) makes the listeners speak TLS only
    (:attr:`url` then says ``ssl://``, :attr:`ws_url` ``wss://``);
    ``websocket_path`` (e.g. ``"/mqtt"``) adds a websocket listener that
    upgrades at that path only (amqtt only, see the module docstring).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        kind: BrokerKind | None = None,
        users: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        websocket_path: str | None = None,
    ) -> None:
        if websocket_path is not None:
            if kind == "mosquitto":
                raise RuntimeError("a websocket listener at one path needs amqtt")
            if not websocket_path.startswith("/"):
                raise ValueError(f"websocket_path {websocket_path!r} must start with /")
            kind = "amqtt"
        self.kind: BrokerKind = kind or broker_kind()
        self.workdir = workdir
        self.port = free_port()
        self.users = dict(users or {})
        self.tls = tls
        self.websocket_path = websocket_path
        self.ws_port = free_port() if websocket_path is not None else None
        if self.users and self.kind != "mosquitto":
            raise RuntimeError("broker users need Mosquitto")
        self._process = BrokerProcess(self.kind, workdir / f"{self.kind}.log")

    @property
    def url(self) -> str:
        """The broker URL as Argo writes it (``tcp://127.0.0.1:<port>``, with :attr:`username`)."""
        user = f"{self.username}@" if self.username else ""
        scheme = "ssl" if self.tls else "tcp"
        return f"{scheme}://{user}127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The websocket URL, ``ws://<username>@127.0.0.1:<ws_port><websocket_path>``."""
        if self.ws_port is None or self.websocket_path is None:
            raise RuntimeError("this broker has no websocket listener: pass websocket_path")
        user = f"{self.username}@" if self.username else ""
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{user}127.0.0.1:{self.ws_port}{self.websocket_path}"

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
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    async def start(self) -> MqttBroker:
        """Start the broker and return once every listener accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = self._mosquitto() if self.kind == "mosquitto" else self._amqtt()
        ports = [self.port] if self.ws_port is None else [self.port, self.ws_port]
        await self._process.start(command, lambda: accepts_connections(ports))
        return self

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM: Mosquitto saves its sessions; SIGKILL with ``kill``)."""
        await self._process.stop(kill=kill)

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
        if self.ws_port is None or self.websocket_path is None:
            script = "from amqtt.scripts.broker_script import main; main()"
            return [sys.executable, "-c", script, "-c", str(config)]
        websockets = ["--port", str(self.ws_port), "--path", self.websocket_path]
        if self.tls:
            websockets += ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])]
        # -P: the script's folder (tests/brokers, with its nats.py, kafka.py …) stays off sys.path.
        return [sys.executable, "-P", str(AMQTT_WEBSOCKETS), str(config), *websockets]
