"""The ``nats`` source: messages on a NATS subject, optionally through JetStream.

The config is Argo's ``NATSEventsSource`` (core NATS: a plain or queue-group
subscription, so messages published while the source is down are lost), plus
one Herald extension beyond Argo, ``jetStream``: read the subject through a
durable JetStream consumer instead, acknowledging each message only after the
bus has its event, so nothing is lost across restarts (the request of
argo-events #3142 and #3160). The event id of a JetStream message is
``<eventSource>:<event>:<stream>:<sequence>``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from bus.event import Event
from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from eventsources.payloads import TRACEPARENT, BadInput, json_body
from eventsources.source import Emit, EmitResult, SourceContext
from herald.core.backoff import Backoff, reconnect_delays
from herald.core.durations import parse_go_duration
from herald.core.errors import BusError, ConfigError
from herald.core.model import Spec
from herald.core.nats_auth import NATSAuth as NATSAuth  # part of this spec: importable here
from herald.core.nats_auth import connect_options, refusal
from herald.core.tls import TLSConfig
from herald.core.urls import mask_url

DEFAULT_ACK_WAIT = "30s"


class NATSJetStream(Spec):
    """Herald extension (beyond Argo): consume the subject through a durable JetStream consumer."""

    stream: str | None = Field(
        default=None,
        min_length=1,
        description="Stream that holds the subject (default: the stream whose subjects match).",
    )
    durable: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Durable consumer name; its position survives restarts "
            "(default: derived from the EventSource and event names)."
        ),
    )
    deliver_policy: Literal["all", "new"] | None = Field(
        default=None,
        description=(
            "Where a new consumer starts: all (the stream's first message) "
            "or new (default: only messages published from now on)."
        ),
    )
    ack_wait: str | None = Field(
        default=None,
        description="How long a delivered message waits for its ack before redelivery (30s).",
    )

    @field_validator("durable")
    @classmethod
    def _durable_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in ".*> \t"):
            raise field_error(
                "invalid_name",
                f"durable {value!r} must not contain '.', '*', '>' or whitespace",
            )
        return value

    @field_validator("ack_wait")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                seconds = parse_go_duration(value)
            except ValueError as e:
                raise field_error("invalid_duration", str(e)) from None
            if seconds <= 0:
                raise field_error("invalid_duration", "ackWait must be longer than zero, e.g. 30s")
        return value

    @property
    def ack_wait_seconds(self) -> float:
        """The ack wait in seconds (30 when unset)."""
        return parse_go_duration(self.ack_wait or DEFAULT_ACK_WAIT)


class NATSEventsSource(SourceConfig):
    """One NATS event: server, subject and how to subscribe."""

    url: str = Field(min_length=1, description="NATS server URL, e.g. nats://nats:4222.")
    subject: str = Field(min_length=1, description="Subject to subscribe to (wildcards allowed).")
    queue: str | None = Field(
        default=None,
        description="Queue group: replicas share the messages instead of each getting all.",
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the server."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")
    auth: NATSAuth | None = Field(default=None, description="Authentication to the server.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    jet_stream: NATSJetStream | None = Field(
        default=None,
        description=(
            "Herald extension, not in Argo: consume through a durable JetStream consumer, "
            "acknowledging after the bus has the event (at-least-once)."
        ),
    )

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise field_error(
                "blank_name", "queue must not be empty: name the group or remove queue"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        if self.jet_stream is not None and self.queue is not None:
            problems.append(
                Problem(
                    ("queue",),
                    "queue does not apply with jetStream: replicas share the durable "
                    "consumer instead; remove queue",
                    self.queue,
                )
            )
        raise_problems(problems, type(self).__name__)
        return self


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.nats")

EVENT_TYPE = "nats"
"""The ``type`` attribute of every event of this source."""


BUS_RETRY_DELAY = 1.0
"""Seconds before an event the bus refused is tried again (JetStream: the nak delay)."""

PENDING_MSGS_LIMIT = 65_536
"""Core NATS: messages nats-py buffers for a subscription before it drops (slow consumer)."""

MAX_ACK_PENDING = 1024
"""JetStream: delivered but unacknowledged messages the server allows the consumer."""


CONNECT_TIMEOUT = 5
"""Seconds one connection attempt may take."""


_RANDOM = bytearray()
if hasattr(os, "register_at_fork"):  # a forked child must not reuse the parent's bytes
    os.register_at_fork(after_in_child=_RANDOM.clear)


async def _not_subscribed(event: Event) -> EmitResult:
    raise RuntimeError("a nats message arrived before the source subscribed")


def fresh_id() -> str:
    """A uuid4 as 32 lowercase hex characters, as ``uuid.uuid4().hex`` at a sixth of the cost.

    Random bytes are drawn from the OS 4 KiB at a time (one system call per
    256 ids) and used once each.
    """
    pool = _RANDOM
    if len(pool) < 16:
        pool[:] = os.urandom(4096)
    raw = pool[-16:]
    del pool[-16:]
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


class _Refused(Exception):
    """The server's state does not let this source subscribe as configured."""


