"""The ``kafka`` trigger: produce one record per firing, and wait for the broker's ack.

Field names follow Argo Events' ``KafkaTrigger``. ``partition`` is deprecated
there and ignored (the partition follows ``partitioningKey``); Herald accepts it
and the loader warns.

:class:`KafkaTriggerRunner` is the adapter (its anatomy follows the http
trigger's: spec model above, runner below, every failure sorted into a
temporary or a permanent error). It holds one aiokafka producer per trigger,
started on the first firing and reused. What a firing guarantees, and where
Herald differs from Argo:

- **Acknowledged, not queued.** A firing returns once the broker acknowledged
  the record as ``requiredAcks`` asks (absent or -1: all in-sync replicas;
  1: the leader; 0: no answer is awaited, the firing returns once the record
  is sent). Argo's asynchronous producer returns as soon as the record is
  queued in the client, so a record lost afterwards is never retried; here a
  failed send is a failed firing, retried by the sensor. ``flushFrequency`` is
  therefore ignored: each record is sent and awaited on its own.
- **Record.** The value is the JSON built by ``payload`` (Argo's
  ConstructPayload; an entry with an empty ``dest`` that resolves to a string
  is sent as that text, unquoted; nothing resolved sends an empty value, where
  Argo sends a null one, which compacted topics read as a deletion). The key
  is ``partitioningKey`` (a literal; ``kafka.parameters`` may set it from an
  event with ``dest: partitioningKey``), so records with the same key share a
  partition. Headers: ``headers``, then ``secureHeaders`` (read from their
  Secret or ConfigMap on every firing, so a rotated value is picked up), then
  ``X-Herald-Event-Ids`` (the ids of the firing events, as the http trigger
  sends them) and the first event's ``traceparent``; a later header of the
  same name wins.
- **Connection settings are read once**, from the spec given at
  construction: ``url``, ``tls`` (verified, where Argo's Kafka trigger skips
  verification), ``sasl`` (PLAIN, SCRAM-SHA-256/512), ``requiredAcks`` and
  ``compress``. ``compress: true`` compresses with snappy as Argo does when a
  snappy codec is installed (``python-snappy`` or ``cramjam``), else with
  gzip, which every Kafka consumer reads too (a log line says which).
  ``topic``, ``partitioningKey``, headers and the payload are read from the
  spec of each firing, after ``kafka.parameters`` were applied.
- No idempotent producer: every Kafka broker supports it but tansu, which the
  tests run against, does not. A retried firing whose first ack was lost may
  therefore write the record twice; consumers can deduplicate by the
  ``X-Herald-Event-Ids`` header.
- ``version`` is ignored with a log note (the client negotiates the
  protocol); ``schemaRegistry`` (Avro) is refused with a ConfigError.

Failures: brokers that cannot be reached, timeouts, leader elections and every
other error Kafka marks retriable are temporary; a record larger than the
broker or the client accepts, an invalid topic name, a topic that does not
exist on brokers that do not create topics, refused credentials or
authorisation, a broker certificate that ``tls`` does not trust, a refused
TLS handshake, and a parameter that breaks the spec are permanent. aiokafka
reports a refused login or certificate like unreachable brokers ("Unable to
bootstrap"), so when the producer cannot start, one connection is repeated
to tell them apart, and the error names the field to fix.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pydantic import Field, field_validator

from bus.event import Event
from herald.core.errors import (
    ConfigError,
    PermanentTriggerError,
    SecretError,
    TemporaryTriggerError,
)
from herald.core.kafka_client import client_options, login_refusal, refusal, require_aiokafka
from herald.core.model import Spec
from herald.core.tls import BasicAuth, SASLConfig, TLSConfig
from triggers.base import TriggerContext
from triggers.params import (
    PayloadParameter,
    SecureHeader,
    TriggerParameter,
    apply_to_spec,
    payload_bytes,
)

# Kafka's acks setting: -1 all in-sync replicas, 0 no answer, 1 the leader only.
_ACKS = (-1, 0, 1)


class SchemaRegistryConfig(Spec):
    """Encode the payload with an Avro schema from a schema registry."""

    url: str = Field(min_length=1, description="Schema registry URL.")
    schema_id: int | None = Field(default=None, description="Id of the schema to encode with.")
    auth: BasicAuth | None = Field(default=None, description="Registry basic authentication.")


class KafkaTrigger(Spec):
    """Produce a record built from the events to a Kafka topic."""

    url: str = Field(min_length=1, description="Broker address(es), comma-separated host:port.")
    topic: str = Field(min_length=1, description="Topic to produce to.")
    partition: int | None = Field(
        default=None,
        description="Deprecated and ignored, as in Argo Events: use partitioningKey.",
        json_schema_extra={"deprecated": True},
    )
    partitioning_key: str | None = Field(
        default=None, description="Record key; records with the same key share a partition."
    )
    payload: list[PayloadParameter] = Field(
        description="Builds the JSON record value from event values (required, may be empty); "
        "an entry with an empty dest supplies the whole value."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this kafka spec before each record."
    )
    required_acks: int | None = Field(
        default=None,
        description="Broker acknowledgements to wait for: -1 all in-sync replicas, 1 the "
        "leader, 0 none (absent: all).",
    )
    compress: bool | None = Field(
        default=None,
        description="Compress records: snappy when a snappy codec is installed, else gzip.",
    )
    flush_frequency: int | None = Field(
        default=None, ge=0, description="How often to flush batches, in milliseconds (500)."
    )
    tls: TLSConfig | None = Field(default=None, description="Client TLS settings.")
    sasl: SASLConfig | None = Field(default=None, description="SASL authentication.")
    version: str | None = Field(
        default=None, description="Kafka protocol version to speak, e.g. 2.8.0 (1.0.0)."
    )
    schema_registry: SchemaRegistryConfig | None = Field(
        default=None, description="Encode the value with Avro from this registry."
    )
    headers: dict[str, str] | None = Field(default=None, description="Fixed record headers.")
    secure_headers: list[SecureHeader] | None = Field(
        default=None, description="Record headers whose values are read from Secrets or ConfigMaps."
    )

    @field_validator("required_acks")
    @classmethod
    def _known_acks(cls, value: int | None) -> int | None:
        if value is not None and value not in _ACKS:
            raise ValueError(
                f"requiredAcks {value} is not a Kafka acks setting: use -1 (all replicas), "
                "1 (leader) or 0 (none)"
            )
        return value


# ---------------------------------------------------------------------------- runner

EVENT_IDS_HEADER = "X-Herald-Event-Ids"
"""Record header carrying the ids of the firing events (dependency-name order)."""

TIMEOUT = 10.0
"""Seconds the start of the producer, or one record's send and ack, may take."""

