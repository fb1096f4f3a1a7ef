"""The ``mqtt`` source: messages on an MQTT topic.

The config is Argo's ``MQTTEventSource``, which subscribes with QoS 0 (at most
once). Two Herald extensions go beyond Argo: ``qos: 1`` subscribes at least
once (the PUBACK is sent only after the bus has the event), and
``cleanSession: false`` keeps the broker-side session, so that QoS 1 messages
published while the source is down are delivered when it reconnects.

Broker URLs are those of Argo's paho.mqtt.golang client: ``tcp://`` (also
``mqtt://``), ``ssl://``/``tls://``/``mqtts://`` for TLS, and MQTT over
websockets with ``ws://host:port/path`` and, over TLS, ``wss://``; the
websocket request goes to the URL's path and query, as paho sends them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from bus.event import Event
from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    basic_auth_problems,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from eventsources.payloads import BadInput, json_body
from eventsources.source import Emit, SourceContext
from herald.core.backoff import Backoff, reconnect_delays
from herald.core.errors import BusError, ConfigError
from herald.core.tls import BasicAuth, TLSConfig, client_ssl_context
from herald.core.urls import mask_url

if TYPE_CHECKING:
    import aiomqtt
    import paho.mqtt.client as paho

MQTT_SCHEMES = ("tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss")
_URL = re.compile(r"^(?P<scheme>[a-z]+)://[^\s/]+")


class MQTTEventSource(SourceConfig):
    """One MQTT event: broker, topic and client identity."""

    url: str = Field(min_length=1, description="Broker URL, e.g. tcp://mosquitto:1883.")
    topic: str = Field(min_length=1, description="Topic filter to subscribe to (+ and # allowed).")
    client_id: str = Field(min_length=1, description="MQTT client id; unique per broker.")
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the broker."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the broker.")
    auth: BasicAuth | None = Field(default=None, description="Username and password secrets.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    qos: Literal[0, 1] = Field(
        default=0,
        description=(
            "Herald extension, not in Argo: subscription QoS. 0 (Argo's, at most once) "
            "or 1 (at least once: acknowledged after the bus has the event)."
        ),
    )
    clean_session: bool | None = Field(
        default=None,
        description=(
            "Herald extension, not in Argo: false keeps the broker session across "
            "reconnects so QoS 1 messages sent meanwhile arrive (default true)."
        ),
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        match = _URL.match(value)
        if match is None or match["scheme"] not in MQTT_SCHEMES:
            raise field_error(
                "invalid_url",
                f"url {value!r} is not a broker URL: write e.g. tcp://mosquitto:1883 "
                f"(schemes: {', '.join(MQTT_SCHEMES)})",
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        problems += basic_auth_problems(self.auth, ("auth",))
        raise_problems(problems, type(self).__name__)
        return self


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.mqtt")

EVENT_TYPE = "mqtt"
"""The ``type`` attribute of every event of this source."""


BUS_RETRY_DELAY = 1.0
"""Seconds before an event the bus refused is tried again."""

MAX_QUEUED = 65_536
"""Messages the client buffers before the source takes them.

