"""The EventBus spec: which bus carries events from EventSources to Sensors.

``EventBusSpec`` follows Argo's ``EventBusSpec``: exactly one of ``nats`` (NATS
Streaming, deprecated and end-of-life upstream: it loads with a warning, but
Herald has no backend for it), ``jetstream`` (a JetStream StatefulSet the
controller manages), ``jetstreamExotic`` (an existing NATS JetStream) or
``kafka`` (an existing Kafka cluster). Herald adds its own ``embedded`` bus,
beyond Argo, for a single process: ``memory://`` or a durable
``sqlite:///path`` file.

Every bus deduplicates published events by (source, id) within a window
(:meth:`EventBusSpec.dedup_window_seconds`, one hour unless the spec says
otherwise). Pod-level fields (container templates, affinity, tolerations …) are
kept as opaque objects; the controller passes them on to Kubernetes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal, NamedTuple, Self, TypeAlias

import yaml
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from herald.core.durations import parse_go_duration
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import SASLConfig, TLSConfig

DEFAULT_DUPLICATES = "1h"
"""Herald's deduplication window when the EventBus does not set one."""

_BUS_FIELDS: Final[dict[str, str]] = {
    "nats": "nats",
    "jetstream": "jetstream",
    "jetstreamExotic": "jetstream_exotic",
    "kafka": "kafka",
    "embedded": "embedded",
}
BUS_KEYS: Final[tuple[str, ...]] = tuple(_BUS_FIELDS)
"""The bus choices of an EventBus spec, in manifest spelling."""

_BROKER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([eE][0-9]+|[KMGTPE]i?|[kmunpE])?$")
_BYTES = re.compile(r"^[0-9]+(\.[0-9]+)?\s*([KMGTPE]i?B?|[kmgtpe]b?|B)?$")


class _Problem(NamedTuple):
    loc: tuple[str | int, ...]
    message: str
    value: object = None
    kind: str = "invalid_config"


def _invalid(title: str, *problems: _Problem) -> ValidationError:
    """A validation error at paths relative to the model being validated."""
    details = [
        InitErrorDetails(type=PydanticCustomError(p.kind, p.message), loc=p.loc, input=p.value)
        for p in problems
    ]
    return ValidationError.from_exception_data(title, details)


def _duration(value: object, what: str, *, nanoseconds: bool = False) -> int | str:
    """A Go duration string (``5m``); with ``nanoseconds`` also an integer of ns, as viper reads."""
    if nanoseconds and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise PydanticCustomError("invalid_duration", f"{what} must not be negative")
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_duration", f"{what} must be a duration such as '5m'")
    try:
        parse_go_duration(value)
    except ValueError as e:
        raise PydanticCustomError("invalid_duration", str(e)) from None
    return value


def _seconds(value: int | str) -> float:
    return value / 1e9 if isinstance(value, int) else parse_go_duration(value)