_AT = "kafka"
"""Where tls and sasl sit in a trigger's spec, as messages and error paths name them."""

_CLIENT = "producer"
"""What the connection refusals call this trigger's side."""

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_ACKS_OPTION: dict[int | None, int | str] = {None: "all", -1: "all", 0: 0, 1: 1}
_LOG = logging.getLogger("herald.trigger.kafka")


def _compression(kafka: ModuleType) -> str:
    """Snappy (Argo's codec) when a snappy codec is installed, else gzip."""
    return "snappy" if kafka.codec.has_snappy() else "gzip"


class KafkaTriggerRunner:
    """Produces one record per firing through one lazily started, reused aiokafka producer.

    ``producer_options`` are extra keyword arguments for ``AIOKafkaProducer``
    (tests shorten its timeouts with them).
    """

    def __init__(
        self,
        spec: KafkaTrigger,
        context: TriggerContext,
        *,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._kafka = require_aiokafka("trigger")
        self._context = context
        self._name = f"{context.sensor}/{context.trigger}"
        if spec.schema_registry is not None:
            raise ConfigError(
                "schemaRegistry (Avro records) is not supported by Herald yet: remove it to "
                "produce JSON",
                path="kafka.schemaRegistry",
            )
        if spec.version is not None:
            _LOG.info(
                "%s: kafka.version %s is ignored: the client negotiates the protocol version",
                self._name,
                spec.version,
            )
        self._url = spec.url
        options = client_options(
            spec.url, spec.tls, spec.sasl, context.secrets, at=_AT, locate_secret_errors=True
        )
        options["acks"] = _ACKS_OPTION[spec.required_acks]
        options["enable_idempotence"] = False
        options["request_timeout_ms"] = int(TIMEOUT * 1000)
        if spec.compress:
            options["compression_type"] = _compression(self._kafka)
            _LOG.info("%s: records are compressed with %s", self._name, options["compression_type"])
        options.update(producer_options or {})
        self._options = options
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def fire(self, spec: KafkaTrigger, events: Mapping[str, Event]) -> str:
        """Produce the record for ``events``; return where it was stored."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "kafka")
        topic = spec.topic
        if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise PermanentTriggerError(
                f"topic {topic!r} is not a valid Kafka topic name (letters, digits, '.', '_', "
                "'-', at most 249)"
            )
        value = payload_bytes(spec.payload, events)
        headers = self._headers(spec, events)
        key = spec.partitioning_key.encode() if spec.partitioning_key is not None else None
        producer = await self._started()
        errors = self._kafka.errors
        where = f"topic {topic} on {self._url}"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT * 2):
                metadata = await producer.send_and_wait(topic, value, key=key, headers=headers)
        except (errors.MessageSizeTooLargeError, errors.RecordTooLargeError) as e:
            raise PermanentTriggerError(
                f"the record ({len(value)} bytes) is larger than {where} accepts: {e}"
            ) from e
        except errors.UnknownTopicOrPartitionError as e:
            if await self._topic_missing(producer, topic):
                raise PermanentTriggerError(
                    f"{where}: the topic does not exist and the brokers do not create topics: "
                    "create it"
                ) from e
            raise TemporaryTriggerError(f"{where}: no metadata for the topic yet ({e})") from e
        except (
            errors.TopicAuthorizationFailedError,
            errors.ClusterAuthorizationFailedError,
            errors.InvalidTopicError,
            errors.AuthenticationFailedError,
            errors.SaslAuthenticationFailed,
        ) as e:
            raise PermanentTriggerError(f"{where} refused the record: {_describe(e)}") from e
        except TimeoutError as e:
            raise TemporaryTriggerError(f"no ack from {where} within {TIMEOUT * 2:g} s") from e
        except errors.KafkaError as e:
            message = f"producing to {where} failed: {_describe(e)}"
            if getattr(e, "retriable", False) or isinstance(
                e, errors.KafkaTimeoutError | errors.KafkaConnectionError
            ):
                raise TemporaryTriggerError(message) from e
            raise PermanentTriggerError(message) from e
        elapsed = (time.perf_counter() - started) * 1000.0
        if metadata is None:  # requiredAcks: 0
            return f"sent to {where} ({len(value)} bytes, no ack asked) in {elapsed:.1f} ms"
        return (
            f"stored in {where} at partition {metadata.partition} offset {metadata.offset} "
            f"({len(value)} bytes) in {elapsed:.1f} ms"
        )

    async def close(self) -> None:
        """Flush and stop the producer, if one was started."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop(producer)

    async def _started(self) -> Any:
        """The running producer, started now if there is none."""
        async with self._lock:
            if self._producer is None:
                self._producer = await self._start()
            return self._producer

    async def _start(self) -> Any:
        producer = self._kafka.AIOKafkaProducer(**self._options)
        errors = self._kafka.errors
        try:
            async with asyncio.timeout(TIMEOUT):
                await producer.start()
        except (errors.AuthenticationFailedError, errors.SaslAuthenticationFailed) as e:
            await self._stop(producer)
            raise PermanentTriggerError(
                f"{self._url} refused the credentials of kafka.sasl ({_describe(e)})"
            ) from e
        except KeyError as e:  # aiokafka's SCRAM client on a refused login, see refusal()
            await self._stop(producer)
            reason = refusal(e, self._options, at=_AT, client=_CLIENT)
            if reason is None:
                raise
            raise PermanentTriggerError(f"brokers {self._url} {reason}") from e
        except (errors.KafkaError, TimeoutError, OSError) as e:
            await self._stop(producer)
            if isinstance(e, errors.KafkaConnectionError):
                reason = await login_refusal(self._options, at=_AT, client=_CLIENT)
                if reason is not None:
                    raise PermanentTriggerError(f"brokers {self._url} {reason}") from e
            raise TemporaryTriggerError(
                f"cannot connect to the brokers {self._url}: {_describe(e)}"
            ) from e
        return producer

    async def _stop(self, producer: Any) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                await producer.stop()
        except (self._kafka.errors.KafkaError, TimeoutError, OSError) as e:
            _LOG.debug("%s: stopping the producer: %s", self._name, _describe(e))

    async def _topic_missing(self, producer: Any, topic: str) -> bool:
        """Whether the brokers answer and do not know ``topic`` (vs. not answering)."""
        try:
            async with asyncio.timeout(TIMEOUT):
                cluster = await producer.client.fetch_all_metadata()
        except (self._kafka.errors.KafkaError, TimeoutError):
            return False
        return topic not in cluster.topics()

    def _headers(self, spec: KafkaTrigger, events: Mapping[str, Event]) -> list[tuple[str, bytes]]:
        headers: dict[str, str] = dict(spec.headers) if spec.headers else {}
        secrets = self._context.secrets
        for secure in spec.secure_headers or ():
            source = secure.value_from
            try:
                if source.secret_key_ref is not None:
                    value = secrets.secret(source.secret_key_ref)
                else:
                    assert source.config_map_key_ref is not None
                    value = secrets.configmap(source.config_map_key_ref)
            except SecretError as e:
                raise PermanentTriggerError(f"secureHeaders {secure.name!r}: {e}") from e
            if value is not None:
                headers[secure.name] = value
        names = sorted(events)
        if names:
            headers[EVENT_IDS_HEADER] = ",".join(events[name].id for name in names)
        if "traceparent" not in headers:
            for name in names:
                traceparent = events[name].extensions.get("traceparent")
                if traceparent:
                    headers["traceparent"] = traceparent
                    break
        return [(name, value.encode()) for name, value in headers.items()]


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__