Under QoS 1 no more can be outstanding (each holds one of the 65,535 packet
ids until its PUBACK), so none is ever discarded; under QoS 0 (at most once)
messages beyond it are dropped, with a warning from aiomqtt.
"""

ACK_BATCH = 16
"""Most QoS 1 acknowledgements held back to be sent together (fewer than any broker's window)."""


KEEPALIVE = 30
"""Seconds between keep-alive pings (paho.mqtt.golang's default, which Argo uses)."""

OPERATION_TIMEOUT = 10.0
"""Seconds a connect, subscribe or disconnect may take."""

_DEFAULT_PORTS = {"tcp": 1883, "mqtt": 1883, "ssl": 8883, "tls": 8883, "mqtts": 8883}
_DEFAULT_PORTS.update({"ws": 80, "wss": 443})
_TLS_SCHEMES = frozenset({"ssl", "tls", "mqtts", "wss"})


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where an MQTT ``url`` points: host, port, transport, TLS and any userinfo."""

    host: str
    port: int
    transport: Literal["tcp", "websockets"]
    tls: bool
    path: str | None
    """The websocket request target (path and query); ``None`` over plain TCP."""
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``tcp://host:1883``, ``ssl://host:8883``, ``ws://host/mqtt`` … as paho.mqtt.golang."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(f"url {mask_url(url)!r} is not a broker URL", path="url")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as e:
            raise ConfigError(f"url {mask_url(url)!r}: {e}", path="url") from e
        websockets = scheme in ("ws", "wss")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(
            host=parts.hostname,
            port=port,
            transport="websockets" if websockets else "tcp",
            tls=scheme in _TLS_SCHEMES,
            path=target if websockets else None,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _aiomqtt() -> Any:
    try:
        import aiomqtt
    except ImportError as e:
        raise ImportError(
            "the mqtt event source needs the aiomqtt client: pip install 'herald[mqtt]'"
        ) from e
    return aiomqtt


class MQTTSource:
    """One event of an ``mqtt`` EventSource: one subscription to one topic filter.

    Anatomy (shared with the NATS source): a connect loop that sets ``ready``
    only while subscribed, and one loop that turns messages into events in
    arrival order, acknowledging each after ``emit`` returned.

    Data: ``{"topic", "messageId", "body", "metadata"}`` as Argo's
    ``MQTTEventData``: ``body`` is the payload parsed as JSON with ``jsonBody``,
    else the payload's bytes in base64 (Go's JSON encoding of ``[]byte``, which
    is what Argo puts there); ``messageId`` is the MQTT packet id (0 under QoS
    0); ``metadata`` only when set. The event id is a fresh uuid (packet ids
    are reused, so they cannot identify a message).

    Delivery:

    - ``qos: 0`` (Argo's): at most once.
    - ``qos: 1``: the client acknowledges manually, and a message's PUBACK is
      sent only after ``emit`` returned, in arrival order as MQTT requires
      (those of consecutive messages go out together, see :meth:`_consume`);
      the broker's in-flight window then holds back further messages while one
      waits. With ``cleanSession: false`` the broker keeps the session while
      the source is away (a restart, a broker outage) and delivers the
      messages it missed, and those it sent but never got a PUBACK for, when
      it reconnects. A redelivered message gets a new event id: QoS 1 is at
      least once.

    A message the bus refuses is held and retried every :data:`BUS_RETRY_DELAY`
    seconds, its PUBACK withheld. Bad input (``jsonBody`` and a payload that is
    not JSON, empty, or nested deeper than :data:`~eventsources.payloads.MAX_BODY_DEPTH`) is logged
    with its topic and packet id and skipped (acknowledged, so that it is not
    redelivered forever; Argo drops it too).

    Connection: when the broker goes away the source clears ``ready``,
    reconnects with ``connectionBackoff`` (default :data:`herald.core.backoff.DEFAULT_RECONNECT`),
    never giving up, and subscribes again; one log line per change of state,
    retries at DEBUG.

    aiomqtt 2.5 has no public manual-ack switch; the source turns on paho's own
    (``manual_ack_set``/``ack``) on the paho client that aiomqtt wraps.
    """

    def __init__(
        self,
        config: MQTTEventSource,
        context: SourceContext,
        *,
        bus_retry_delay: float = BUS_RETRY_DELAY,
    ) -> None:
        self._aiomqtt = _aiomqtt()
        self.config = config
        self.context = context
        self.owner = f"{context.event_source}/{context.event_name}"
        self._ready = asyncio.Event()
        self._bus_retry_delay = bus_retry_delay
        self._address = BrokerAddress.parse(config.url)
        self._url = _loggable_url(config.url)
        self._username, self._password = self._address.username, self._address.password
        if config.auth is not None:
            secrets = context.secrets
            assert config.auth.username is not None
            assert config.auth.password is not None
            self._username = secrets.secret(config.auth.username) or ""
            self._password = secrets.secret(config.auth.password) or ""
        self._tls: ssl.SSLContext | None = None
        if config.tls is not None:
            self._tls = client_ssl_context(config.tls, context.secrets)
        elif self._address.tls:
            self._tls = ssl.create_default_context()
        if self._tls is not None:
            self._tls.sslsocket_class = _ClosedOnFailedHandshake
        self._clean = config.clean_session is not False
        self._qos = config.qos
        self._json = bool(config.json_body)
        self._metadata = dict(config.metadata) if config.metadata else None
        self._bus_failing = False

    @property
    def ready(self) -> asyncio.Event:
        """Set while connected and subscribed; cleared while the broker is away."""
        return self._ready

    async def run(self, emit: Emit) -> None:
        """Connect, subscribe and emit until cancelled, reconnecting whenever the broker goes."""
        mqtt_error = self._aiomqtt.MqttError
        delays = reconnect_delays(self.config.connection_backoff)
        down_since: float | None = None
        last_problem = ""
        while True:
            client = self._client()
            subscribed = False
            try:
                async with client:
                    # A resumed session may deliver before the SUBACK (some brokers
                    # even hold the SUBACK until those are acknowledged): consume at once.
                    consumer = asyncio.create_task(
                        self._consume(client, emit), name=f"mqtt-source:{self.owner}"
                    )
                    try:
                        await self._subscribe(client)
                        subscribed = True
                        after = (
                            f" after {time.monotonic() - down_since:.1f}s"
                            if down_since is not None
                            else ""
                        )
                        log.info(
                            "%s: subscribed to %s (QoS %d) on %s%s",
                            self.owner,
                            self.config.topic,
                            self._qos,
                            self._url,
                            after,
                        )
                        down_since, last_problem = None, ""
                        delays = reconnect_delays(self.config.connection_backoff)
                        self._ready.set()
                        await consumer
                        raise mqtt_error("the broker ended the message stream")
                    finally:
                        await _finish(consumer)
            except (mqtt_error, OSError) as e:
                self._ready.clear()
                if subscribed:
                    log.warning(
                        "%s: connection to %s lost (%s); reconnecting",
                        self.owner,
                        self._url,
                        _describe(e),
                    )
                    down_since, last_problem = time.monotonic(), "lost"
                else:
                    problem = f"cannot connect to {self._url}: {self._connect_problem(e)}"
                    if problem != last_problem and last_problem != "lost":
                        log.warning("%s: %s; retrying", self.owner, problem)
                    else:
                        log.debug("%s: %s; retrying", self.owner, problem)
                    last_problem = problem
                    down_since = down_since or time.monotonic()
            finally:
                self._ready.clear()
            # Outside the except block, so that the error (and the socket of a failed
            # connect that paho-mqtt leaves in its traceback) is released before the wait.
            await asyncio.sleep(next(delays))

    def _connect_problem(self, error: BaseException) -> str:
        """Why a connection failed, with the likely fix when a websocket upgrade was refused.

        A server answers a websocket request at a path it does not serve with
        an HTTP error (404 mostly); paho reports only "WebSocket handshake
        error", and aiomqtt keeps only that text.
        """
        text = _describe(error)
        target = self._address.path
        if target is None or "WebSocket handshake" not in text:
            return text
        path = target.partition("?")[0]  # as in _loggable_url: a query may carry a token
        return (
            f"the server did not accept MQTT over websockets at path {path!r} "
            f"({text}): check the path in url (brokers serve it at their own path, "
            "often /mqtt) and that the port is the broker's websocket listener"
        )

    def _client(self) -> aiomqtt.Client:
        address = self._address
        client: aiomqtt.Client = self._aiomqtt.Client(
            address.host,
            address.port,
            username=self._username,
            password=self._password,
            identifier=self.config.client_id,
            protocol=self._aiomqtt.ProtocolVersion.V311,
            clean_session=self._clean,
            transport=address.transport,
            timeout=OPERATION_TIMEOUT,
            keepalive=KEEPALIVE,
            max_queued_incoming_messages=MAX_QUEUED,
            tls_context=self._tls,
            tls_insecure=True
            if self.config.tls is not None and self.config.tls.insecure_skip_verify
            else None,
            websocket_path=address.path,
        )
        if self._qos > 0:
            _paho(client).manual_ack_set(True)
        inner = getattr(client, "_client", None)
        if inner is not None:
            _close_what_a_failed_connect_opened(inner)
        return client

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        granted = await client.subscribe(self.config.topic, qos=self._qos)
        code = granted[0] if granted else None
        value = getattr(code, "value", code)
        if value is None or (isinstance(value, int) and value >= 0x80):
            raise self._aiomqtt.MqttError(
                f"the broker refused the subscription to {self.config.topic!r}"
            )
        if isinstance(value, int) and value < self._qos:
            log.warning(
                "%s: the broker granted QoS %d, not %d, for %s: messages may be lost",
                self.owner,
                value,
                self._qos,
                self.config.topic,
            )

    async def _consume(self, client: aiomqtt.Client, emit: Emit) -> None:
        """Emit each message in arrival order; acknowledge QoS 1 messages once emitted.

        PUBACKs of emitted messages are sent together, in order, when no
        further message waits in the client (or :data:`ACK_BATCH` are due):
        one socket write for the lot instead of one per message. Each still
        follows its own ``emit``.
        """
        messages = client.messages
        if self._qos == 0:
            async for message in messages:
                await self._handle(message, emit)
            return
        paho_client = _paho(client)
        due: list[tuple[int, int]] = []
        try:
            async for message in messages:
                await self._handle(message, emit)
                if message.qos > 0:
                    due.append((message.mid, message.qos))
                if len(due) >= ACK_BATCH or len(messages) == 0:
                    for mid, qos in due:
                        paho_client.ack(mid, qos)
                    due.clear()
        finally:
            # Emitted before a disconnect or shutdown: acknowledged if the connection allows.
            for mid, qos in due:
                paho_client.ack(mid, qos)

    def _event(self, message: aiomqtt.Message) -> Event:
        raw = message.payload
        body = json_body(raw) if self._json else base64.b64encode(raw).decode("ascii")
        data: dict[str, Any] = {
            "topic": message.topic.value,
            "messageId": message.mid,
            "body": body,
        }
        if self._metadata is not None:
            data["metadata"] = dict(self._metadata)
        return Event.new(
            source=self.context.event_source,
            type=EVENT_TYPE,
            subject=self.context.event_name,
            data=data,
        )

    async def _handle(self, message: aiomqtt.Message, emit: Emit) -> None:
        """Emit one message's event; return once it may be acknowledged."""
        try:
            event = self._event(message)
        except BadInput as e:
            log.warning(
                "%s: message %d on %s skipped: %s", self.owner, message.mid, message.topic.value, e
            )
            return
        while True:
            try:
                await emit(event)
            except BusError as e:
                if not self._bus_failing:
                    self._bus_failing = True
                    log.warning(
                        "%s: the bus refused event %s (%s); holding the message and retrying",
                        self.owner,
                        event.id,
                        e,
                    )
                await asyncio.sleep(self._bus_retry_delay)
                continue
            except Exception:
                log.exception(
                    "%s: event %s (message %d on %s): emit failed; message dropped",
                    self.owner,
                    event.id,
                    message.mid,
                    message.topic.value,
                )
                return
            if self._bus_failing:
                self._bus_failing = False
                log.info("%s: the bus takes events again", self.owner)
            return


class _ClosedOnFailedHandshake(ssl.SSLSocket):
    """A TLS socket that closes itself when its handshake fails.

    paho-mqtt leaves the socket of a failed TLS handshake open for the garbage
    collector to find; a source retrying against a broker whose certificate
    it does not trust would hold a descriptor per attempt until then.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _close_what_a_failed_connect_opened(client: Any) -> None:
    """Have paho ``client`` close the sockets of a connect that fails part way.

    paho-mqtt opens the TCP connection, wraps it in TLS, then upgrades it to a
    websocket; when a later step fails (a websocket upgrade refused at a wrong
    path, say) it drops the sockets without closing them, and each retry would
    hold a descriptor until the garbage collector found it. A failed TLS
    handshake is :class:`_ClosedOnFailedHandshake`'s. The hooks are paho's own
    (private) steps; a paho without them is left as it is.
    """
    steps = ("_create_socket", "_create_socket_connection", "_ssl_wrap_socket")
    if not all(callable(getattr(client, name, None)) for name in steps):
        return
    opened: list[Any] = []

    def recorded(make: Callable[..., Any]) -> Callable[..., Any]:
        def make_and_record(*args: Any) -> Any:
            sock = make(*args)
            opened.append(sock)
            return sock

        return make_and_record

    create = client._create_socket

    def create_socket() -> Any:
        opened.clear()
        try:
            return create()
        except BaseException:
            for sock in reversed(opened):
                with contextlib.suppress(OSError):
                    sock.close()
            raise
        finally:
            opened.clear()

    client._create_socket_connection = recorded(client._create_socket_connection)
    client._ssl_wrap_socket = recorded(client._ssl_wrap_socket)
    client._create_socket = create_socket


async def _finish(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` if it still runs and wait for it; what it raised was already seen."""
    if not task.done():
        task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: the caller raises the error that counts


def _paho(client: aiomqtt.Client) -> paho.Client:
    """The paho client inside aiomqtt's (for manual acks, which aiomqtt 2.5 does not offer)."""
    inner = getattr(client, "_client", None)
    if inner is None or not hasattr(inner, "manual_ack_set"):
        raise ConfigError(
            "qos: 1 needs manual acknowledgements, which this aiomqtt/paho-mqtt pair "
            "does not offer: install aiomqtt 2.x with paho-mqtt >= 2.0"
        )
    return inner  # type: ignore[no-any-return]


def _loggable_url(url: str) -> str:
    """``url`` for logs: credentials masked, and any query (a websocket URL may carry a token)."""
    masked = mask_url(url)
    base, query_mark, _ = masked.partition("?")
    return f"{base}?***" if query_mark else masked


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__