def _quantity(value: object) -> object:
    """A Kubernetes quantity such as ``10Gi``; numbers are kept as written."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _QUANTITY.match(value):
        return value
    raise PydanticCustomError(
        "invalid_quantity", f"{value!r} is not a Kubernetes quantity such as '10Gi'"
    )


Quantity: TypeAlias = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
    ),
]
Opaque: TypeAlias = dict[str, Any]


def _byte_size(value: str | None, what: str) -> str | None:
    if value is not None and not _BYTES.match(value.strip()):
        raise PydanticCustomError("invalid_size", f"{what} {value!r} is not a size such as '1MB'")
    return value


def _brokers(value: str) -> str:
    for broker in value.split(","):
        if not _BROKER.match(broker.strip()):
            raise PydanticCustomError(
                "invalid_url",
                f"broker {broker.strip()!r} is not host:port: write e.g. url: kafka:9092",
            )
    return value


class PodMetadata(Spec):
    """Labels and annotations put on the bus pods."""

    annotations: dict[str, str] | None = Field(default=None, description="Pod annotations.")
    labels: dict[str, str] | None = Field(default=None, description="Pod labels.")


class ContainerTemplate(Spec):
    """Overrides for one container of the bus pods."""

    resources: Opaque | None = Field(
        default=None, description="Kubernetes ResourceRequirements (requests, limits)."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy."
    )
    security_context: Opaque | None = Field(
        default=None, description="Kubernetes SecurityContext of the container."
    )


class PersistenceStrategy(Spec):
    """The volume each bus pod stores its data in."""

    storage_class_name: str | None = Field(default=None, description="StorageClass to use.")
    access_mode: (
        Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] | None
    ) = Field(default=None, description="Volume access mode (default ReadWriteOnce).")
    volume_size: Quantity | None = Field(default=None, description="Volume size, e.g. 10Gi.")


class LocalObjectReference(Spec):
    """A reference to an object in the same namespace, by name."""

    name: str = Field(min_length=1, description="Object name.")


class _PodFields(Spec):
    """Pod scheduling fields the managed buses share (passed on to Kubernetes as written)."""

    metadata: PodMetadata | None = Field(default=None, description="Pod labels and annotations.")
    node_selector: dict[str, str] | None = Field(
        default=None, description="Node labels the pods must run on."
    )
    tolerations: list[Opaque] | None = Field(default=None, description="Pod tolerations.")
    security_context: Opaque | None = Field(
        default=None, description="Kubernetes PodSecurityContext."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, description="Secrets to pull images with."
    )
    priority_class_name: str | None = Field(default=None, description="PriorityClass name.")
    priority: int | None = Field(default=None, description="Pod priority value.")
    affinity: Opaque | None = Field(default=None, description="Kubernetes Affinity.")
    service_account_name: str | None = Field(default=None, description="ServiceAccount of pods.")


class NativeStrategy(_PodFields):
    """A NATS Streaming StatefulSet managed by the controller (deprecated upstream)."""

    replicas: int | None = Field(default=None, ge=0, description="Servers (at least 3 are used).")
    auth: Literal["none", "token", "basic"] | None = Field(
        default=None, description="Client authentication: none (default), token or basic."
    )
    persistence: PersistenceStrategy | None = Field(default=None, description="Storage volume.")
    container_template: ContainerTemplate | None = Field(
        default=None, description="Overrides for the server container."
    )
    metrics_container_template: ContainerTemplate | None = Field(
        default=None, description="Overrides for the metrics container."
    )
    max_age: str | None = Field(default=None, description="Message retention, e.g. 72h.")
    max_msgs: int | None = Field(default=None, ge=0, description="Messages kept per channel.")
    max_bytes: str | None = Field(default=None, description="Bytes kept per channel, e.g. 1GB.")
    max_subs: int | None = Field(default=None, ge=0, description="Subscriptions per channel.")
    max_payload: str | None = Field(default=None, description="Largest message, e.g. 1MB.")
    raft_heartbeat_timeout: str | None = Field(default=None, description="Raft heartbeat timeout.")
    raft_election_timeout: str | None = Field(default=None, description="Raft election timeout.")
    raft_lease_timeout: str | None = Field(default=None, description="Raft lease timeout.")
    raft_commit_timeout: str | None = Field(default=None, description="Raft commit timeout.")

    @field_validator(
        "max_age",
        "raft_heartbeat_timeout",
        "raft_election_timeout",
        "raft_lease_timeout",
        "raft_commit_timeout",
    )
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return None if value is None else str(_duration(value, "the duration"))

    @field_validator("max_bytes", "max_payload")
    @classmethod
    def _sizes(cls, value: str | None) -> str | None:
        return _byte_size(value, "the size")


class NATSConfig(Spec):
    """An existing NATS Streaming cluster (deprecated upstream)."""

    url: str = Field(min_length=1, description="NATS URL, e.g. nats://stan:4222.")
    cluster_id: str = Field(
        alias="clusterID", min_length=1, description="NATS Streaming cluster id."
    )
    auth: Literal["none", "token", "basic"] | None = Field(
        default=None, description="Client authentication: none (default), token or basic."
    )
    access_secret: SecretKeySelector | None = Field(
        default=None, description="Credentials for token or basic auth."
    )


class NATSBus(Spec):
    """NATS Streaming (STAN): deprecated and end-of-life; Herald cannot run it."""

    native: NativeStrategy | None = Field(
        default=None, description="A NATS Streaming StatefulSet managed by the controller."
    )
    exotic: NATSConfig | None = Field(default=None, description="An existing NATS Streaming.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.native is None) == (self.exotic is None):
            raise PydanticCustomError(
                "one_of", "nats takes exactly one of native or exotic (found none or both)"
            )
        return self


class JetStreamStreamConfig(Spec):
    """The stream settings Argo reads from the ``streamConfig`` YAML text."""

    max_msgs: int | None = Field(default=None, ge=-1, description="Messages kept (-1: no limit).")
    max_age: str | int | None = Field(default=None, description="Retention, e.g. 72h.")
    max_bytes: int | str | None = Field(default=None, description="Bytes kept (-1: no limit).")
    replicas: int | None = Field(default=None, ge=1, description="Stream replicas (1, 3 or 5).")
    duplicates: str | int | None = Field(
        default=None, description="Deduplication window, e.g. 5m (integers are nanoseconds)."
    )
    retention: Literal[0, 1, 2] | None = Field(
        default=None, description="0 limits (default), 1 interest, 2 work queue."
    )
    discard: Literal[0, 1] | None = Field(
        default=None, description="When full: 0 discard old (default), 1 discard new."
    )

    @field_validator("max_age", "duplicates")
    @classmethod
    def _durations(cls, value: str | int | None) -> str | int | None:
        return None if value is None else _duration(value, "the duration", nanoseconds=True)

    @field_validator("max_bytes")
    @classmethod
    def _size(cls, value: int | str | None) -> int | str | None:
        return _byte_size(value, "maxBytes") if isinstance(value, str) else value


def _stream_config(value: str | None) -> str | None:
    """Parse the YAML text and check it as :class:`JetStreamStreamConfig`."""
    if value is None:
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise PydanticCustomError("invalid_yaml", f"streamConfig is not valid YAML: {e}") from None
    if parsed is not None and not isinstance(parsed, dict):
        raise PydanticCustomError(
            "invalid_yaml", "streamConfig must be a YAML mapping, e.g. 'duplicates: 5m'"
        )
    JetStreamStreamConfig.model_validate(parsed or {})
    return value


def parse_stream_config(value: str | None) -> JetStreamStreamConfig:
    """The stream settings of a ``streamConfig`` text (all unset when absent)."""
    return JetStreamStreamConfig.model_validate(yaml.safe_load(value or "") or {})


class JetStreamBus(_PodFields):
    """A NATS JetStream StatefulSet managed by the controller (Argo's recommended bus)."""

    version: str = Field(
        min_length=1, description="JetStream version from the controller's config, e.g. 2.10.10."
    )
    replicas: int | None = Field(default=None, description="Servers: 1, or 3 and more (default 3).")
    container_template: ContainerTemplate | None = Field(
        default=None, description="Overrides for the nats-server container."
    )
    reloader_container_template: ContainerTemplate | None = Field(
        default=None, description="Overrides for the config reloader container."
    )
    metrics_container_template: ContainerTemplate | None = Field(
        default=None, description="Overrides for the metrics container."
    )
    persistence: PersistenceStrategy | None = Field(default=None, description="Storage volume.")
    settings: str | None = Field(
        default=None,
        description="nats-server jetstream settings (max_memory_store, max_file_store).",
    )
    start_args: list[str] | None = Field(
        default=None, description="Extra nats-server arguments, e.g. [-D]."
    )
    stream_config: str | None = Field(
        default=None,
        description=(
            "Stream settings as YAML text: maxMsgs, maxAge, maxBytes, replicas, duplicates, "
            "retention, discard."
        ),
    )
    max_payload: str | None = Field(default=None, description="Largest message (default 1MB).")

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, value: int | None) -> int | None:
        if value is not None and (value == 2 or value <= 0):
            raise PydanticCustomError(
                "invalid_replicas", "JetStream needs 1 replica or 3 and more (a quorum)"
            )
        return value

    @field_validator("stream_config")
    @classmethod
    def _stream(cls, value: str | None) -> str | None:
        return _stream_config(value)

    @field_validator("max_payload")
    @classmethod
    def _payload(cls, value: str | None) -> str | None:
        return _byte_size(value, "maxPayload")