def stream_position(reply: str | None) -> tuple[str, str] | None:
    """(stream, stream sequence) of a JetStream message, read from its ack subject.

    The subject is ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...``
    (9 tokens) or, with a domain and account hash, ``$JS.ACK.<domain>.<hash>.
    <stream>.<consumer>.<delivered>.<stream seq>...`` (11 or 12 tokens). A
    direct read is a fraction of the cost of nats-py's ``Msg.metadata``, which
    also builds a datetime; None when the subject has neither shape.
    """
    if not reply or not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    if len(tokens) == 9:
        stream, sequence = tokens[2], tokens[5]
    elif len(tokens) in (11, 12):
        stream, sequence = tokens[4], tokens[7]
    else:
        return None
    return (stream, sequence) if sequence.isdigit() else None


def _position_from_metadata(msg: Any) -> tuple[str, str]:
    meta = msg.metadata
    return meta.stream, str(meta.sequence.stream)


def servers(url: str) -> list[str]:
    """The server URLs of a ``url`` that may list several, comma-separated (as nats.go)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def _nats_module() -> ModuleType:
    try:
        import nats
    except ImportError as e:
        raise ImportError(
            "the nats event source needs the nats-py client: pip install 'herald[nats]'"
        ) from e
    return nats


def default_durable(event_source: str, event_name: str) -> str:
    """The durable consumer name when ``jetStream.durable`` is not set."""
    name = f"herald-{event_source}-{event_name}"
    return re.sub(r"[.*>\s]", "_", name)


class NATSSource:
    """One event of a ``nats`` EventSource: a core or JetStream subscription to one subject.

    Anatomy (shared with the MQTT source): a connect loop that sets ``ready``
    only while subscribed, and one message handler run in arrival order by
    the subscription's delivery task (nats-py's callback subscription: one
    task per subscription, owned by the subscription, which this source opens
    and closes). The handler emits each event and then acks the JetStream
    message. A lost connection or shutdown cancels a handler mid-emit; its
    message is then not acked, and JetStream redelivers it.

    Data: ``{"subject", "body", "header", "metadata"}`` as Argo's
    ``NATSEventData``: ``body`` is the payload parsed as JSON with ``jsonBody``,
    else the payload's bytes in base64 (Go's JSON encoding of ``[]byte``, which
    is what Argo puts there); ``header`` (NATS message headers, each value a
    one-element list as Go's ``nats.Header``; nats-py keeps one value per name)
    and ``metadata`` appear only when present. A W3C ``traceparent`` header
    travels as the event's extension of that name.

    Delivery:

    - core NATS (Argo's behaviour): at most once; the event id is a fresh uuid.
      A message the bus refuses is held and retried every
      :data:`BUS_RETRY_DELAY` seconds (messages behind it wait in nats-py's
      buffer, bounded by :data:`PENDING_MSGS_LIMIT`; beyond it the server's
      slow-consumer handling drops them).
    - ``jetStream``: a durable push consumer (deliver group = durable name, so
      replicas share it) with explicit acks and at most :data:`MAX_ACK_PENDING`
      messages in flight (those still buffered in the client when the source
      stops are redelivered after ``ackWait``). A message is acked only after
      ``emit`` returned; a
      message the bus refuses is nak'ed with a :data:`BUS_RETRY_DELAY` delay so
      that the server redelivers it. The event id is
      ``<eventSource>:<event>:<stream>:<stream sequence>``, so a redelivery is
      dropped by the bus's deduplication.

    Bad input (``jsonBody`` and a payload that is not JSON, empty, or nested
    deeper than :data:`~eventsources.payloads.MAX_BODY_DEPTH`) is logged with the message's subject
    and (JetStream) sequence and skipped, acked so that it is not redelivered
    forever (Argo drops it too).

    Connection: when the server goes away the source clears ``ready``,
    reconnects with ``connectionBackoff`` (default :data:`herald.core.backoff.DEFAULT_RECONNECT`),
    never giving up, and subscribes again. It logs one line per change of
    state (connected, lost, bus refusing/accepting), retries at DEBUG.
    Authentication (:mod:`herald.core.nats_auth`) is checked when the source
    is made, and its secrets are read again for every connection, so that a
    server that refused them is retried with a rotated secret; a refusal is
    logged naming the auth field, never the secret.
    """

    def __init__(
        self,
        config: NATSEventsSource,
        context: SourceContext,
        *,
        bus_retry_delay: float = BUS_RETRY_DELAY,
    ) -> None:
        self._nats = _nats_module()
        self.config = config
        self.context = context
        self.owner = f"{context.event_source}/{context.event_name}"
        self._ready = asyncio.Event()
        self._emit: Emit = _not_subscribed
        self._bus_retry_delay = bus_retry_delay
        self._where = f"spec.nats.{context.event_name}"
        # Fail at start on what no reconnection could fix; each connection reads the secrets again.
        self._connect_options()
        self._metadata = dict(config.metadata) if config.metadata else None
        self._json = bool(config.json_body)
        self._id_prefix = f"{context.event_source}:{context.event_name}:"
        self._source, self._name = context.event_source, context.event_name
        self._jet = config.jet_stream
        self._durable = (
            (self._jet.durable or default_durable(context.event_source, context.event_name))
            if self._jet is not None
            else None
        )
        self._bus_failing = False
        self._slow = False

    @property
    def ready(self) -> asyncio.Event:
        """Set while connected and subscribed; cleared while the server is away."""
        return self._ready

    async def run(self, emit: Emit) -> None:
        """Connect, subscribe and emit until cancelled, reconnecting whenever the server goes."""
        url = mask_url(self.config.url)
        delays = reconnect_delays(self.config.connection_backoff)
        down_since: float | None = None
        last_problem = ""
        while True:
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                client = await self._connect(lost)
            except (OSError, TimeoutError, ConfigError, self._nats.errors.Error) as e:
                problem = self._connect_problem(url, e)
                last_problem = self._trouble(problem, last_problem)
                down_since = down_since or time.monotonic()
                await asyncio.sleep(next(delays))
                continue
            subscription: _Subscription | None = None
            try:
                try:
                    subscription = await self._subscribe(client, emit)
                except (TimeoutError, self._nats.errors.Error, _Refused) as e:
                    if lost.done():
                        problem = f"connection to {url} lost while subscribing: {_describe(e)}"
                    else:
                        problem = f"cannot subscribe on {url}: {self._subscribe_problem(e)}"
                    last_problem = self._trouble(problem, last_problem)
                    down_since = down_since or time.monotonic()
                    await asyncio.sleep(next(delays))
                    continue
                after = (
                    f" after {time.monotonic() - down_since:.1f}s" if down_since is not None else ""
                )
                log.info(
                    "%s: subscribed to %s on %s%s", self.owner, self._describe_sub(), url, after
                )
                down_since, last_problem = None, ""
                delays = reconnect_delays(self.config.connection_backoff)
                self._ready.set()
                await lost
                self._ready.clear()
                error = client.last_error
                reason = _describe(error) if error is not None else "closed by the server"
                log.warning("%s: connection to %s lost (%s); reconnecting", self.owner, url, reason)
                down_since = time.monotonic()
                last_problem = "lost"
            finally:
                self._ready.clear()
                await self._close(client, subscription)

    def _trouble(self, problem: str, last: str) -> str:
        """Log ``problem`` once per change of state (WARNING), repeats at DEBUG."""
        if problem != last and not (last == "lost" and problem.startswith("cannot connect")):
            log.warning("%s: %s; retrying", self.owner, problem)
        else:
            log.debug("%s: %s; retrying", self.owner, problem)
        return problem

    def _connect_options(self) -> dict[str, Any]:
        """nats-py ``connect`` keywords for ``auth`` and ``tls``, secrets read now."""
        return connect_options(self.config.auth, self.config.tls, self.context.secrets, self._where)

    def _connect_problem(self, url: str, error: BaseException) -> str:
        """What stopped a connection attempt, in words that never hold a secret."""
        reason = refusal(error, self.config.auth, self._where)
        if reason is not None:  # logged even right after a lost connection
            return f"{url} {reason}"
        return f"cannot connect to {url}: {_describe(error)}"

    def _describe_sub(self) -> str:
        subject = self.config.subject
        if self._jet is None:
            group = f" (queue group {self.config.queue})" if self.config.queue else ""
            return f"subject {subject}{group}"
        return f"subject {subject} through JetStream consumer {self._durable}"

    def _subscribe_problem(self, error: BaseException) -> str:
        if isinstance(error, self._nats.js.errors.NotFoundError) and self._jet is not None:
            if self._jet.stream is None:
                return (
                    f"no JetStream stream holds subject {self.config.subject}: create one "
                    "whose subjects cover it, or name it in jetStream.stream"
                )
            return f"JetStream stream {self._jet.stream!r} not found: create it"
        if isinstance(error, self._nats.js.errors.ServiceUnavailableError):
            return "JetStream is not enabled on this server (start it with -js)"
        return _describe(error)

    async def _connect(self, lost: asyncio.Future[None]) -> Any:
        """One connection attempt; ``lost`` completes when that connection ends."""

        async def closed() -> None:
            if not lost.done():
                lost.set_result(None)

        async def error(e: Exception) -> None:
            if isinstance(e, self._nats.errors.SlowConsumerError):
                if not self._slow:
                    self._slow = True
                    log.warning(
                        "%s: events are emitted slower than messages arrive; nats-py drops "
                        "messages beyond %d buffered (slow consumer)",
                        self.owner,
                        PENDING_MSGS_LIMIT,
                    )
                return
            if isinstance(e, self._nats.errors.Error | OSError | TimeoutError):
                log.debug("%s: nats client: %s", self.owner, _describe(e))
            else:  # raised by this source's own message handler: a bug
                log.error("%s: handling a message failed", self.owner, exc_info=e)

        options = self._connect_options()
        client = self._nats.aio.client.Client()
        try:
            await client.connect(
                servers(self.config.url),
                name=f"herald:{self.owner}",
                # Herald reconnects itself, with the configured backoff. nats-py
                # tries each server max_reconnect_attempts + 1 times (0 means forever).
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                connect_timeout=CONNECT_TIMEOUT,
                ping_interval=10,
                max_outstanding_pings=3,
                closed_cb=closed,
                error_cb=error,
                **options,
            )
        except BaseException:
            # nats-py leaves the socket of a refused attempt (bad credentials) open.
            await self._close(client, None)
            raise
        return client

    async def _subscribe(self, client: Any, emit: Emit) -> _Subscription:
        """Subscribe; the client's delivery task then runs the handler, one message at a time."""
        # The handler is passed bound, without a partial: nats-py calls it once per message.
        self._emit = emit
        deliver = self._handle_jetstream if self._jet is not None else self._handle_core

        config = self.config
        if self._jet is None:
            sub = await client.subscribe(
                config.subject,
                queue=config.queue or "",
                cb=deliver,
                pending_msgs_limit=PENDING_MSGS_LIMIT,
            )
            await client.flush(timeout=CONNECT_TIMEOUT)
            return _Subscription(client, sub)
        api = self._nats.js.api
        jet = self._jet
        js = client.jetstream(timeout=CONNECT_TIMEOUT)
        stream = jet.stream or await js.find_stream_name_by_subject(config.subject)
        await self._check_durable(js, stream)
        consumer = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=jet.ack_wait_seconds,
            max_ack_pending=MAX_ACK_PENDING,
            deliver_policy=api.DeliverPolicy.ALL
            if jet.deliver_policy == "all"
            else api.DeliverPolicy.NEW,
        )
        sub = await js.subscribe(
            config.subject,
            queue=self._durable,
            durable=self._durable,
            stream=stream,
            cb=deliver,
            manual_ack=True,
            config=consumer,
            pending_msgs_limit=MAX_ACK_PENDING * 2,
        )
        return _Subscription(client, sub)

    async def _check_durable(self, js: Any, stream: str) -> None:
        """Refuse an existing durable consumer that reads another subject than this source's."""
        try:
            info = await js.consumer_info(stream, self._durable)
        except self._nats.js.errors.NotFoundError:
            return  # made by the subscription
        filtered = info.config.filter_subject
        if filtered and filtered != self.config.subject:
            raise _Refused(
                f"JetStream consumer {self._durable!r} on stream {stream!r} reads subject "
                f"{filtered!r}, not {self.config.subject!r}: delete that consumer, or name "
                "another one in jetStream.durable"
            )

    def _event(self, msg: Any, event_id: str | None) -> Event:
        """The event for one message; :class:`BadInput` when its payload cannot be one."""
        raw: bytes = msg.data
        body = json_body(raw) if self._json else base64.b64encode(raw).decode("ascii")
        data: dict[str, Any] = {"subject": msg.subject, "body": body}
        extensions: dict[str, str] | None = None
        headers = msg.headers
        if headers:
            data["header"] = {name: [value] for name, value in headers.items()}
            traceparent = headers.get("traceparent") or headers.get("Traceparent")
            if traceparent and TRACEPARENT.fullmatch(traceparent):
                extensions = {"traceparent": traceparent}
        if self._metadata is not None:
            data["metadata"] = dict(self._metadata)
        return Event.new(
            source=self._source,
            type=EVENT_TYPE,
            subject=self._name,
            data=data,
            id=event_id,
            extensions=extensions,
        )

    async def _handle_core(self, msg: Any) -> None:
        emit = self._emit
        try:
            event = self._event(msg, fresh_id())
        except BadInput as e:
            log.warning("%s: message on %s skipped: %s", self.owner, msg.subject, e)
            return
        try:
            await emit(event)
        except BusError as e:
            await self._retry_core(event, emit, e)
            return
        except Exception:
            log.exception("%s: event %s: emit failed; message dropped", self.owner, event.id)
            return
        if self._bus_failing:
            self._bus_ok()

    async def _retry_core(self, event: Event, emit: Emit, error: BusError) -> None:
        """Hold a core message the bus refused and offer it again until the bus takes it."""
        while True:
            self._bus_trouble(event.id, error, "retrying")
            await asyncio.sleep(self._bus_retry_delay)
            try:
                await emit(event)
            except BusError as e:
                error = e
                continue
            except Exception:
                log.exception("%s: event %s: emit failed; message dropped", self.owner, event.id)
                return
            self._bus_ok()
            return

    async def _handle_jetstream(self, msg: Any) -> None:
        emit = self._emit
        stream, sequence = stream_position(msg.reply) or _position_from_metadata(msg)
        where = f"{stream} sequence {sequence}"
        try:
            event = self._event(msg, f"{self._id_prefix}{stream}:{sequence}")
        except BadInput as e:
            log.warning("%s: message %s (%s) skipped: %s", self.owner, where, msg.subject, e)
            await self._settle(msg, "ack")
            return
        try:
            await emit(event)
        except BusError as e:
            self._bus_trouble(event.id, e, f"nak'ed for redelivery in {self._bus_retry_delay:g}s")
            await self._settle(msg, "nak")
            return
        except Exception:
            log.exception(
                "%s: event %s (%s): emit failed; nak'ed for redelivery", self.owner, event.id, where
            )
            await self._settle(msg, "nak")
            return
        self._bus_ok()
        await self._settle(msg, "ack")

    async def _settle(self, msg: Any, how: str) -> None:
        """Ack or nak ``msg``; a failure only means the server will redeliver it."""
        try:
            if how == "ack":
                await msg.ack()
            else:
                await msg.nak(delay=self._bus_retry_delay)
        except self._nats.errors.Error as e:
            log.debug("%s: %s not sent (%s); the server will redeliver", self.owner, how, e)

    def _bus_trouble(self, event_id: str, error: BusError, action: str) -> None:
        if not self._bus_failing:
            self._bus_failing = True
            log.warning(
                "%s: the bus refused event %s (%s); %s", self.owner, event_id, error, action
            )
        else:
            log.debug("%s: the bus refused event %s (%s); %s", self.owner, event_id, error, action)

    def _bus_ok(self) -> None:
        if self._bus_failing:
            self._bus_failing = False
            log.info("%s: the bus takes events again", self.owner)

    async def _close(self, client: Any, subscription: _Subscription | None) -> None:
        """Leave the server cleanly, bounded in time (the connection may already be gone).

        The subscription is withdrawn and flushed before the connection closes,
        so that the server stops delivering to it first (otherwise a message
        sent in between would count as delivered and, on JetStream, wait for
        its ack timeout).
        """
        if client.is_closed:
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                if subscription is not None:
                    await subscription.sub.unsubscribe()
                    await client.flush()
        except (TimeoutError, OSError, self._nats.errors.Error) as e:
            log.debug("%s: leaving the server: %s", self.owner, _describe(e))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await client.close()
        except (TimeoutError, OSError, self._nats.errors.Error) as e:
            log.debug("%s: closing the connection: %s", self.owner, _describe(e))


@dataclass(slots=True)
class _Subscription:
    client: Any
    sub: Any


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__
