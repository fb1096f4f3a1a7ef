"""The ``kafka`` source: records of one topic, read by partition or by consumer group.

The config is Argo's ``KafkaEventSource``. With ``consumerGroup`` the offset of a
record is committed only after the bus has its event; without it, one
``partition`` is read from the newest offset. The event id is
``<eventSource>:<event>:<topic>:<partition>:<offset>``, so a record delivered
twice deduplicates on the bus.

:class:`KafkaSource` runs one event with aiokafka (the ``kafka`` extra). What
it guarantees:

- **Shape.** Each record becomes one event, ``type`` = ``kafka``, with Argo's
  ``KafkaEventData``: ``{"topic", "key", "partition", "body", "timestamp",
  "headers", "metadata"}``. ``key`` is the record key as text (``""`` when
  absent); ``headers`` maps each header name to its value as text (the last
  one wins when a name repeats, as in Argo); ``timestamp`` is the record
  timestamp as Go's ``time.Time.String()`` writes it in UTC
  (``2026-01-02 15:04:05.123 +0000 UTC``); ``body`` is the value parsed as JSON
  with ``jsonBody: true``, else the value's bytes in base64 (what Go's JSON
  encoder makes of ``[]byte``); a null value is ``null``. ``metadata`` is only
  present when set. A ``traceparent`` header becomes the event's extension of
  that name.
- **At least once, no loss.** In consumer-group mode an offset is committed
  only after ``emit`` returned for its record (every :data:`COMMIT_INTERVAL`
  while records stream in, whenever the stream pauses, before partitions are
  revoked, and on shutdown), so a crash replays records instead of losing
  them, and the stable event id lets the bus drop the replays. A
  :class:`~herald.core.errors.BusError` from ``emit`` stops consumption: the
  partitions are rewound to the first record the bus did not take and
  retried after a backoff; nothing is skipped.
- **Bad input is skipped, not fatal.** A value that is not JSON (or nests
  deeper than :data:`~eventsources.payloads.MAX_BODY_DEPTH` levels) with
  ``jsonBody: true`` is logged with its event id and skipped; its offset is
  committed with the others.
- **Readiness and reconnection.** ``ready`` is set only while the brokers
  answer and the assigned partitions have a position; when they go away it is
  cleared and the client reconnects with ``connectionBackoff`` (default: every
  second). One log line per state change, not per retry. Brokers that refuse
  the client (a TLS certificate it does not trust, a TLS handshake they
  refuse, a SASL login or mechanism they refuse) are an error line naming the
  field to fix, not "unavailable": aiokafka reports them all as "Unable to
  bootstrap", so one connection is repeated to find out
  (:func:`herald.core.kafka_client.login_refusal`).
  The source stays not ready and retries with the same backoff.
- ``limitEventsPerSecond`` paces emits to at most that many per second.

Where Herald differs from Argo, and why:

- The event id leaves out the broker address (Argo: ``<es>:<event>:<broker>:…``),
  so that moving a cluster behind a new address does not defeat deduplication.
- ``connectionBackoff`` sets the pace of reconnection, which never gives up
  (Argo fails the source once its steps are spent, and relies on the pod being
  restarted; in ``herald run`` that would stop every other source too). The
  delay stops growing at :data:`herald.core.backoff.MAX_RECONNECT_DELAY`.
- The partition mode reads from the newest offset on every start, as Argo, and
  commits nothing: it is at-most-once across restarts by design. Use a
  consumer group when records must not be lost.
- ``version`` and ``config`` (sarama settings) are ignored with a log note:
  aiokafka negotiates the protocol version itself and has other settings.
  ``schemaRegistry`` and ``awsMskIamAuth`` are refused at start with a
  ConfigError (not supported yet). SASL supports PLAIN and SCRAM-SHA-256/512.
- The record timestamp is written in UTC (Argo: the pod's local zone, UTC in
  its container image).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, Self, TypeAlias

import yaml
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from bus.event import Event
from eventsources.base import (
    INT_OR_STRING,
    EventSourceFilter,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    basic_auth_problems,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    sasl_problems,
    tls_problems,
)
from eventsources.payloads import TRACEPARENT, BadInput, json_body
from eventsources.source import Emit, SourceContext
from herald.core.backoff import Backoff, reconnect_delays
from herald.core.errors import BusError, ConfigError
from herald.core.kafka_client import client_options, login_refusal, refusal, require_aiokafka
from herald.core.model import Spec
from herald.core.tls import BasicAuth, SASLConfig, TLSConfig

_BROKER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(\.\d+)?$")


def _partition(value: object) -> object:
    """Argo writes the partition as a string; accept a number too."""
    if isinstance(value, bool):
        raise field_error("invalid_partition", "partition must be a number, e.g. '0'")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise field_error(
                "invalid_partition", f"partition {value!r} is not a number: write e.g. '0'"
            )
        return str(int(value))
    return value


Partition: TypeAlias = Annotated[str, BeforeValidator(_partition), WithJsonSchema(INT_OR_STRING)]


def check_brokers(value: str) -> str:
    """Comma-separated ``host:port`` pairs, as the Kafka client takes them."""
    for broker in value.split(","):
        if not _BROKER.match(broker.strip()):
            raise field_error(
                "invalid_url",
                f"broker {broker.strip()!r} is not host:port: write e.g. "
                "url: kafka-0.kafka:9092,kafka-1.kafka:9092",
            )
    return value


def check_version(value: str | None) -> str | None:
    """A Kafka protocol version such as 2.5.0."""
    if value is not None and not _VERSION.match(value):
        raise field_error("invalid_version", f"version {value!r} is not like '2.5.0'")
    return value


class KafkaConsumerGroup(Spec):
    """Read as a member of a consumer group (offsets committed after the bus has the event)."""

    group_name: str = Field(min_length=1, description="Consumer group name.")
    oldest: bool | None = Field(
        default=None,
        description="A new group starts at the oldest record (true) or the newest (default).",
    )
    rebalance_strategy: Literal["range", "sticky", "roundrobin"] | None = Field(
        default=None, description="Partition assignment: range (default), sticky or roundrobin."
    )


class AWSMSKIAMConfig(Spec):
    """Amazon MSK IAM authentication (SASL/OAUTHBEARER with AWS credentials; forces TLS)."""

    region: str = Field(min_length=1, description="AWS region of the MSK cluster, e.g. us-east-1.")


class SchemaRegistryConfig(Spec):
    """A Confluent schema registry: Avro records are decoded to JSON with it."""

    url: str = Field(min_length=1, description="Schema registry URL.")
    schema_id: int | None = Field(default=None, ge=0, description="Schema ID to decode with.")
    auth: BasicAuth | None = Field(default=None, description="Basic auth for the registry.")


class KafkaEventSource(SourceConfig):
    """One Kafka event: brokers, topic, and where in it to read."""

    url: str = Field(
        min_length=1, description="Brokers as comma-separated host:port, e.g. kafka:9092."
    )
    topic: str = Field(min_length=1, description="Topic to read.")
    partition: Partition | None = Field(
        default=None, description="Partition to read (from the newest offset) without a group."
    )
    consumer_group: KafkaConsumerGroup | None = Field(
        default=None, description="Read as a consumer group instead of one partition."
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the brokers."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the brokers.")
    sasl: SASLConfig | None = Field(default=None, description="SASL authentication.")
    aws_msk_iam_auth: AWSMSKIAMConfig | None = Field(
        default=None, description="Amazon MSK IAM authentication (replaces sasl; forces TLS)."
    )
    json_body: bool | None = Field(
        default=None,
        description="Record values are JSON and go into the event as JSON (else base64).",
    )
    limit_events_per_second: int | None = Field(
        default=None, ge=0, description="Read at most this many records per second (0: no limit)."
    )
    version: str | None = Field(
        default=None, description="Kafka protocol version of the brokers, e.g. 2.5.0."
    )
    config: str | None = Field(
        default=None,
        description="Client settings as a YAML document (Argo: sarama.Config overrides).",
    )
    schema_registry: SchemaRegistryConfig | None = Field(
        default=None, description="Decode Avro records with this schema registry."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @field_validator("url")
    @classmethod
    def _brokers(cls, value: str) -> str:
        return check_brokers(value)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        return check_version(value)

    @field_validator("config")
    @classmethod
    def _config_yaml(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise field_error("invalid_yaml", f"config is not valid YAML: {e}") from None
        if parsed is not None and not isinstance(parsed, dict):
            raise field_error("invalid_yaml", "config must be a YAML mapping, e.g. 'net: {...}'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        if self.partition is None and self.consumer_group is None:
            problems.append(
                Problem(
                    ("partition",),
                    "say where to read: set partition (e.g. '0') or "
                    "consumerGroup: {groupName: ...}",
                    None,
                )
            )
        problems += tls_problems(self.tls)
        problems += sasl_problems(self.sasl)
        if self.schema_registry is not None:
            problems += basic_auth_problems(self.schema_registry.auth, ("schemaRegistry", "auth"))
        raise_problems(problems, type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """Fields that Argo documents as ignored when another one is set."""
        notes: list[Note] = []
        if self.consumer_group is not None and self.partition is not None:
            notes.append(
                (("partition",), "partition is ignored when consumerGroup is set: remove it")
            )
        if self.aws_msk_iam_auth is not None and self.sasl is not None:
            notes.append((("sasl",), "sasl is ignored when awsMskIamAuth is set: remove it"))
        return notes


# ---------------------------------------------------------------------------------------
# The runnable source.

log = logging.getLogger("herald.source.kafka")

EVENT_TYPE = "kafka"
"""The ``type`` attribute of every event of this source."""

MAX_BATCH = 500
"""Records taken from the client at once; their offsets are committed together."""


PROBE_INTERVAL = 1.0
"""Seconds between two checks that the brokers still answer (readiness)."""

COMMIT_INTERVAL = 0.2
"""Seconds between offset commits while records stream in (they are also committed
whenever the stream pauses, before partitions are revoked, and on shutdown)."""

COMMIT_TIMEOUT = 10.0
"""Seconds one offset commit may take before it is left to the next one."""

_POLL_MS = 500


async def stop_client(client: Any, owner: str) -> None:
    """Stop an aiokafka consumer; a cancellation that is not the caller's does not escape.

    aiokafka 0.14's consumer ``stop()`` cancels its fetches in flight and awaits
    them; a fetch that was sleeping in its retry backoff (the brokers did not
    answer) ends cancelled, and its CancelledError comes out of ``stop()``
    although nobody cancelled the caller. That happens when a group member
    rejoins after an outage; taken for the source's own, it would end the
    source silently. ``stop()`` then gave up before closing its connections:
    they are closed here. The caller's own cancellation always propagates.
    """
    try:
        await client.stop()
    except asyncio.CancelledError:
        await client._client.close()  # what stop() did not reach (no public call for it)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("%s: the client's stop ended early on a fetch it cancelled", owner)


class GoTimestamps:
    """Kafka timestamps (milliseconds since the epoch) as Go's ``time.Time.String()`` in UTC.

    ``2026-01-02 15:04:05.123 +0000 UTC``: the fraction without trailing zeros,
    none when it is zero. The text of the current second is kept, since
    records arrive in bursts with the same second.
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second: int | None = None
        self._prefix = ""

    def format(self, millis: int) -> str:
        """``millis`` as Go writes the time (negative values count back from 1970)."""
        second, milli = divmod(millis, 1000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            self._second = second
        if milli:
            return f"{self._prefix}.{milli:03d}".rstrip("0") + " +0000 UTC"
        return self._prefix + " +0000 UTC"


class _Records:
    """Turns consumer records into events (the hot path: one call per record)."""

    __slots__ = ("_json_body", "_metadata", "_name", "_prefix", "_source", "_timestamps")

    def __init__(self, event_source: str, event_name: str, config: KafkaEventSource) -> None:
        self._source = event_source
        self._name = event_name
        self._prefix = f"{event_source}:{event_name}:"
        self._json_body = bool(config.json_body)
        # Shared by every event: event data is read-only by contract.
        self._metadata = dict(config.metadata) if config.metadata else None
        self._timestamps = GoTimestamps()

    def event(self, record: Any) -> Event | None:
        """The event for ``record``; None (logged) when its value is not usable JSON."""
        event_id = f"{self._prefix}{record.topic}:{record.partition}:{record.offset}"
        value: bytes | None = record.value
        body: Any
        if value is None:
            body = None
        elif self._json_body:
            try:
                body = json_body(value)
            except BadInput as e:
                log.warning(
                    "%s/%s: record %s skipped: %s; fix the producer or set jsonBody: false",
                    self._source,
                    self._name,
                    event_id,
                    e,
                )
                return None
        else:
            body = base64.b64encode(value).decode("ascii")
        key: bytes | None = record.key
        headers: dict[str, str] = {}
        extensions: dict[str, str] | None = None
        if record.headers:
            for name, raw in record.headers:
                headers[name] = raw.decode("utf-8", "replace") if raw is not None else ""
            traceparent = headers.get("traceparent")
            if traceparent is not None and TRACEPARENT.fullmatch(traceparent):
                extensions = {"traceparent": traceparent}
        data: dict[str, Any] = {
            "topic": record.topic,
            "key": key.decode("utf-8", "replace") if key is not None else "",
            "partition": record.partition,
            "body": body,
            "timestamp": self._timestamps.format(record.timestamp),
            "headers": headers,
        }
        if self._metadata is not None:
            data["metadata"] = self._metadata
        if extensions is not None:
            return Event.new(
                source=self._source,
                type=EVENT_TYPE,
                subject=self._name,
                data=data,
                id=event_id,
                extensions=extensions,
            )
        return Event(
            id=event_id, source=self._source, type=EVENT_TYPE, subject=self._name, data=data
        )


def _fetched_since(consumer: Any, since_ms: int) -> bool:
    """Whether the brokers answered a fetch of an assigned partition at or after ``since_ms``.

    aiokafka stamps a partition (wall clock, ms) on every fetch answer, also an
    empty one at the end of a long poll.
    """
    for tp in consumer.assignment():
        stamp = consumer.last_poll_timestamp(tp)
        if stamp is not None and stamp >= since_ms:
            return True
    return False


class _Unavailable(Exception):
    """The configured partition is not (yet) in the topic; retried like a lost broker."""


class _Refused(Exception):
    """The brokers answer but refuse this client (its TLS or SASL settings); retried."""


class KafkaSource:
    """One event of a ``kafka`` EventSource: a consumer group member or one partition's reader.

    ``consumer_options`` are extra keyword arguments for ``AIOKafkaConsumer``
    (tests shorten group session timeouts with them); ``probe_interval`` is
    how often readiness checks that the brokers answer.
    """

    def __init__(
        self,
        config: KafkaEventSource,
        context: SourceContext,
        *,
        consumer_options: Mapping[str, Any] | None = None,
        probe_interval: float = PROBE_INTERVAL,
    ) -> None:
        self._kafka = require_aiokafka("source")
        owner = f"{context.event_source}/{context.event_name}"
        if config.schema_registry is not None:
            raise ConfigError(
                f"{owner}: schemaRegistry (Avro records) is not supported by Herald yet: "
                "produce JSON and set jsonBody: true, or remove schemaRegistry",
                path="schemaRegistry",
            )
        if config.aws_msk_iam_auth is not None:
            raise ConfigError(
                f"{owner}: awsMskIamAuth is not supported by Herald yet: use sasl "
                "(SCRAM-SHA-512) with an MSK user, or remove awsMskIamAuth",
                path="awsMskIamAuth",
            )
        self.config = config
        self.context = context
        self.owner = owner
        self._options = client_options(
            config.url, config.tls, config.sasl, context.secrets, owner=owner
        )
        self._options.update(consumer_options or {})
        self._group = config.consumer_group
        self._partition = int(config.partition) if self._group is None and config.partition else 0
        self._records = _Records(context.event_source, context.event_name, config)
        self._backoff = config.connection_backoff
        limit = config.limit_events_per_second or 0
        self._interval = 1.0 / limit if limit > 0 else 0.0
        self._next_emit = 0.0
        self._probe_interval = probe_interval
        self._ready = asyncio.Event()
        self._state = ""
        self._connected = False
        self._positioned = False
        self._needs_position = False
        self._wake = asyncio.Event()
        """Wakes the watcher early: partitions were assigned."""
        self._bus_failing = False
        self._received = 0.0
        """When the client last handed over records (monotonic seconds)."""
        self._pending: dict[Any, int] = {}
        """Partition -> next offset to commit: records up to it have been emitted."""

    @property
    def ready(self) -> asyncio.Event:
        """Set while the brokers answer and the assigned partitions have a position."""
        return self._ready

    # ------------------------------------------------------------------ lifecycle

    async def run(self, emit: Emit) -> None:
        """Consume until cancelled, reconnecting with backoff; commit what was emitted."""
        self._note_ignored_fields()
        delays = reconnect_delays(self._backoff)
        errors = self._kafka.errors
        try:
            while True:
                consumer = self._consumer()
                try:
                    await self._start(consumer)
                    await self._consume(consumer, emit)
                except* _Refused as group:
                    self._change("refused", logging.ERROR, f"{group.exceptions[0]}; retrying")
                except* (errors.KafkaError, _Unavailable) as group:
                    # _consume runs a TaskGroup: a failure may arrive wrapped in a group.
                    first = group.exceptions[0]
                    self._change(
                        "down", logging.WARNING, f"{self._describe_failure(first)}; retrying"
                    )
                finally:
                    if self._ready.is_set():
                        delays = reconnect_delays(
                            self._backoff
                        )  # it worked for a while: start over
                    self._connected = self._positioned = False
                    self._ready.clear()
                    await self._close(consumer)
                delay = next(delays)
                log.debug("%s: reconnecting in %.2fs", self.owner, delay)
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()

    async def _start(self, consumer: Any) -> None:
        """Start the client; :class:`_Refused` when the brokers refuse its TLS or SASL."""
        try:
            await consumer.start()
        except KeyError as e:  # aiokafka's SCRAM client on a refused login, see refusal()
            reason = refusal(e, self._options)
            if reason is None:
                raise
            raise _Refused(f"brokers {self.config.url} {reason}") from e
        except self._kafka.errors.KafkaConnectionError as e:
            reason = await login_refusal(self._options)
            if reason is None:
                raise
            raise _Refused(f"brokers {self.config.url} {reason}") from e

    def _note_ignored_fields(self) -> None:
        if self.config.version is not None:
            log.info(
                "%s: version %s is ignored: the client negotiates the protocol version",
                self.owner,
                self.config.version,
            )
        if self.config.config is not None:
            log.info("%s: config (sarama client settings) is ignored by Herald", self.owner)

    def _consumer(self) -> Any:
        kafka = self._kafka
        options = dict(self._options)
        options.setdefault("enable_auto_commit", False)
        if self._group is not None:
            options["group_id"] = self._group.group_name
            options["auto_offset_reset"] = "earliest" if self._group.oldest else "latest"
            options["partition_assignment_strategy"] = (self._assignor(),)
        else:
            options["auto_offset_reset"] = "latest"
        return kafka.AIOKafkaConsumer(**options)

    def _assignor(self) -> Any:
        assert self._group is not None
        strategy = self._group.rebalance_strategy or "range"
        if strategy == "sticky":
            from aiokafka.coordinator.assignors.sticky.sticky_assignor import (  # type: ignore[import-untyped]
                StickyPartitionAssignor,
            )

            return StickyPartitionAssignor
        if strategy == "roundrobin":
            from aiokafka.coordinator.assignors.roundrobin import (  # type: ignore[import-untyped]
                RoundRobinPartitionAssignor,
            )

            return RoundRobinPartitionAssignor
        from aiokafka.coordinator.assignors.range import (  # type: ignore[import-untyped]
            RangePartitionAssignor,
        )

        return RangePartitionAssignor

    async def _close(self, consumer: Any) -> None:
        """Commit what was emitted (bounded in time), then stop the client."""
        try:
            if self._group is not None and self._pending:
                await self._commit(consumer)
        finally:
            await stop_client(consumer, self.owner)

    # ------------------------------------------------------------------ states

    def _change(self, state: str, level: int, message: str) -> None:
        """Log ``message`` when the state changes (one line per change, not per retry)."""
        if state != self._state:
            self._state = state
            log.log(level, "%s: %s", self.owner, message)
        else:
            log.debug("%s: %s", self.owner, message)

    def _update_ready(self) -> None:
        if self._connected and self._positioned:
            if not self._ready.is_set():
                self._ready.set()
                where = (
                    f"group {self._group.group_name}"
                    if self._group is not None
                    else f"partition {self._partition} from the newest offset"
                )
                self._change(
                    "consuming",
                    logging.INFO,
                    f"consuming topic {self.config.topic} ({where}) from {self.config.url}",
                )
        elif self._ready.is_set():
            self._ready.clear()

    def _describe_failure(self, error: BaseException, within: float | None = None) -> str:
        if isinstance(error, _Unavailable):
            return str(error)
        if isinstance(error, TimeoutError) and within is not None:
            return f"brokers {self.config.url} unavailable (no answer within {within:g}s)"
        return f"brokers {self.config.url} unavailable ({type(error).__name__}: {error})"

    # ------------------------------------------------------------------ consuming

    async def _consume(self, consumer: Any, emit: Emit) -> None:
        topic = self.config.topic
        if self._group is not None:
            consumer.subscribe([topic], listener=self._listener(consumer))
        else:
            tp = self._kafka.TopicPartition(topic, self._partition)
            consumer.assign([tp])
            await self._check_partition(consumer)
            await consumer.seek_to_end(tp)
            await consumer.position(tp)
            self._positioned = True
        self._connected = True
        self._update_ready()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(consumer), name=f"kafka-watch:{self.owner}")
            await self._pump(consumer, emit)

    async def _check_partition(self, consumer: Any) -> None:
        """Wait for the topic's metadata; _Unavailable when the partition is not in it."""
        topic, deadline = self.config.topic, time.monotonic() + COMMIT_TIMEOUT
        partitions = consumer.partitions_for_topic(topic)
        while partitions is None:  # assign() asked for it: the answer takes a round trip
            if time.monotonic() > deadline:
                raise _Unavailable(f"no metadata for topic {topic} from {self.config.url}")
            await asyncio.sleep(0.05)
            partitions = consumer.partitions_for_topic(topic)
        if self._partition not in partitions:
            raise _Unavailable(
                f"topic {topic} has no partition {self._partition} (it has "
                f"{', '.join(str(p) for p in sorted(partitions))}): fix partition"
            )

    async def _watch(self, consumer: Any) -> None:
        """Keep ``ready`` in step: position newly assigned partitions, probe the brokers.

        Runs beside the pump, so that readiness follows the client even while an
        emit waits on the bus.
        """
        errors = self._kafka.errors
        next_probe = time.monotonic() + self._probe_interval
        while True:
            if self._needs_position:
                self._needs_position = False
                try:
                    async with asyncio.timeout(COMMIT_TIMEOUT):
                        for tp in consumer.assignment():
                            await consumer.position(tp)
                except (errors.KafkaError, TimeoutError) as e:
                    log.debug("%s: positions not known yet (%s)", self.owner, e)
                    self._needs_position = True
                else:
                    self._positioned = True
                    self._update_ready()
            if time.monotonic() >= next_probe:
                await self._probe(consumer)
                next_probe = time.monotonic() + self._probe_interval
            self._wake.clear()
            if self._needs_position:
                continue  # retry right away once the probe has run
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_probe - time.monotonic())):
                    await self._wake.wait()

    async def _probe(self, consumer: Any) -> None:
        """Whether the brokers answer; sets ``ready`` accordingly.

        The question is the end offset of one assigned partition (one small
        request to its leader); with nothing assigned, the cluster's metadata.
        An answer that is late while fetches are answered is no outage: the
        question waits behind fetches that a slow broker serves one by one.
        """
        errors = self._kafka.errors
        within = max(self._probe_interval * 3, 1.0)
        asked, asked_ms = time.monotonic(), int(time.time() * 1000)
        try:
            async with asyncio.timeout(within):
                assigned = consumer.assignment()
                if assigned:
                    await consumer.end_offsets([min(assigned)])
                else:
                    await consumer.topics()
        except (errors.KafkaError, TimeoutError) as e:
            if isinstance(e, TimeoutError) and (
                self._received >= asked or _fetched_since(consumer, asked_ms)
            ):
                # The question waits in line behind fetches on the same connection (a
                # broker answers one request at a time): fetch answers or records that
                # came meanwhile show that it answers, slowly. No outage, no rejoin.
                log.debug(
                    "%s: no answer to the probe within %gs, but to fetches", self.owner, within
                )
                return
            self._connected = False
            self._update_ready()
            self._change(
                "unreachable",
                logging.WARNING,
                f"{self._describe_failure(e, within)}; not ready until they answer again",
            )
        else:
            if not self._connected:
                if self._group is not None:
                    # Back after an outage: the group's state on the brokers may be gone
                    # (a restarted broker), so join again with a fresh consumer; what was
                    # emitted is committed and what was not is replayed and deduplicated.
                    raise _Unavailable("the brokers answer again after an outage: rejoining")
                # Back after an outage: check the positions before saying ready.
                self._connected, self._positioned, self._needs_position = True, False, True
            self._update_ready()

    async def _pump(self, consumer: Any, emit: Emit) -> None:
        """Take batches, emit their records in order, commit after the bus has them."""
        bus_delays: Iterator[float] | None = None
        group = self._group is not None
        last_commit = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=_POLL_MS, max_records=MAX_BATCH)
            if not batch:
                if group and self._pending:
                    await self._commit(consumer)  # the stream paused: commit what was emitted
                continue
            self._received = time.monotonic()
            failed = await self._deliver(consumer, batch, emit)
            if (
                group
                and self._pending
                and (failed is not None or time.monotonic() - last_commit >= COMMIT_INTERVAL)
            ):
                await self._commit(consumer)
                last_commit = time.monotonic()
            if failed is None:
                if self._bus_failing:
                    self._bus_failing = False
                    log.info("%s: the bus takes events again; consuming", self.owner)
                bus_delays = None
                continue
            if bus_delays is None:
                bus_delays = reconnect_delays(self._backoff)
            if not self._bus_failing:
                self._bus_failing = True
                log.warning(
                    "%s: the bus did not take %s (%s); holding the partitions at that record "
                    "and retrying",
                    self.owner,
                    failed[0],
                    failed[1],
                )
            await asyncio.sleep(next(bus_delays))

    async def _deliver(
        self, consumer: Any, batch: Mapping[Any, list[Any]], emit: Emit
    ) -> tuple[str, BusError] | None:
        """Emit ``batch``; on a BusError rewind to the first record not taken and say which."""
        pending = self._pending
        build = self._records.event
        interval = self._interval
        partitions = list(batch.items())
        for index, (tp, records) in enumerate(partitions):
            for record in records:
                event = build(record)
                if event is not None:
                    if interval:
                        await self._pace(interval)
                    try:
                        await emit(event)
                    except BusError as e:
                        self._rewind(consumer, tp, record.offset, partitions[index + 1 :])
                        return event.id, e
                pending[tp] = record.offset + 1
        return None

    def _rewind(
        self, consumer: Any, tp: Any, offset: int, rest: list[tuple[Any, list[Any]]]
    ) -> None:
        """Seek back to ``offset`` on ``tp`` and to the first record of the partitions not done."""
        assigned = consumer.assignment()
        for partition, at in [(tp, offset), *((p, records[0].offset) for p, records in rest)]:
            if partition in assigned:
                consumer.seek(partition, at)

    async def _pace(self, interval: float) -> None:
        """Wait so that emits are at least ``interval`` seconds apart (limitEventsPerSecond)."""
        now = time.monotonic()
        if now < self._next_emit:
            await asyncio.sleep(self._next_emit - now)
            now = self._next_emit
        self._next_emit = now + interval

    async def _commit(self, consumer: Any, partitions: Any = None) -> None:
        """Commit the pending offsets (of ``partitions``, default all assigned) to the group."""
        errors = self._kafka.errors
        pending = self._pending
        assigned = consumer.assignment() if partitions is None else partitions
        offsets = {tp: offset for tp, offset in pending.items() if tp in assigned}
        for tp in [tp for tp in pending if tp not in assigned and partitions is None]:
            del pending[tp]  # revoked: its new owner replays from the last commit
        if not offsets:
            return
        try:
            async with asyncio.timeout(COMMIT_TIMEOUT):
                await consumer.commit(offsets)
        except (errors.CommitFailedError, errors.IllegalStateError) as e:
            log.info(
                "%s: offsets not committed, the group rebalanced (%s): the records are read "
                "again by the partitions' new owner and the bus drops the duplicates",
                self.owner,
                type(e).__name__,
            )
            for tp in offsets:
                pending.pop(tp, None)
        except (errors.KafkaError, TimeoutError) as e:
            log.warning(
                "%s: offsets not committed (%s: %s); retried with the next batch",
                self.owner,
                type(e).__name__,
                e,
            )
        else:
            for tp, offset in offsets.items():
                if pending.get(tp) == offset:
                    del pending[tp]

    # ------------------------------------------------------------------ rebalances

    def _listener(self, consumer: Any) -> Any:
        source = self

        class Listener(self._kafka.ConsumerRebalanceListener):  # type: ignore[misc, name-defined]
            """Commits before partitions go away; positions them when they arrive."""

            async def on_partitions_revoked(self, revoked: Any) -> None:
                source._positioned = False
                source._update_ready()
                if revoked and source._pending:
                    await source._commit(consumer, frozenset(revoked))
                for tp in revoked:
                    source._pending.pop(tp, None)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                source._needs_position = True
                source._wake.set()

        return Listener()