class JetStreamConfig(Spec):
    """An existing NATS JetStream server or cluster."""

    url: str = Field(min_length=1, description="NATS URL, e.g. nats://nats:4222.")
    access_secret: SecretKeySelector | None = Field(
        default=None, description="Credentials to connect with."
    )
    stream_config: str | None = Field(
        default=None, description="Stream settings as YAML text (as on jetstream)."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")

    @field_validator("stream_config")
    @classmethod
    def _stream(cls, value: str | None) -> str | None:
        return _stream_config(value)


class KafkaBusConsumerGroup(Spec):
    """The consumer group the Sensors read the bus topic with."""

    group_name: str | None = Field(
        default=None, description="Group name (default <namespace>-<sensor>)."
    )
    oldest: bool | None = Field(
        default=None, description="A new group starts at the oldest record (default newest)."
    )
    rebalance_strategy: Literal["range", "sticky", "roundrobin"] | None = Field(
        default=None, description="Partition assignment: range (default), sticky or roundrobin."
    )


class KafkaBus(Spec):
    """An existing Kafka cluster as the bus."""

    url: str = Field(min_length=1, description="Brokers as comma-separated host:port.")
    topic: str | None = Field(
        default=None, description="Event topic (default <namespace>-<eventbus name>)."
    )
    version: str | None = Field(default=None, description="Kafka protocol version, e.g. 2.5.0.")
    tls: TLSConfig | None = Field(default=None, description="TLS to the brokers.")
    sasl: SASLConfig | None = Field(default=None, description="SASL authentication.")
    consumer_group: KafkaBusConsumerGroup | None = Field(
        default=None, description="How Sensors consume."
    )
    partitioner: Literal["random", "hash", "roundrobin", "manual"] | None = Field(
        default=None, description="Producer partitioning: random (default), hash, roundrobin."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _brokers(value)


class EmbeddedBus(Spec):
    """Herald extension, not in Argo: an in-process bus for ``herald run``."""

    url: str = Field(
        description="memory:// (lost on exit) or sqlite:///path/to/bus.db (durable).",
    )
    duplicates: str = Field(
        default=DEFAULT_DUPLICATES,
        description="Window in which a repeated (source, id) is dropped, e.g. 1h.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("memory://"):
            return value
        if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
            return value
        raise PydanticCustomError(
            "invalid_url",
            f"url {value!r} is not an embedded bus: use memory:// or sqlite:///path/to/bus.db",
        )

    @field_validator("duplicates")
    @classmethod
    def _window(cls, value: str) -> str:
        _duration(value, "duplicates")
        if parse_go_duration(value) <= 0:
            raise PydanticCustomError("invalid_duration", "duplicates must be longer than zero")
        return value

    @property
    def duplicates_seconds(self) -> float:
        """The deduplication window in seconds."""
        return parse_go_duration(self.duplicates)


class EventBusSpec(Spec):
    """An EventBus's spec: exactly one bus."""

    nats: NATSBus | None = Field(
        default=None, description="NATS Streaming: deprecated upstream, not run by Herald."
    )
    jetstream: JetStreamBus | None = Field(
        default=None, description="A JetStream cluster managed by the controller."
    )
    jetstream_exotic: JetStreamConfig | None = Field(
        default=None, description="An existing NATS JetStream."
    )
    kafka: KafkaBus | None = Field(default=None, description="An existing Kafka cluster.")
    embedded: EmbeddedBus | None = Field(
        default=None,
        description="Herald extension, not in Argo: memory:// or sqlite:/// in one process.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [key for key in BUS_KEYS if self._get(key) is not None]
        if not chosen:
            raise _invalid(
                type(self).__name__,
                _Problem(
                    (),
                    "choose a bus: set one of jetstream, jetstreamExotic, kafka or embedded",
                    kind="one_of",
                ),
            )
        if len(chosen) > 1:
            raise _invalid(
                type(self).__name__,
                *(
                    _Problem(
                        (key,),
                        f"an EventBus has exactly one bus, found {' and '.join(chosen)}: keep one",
                        kind="one_of",
                    )
                    for key in chosen[1:]
                ),
            )
        return self

    def _get(self, key: str) -> Spec | None:
        value: Spec | None = getattr(self, _BUS_FIELDS[key])
        return value

    @property
    def backend(self) -> str:
        """Which bus this is, in manifest spelling (``jetstream``, ``embedded``, …)."""
        return next(key for key in BUS_KEYS if self._get(key) is not None)

    def dedup_window_seconds(self) -> float:
        """How long a repeated (source, id) is dropped: the bus's own setting, else 1 hour.

        ``embedded`` sets it with ``duplicates``; the JetStream buses with
        ``duplicates`` in ``streamConfig``.
        """
        if self.embedded is not None:
            return self.embedded.duplicates_seconds
        text = None
        if self.jetstream is not None:
            text = self.jetstream.stream_config
        elif self.jetstream_exotic is not None:
            text = self.jetstream_exotic.stream_config
        duplicates = parse_stream_config(text).duplicates
        if duplicates is not None:
            return _seconds(duplicates)
        return parse_go_duration(DEFAULT_DUPLICATES)


def deprecations(spec: EventBusSpec, prefix: str = "spec") -> list[tuple[str, str]]:
    """Deprecated fields of ``spec`` as (manifest path, what to do), for the loader to print."""
    if spec.nats is not None:
        return [
            (
                f"{prefix}.nats",
                "NATS Streaming is deprecated and end-of-life, and Herald has no backend "
                "for it: move to jetstream, jetstreamExotic, kafka or embedded",
            )
        ]
    return []
