"""The EventSource spec: Argo's common fields plus one map of events per source type.

``EventSourceSpec`` follows Argo's ``EventSourceSpec`` field for field: the
common fields (``eventBusName``, ``template``, ``service``, ``replicas``) and
all 32 source types (:data:`EVENT_SOURCE_TYPES`), each a map of event name to
that type's config model (one module per type, ``eventsources/<type>.py``).
Every type loads and is checked; a type that ``herald run`` has no adapter
for yet (not in :data:`eventsources.source.REGISTRY`) is reported by
:func:`deprecations` as a warning ("modelled but Herald cannot run it yet"),
and ``herald run`` refuses it before starting anything. A misspelt or
mis-cased key keeps pydantic's unknown-field error, with a "did you mean"
naming the right spelling (``pubsub`` → ``pubSub``).

Across all types of one EventSource, event names are unique (Argo rejects a
repeated name too, since the name is the event's ``subject`` on the bus), and
no two HTTP events share a port and endpoint (Argo would silently serve only
the first). :func:`deprecations` lists deprecated and ignored fields, types
Herald cannot run yet, and a mix of types Argo refuses to deploy together,
for the loader to print as warnings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, Self

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ValidationError

from eventsources.amqp import AMQPEventSource
from eventsources.azure_events_hub import AzureEventsHubEventSource
from eventsources.azure_queue_storage import AzureQueueStorageEventSource
from eventsources.azure_service_bus import AzureServiceBusEventSource
from eventsources.base import (
    Problem,
    SourceConfig,
    field_error,
    invalid,
    raise_problems,
    suggest_fields,
)
from eventsources.bitbucket import BitbucketEventSource
from eventsources.bitbucketserver import BitbucketServerEventSource
from eventsources.calendar import CalendarEventSource
from eventsources.emitter import EmitterEventSource
from eventsources.file import FileEventSource
from eventsources.generic import GenericEventSource
from eventsources.gerrit import GerritEventSource
from eventsources.github import GithubEventSource
from eventsources.gitlab import GitlabEventSource
from eventsources.hdfs import HDFSEventSource
from eventsources.kafka import KafkaEventSource
from eventsources.minio import MinioEventSource
from eventsources.mns import MNSEventSource
from eventsources.mqtt import MQTTEventSource
from eventsources.nats import NATSEventsSource
from eventsources.nsq import NSQEventSource
from eventsources.pubsub import PubSubEventSource
from eventsources.pulsar import PulsarEventSource
from eventsources.redis import RedisEventSource
from eventsources.redis_stream import RedisStreamEventSource
from eventsources.resource import ResourceEventSource
from eventsources.sftp import SFTPEventSource
from eventsources.slack import SlackEventSource
from eventsources.sns import SNSEventSource
from eventsources.source import REGISTRY
from eventsources.sqs import SQSEventSource
from eventsources.storage_grid import StorageGridEventSource
from eventsources.stripe import StripeEventSource
from eventsources.webhook import WebhookEventSource
from herald.core.model import Spec

# (spec key, CloudEvent ``type`` on the bus (Argo's const.go), config model).
# The six types Herald first ran come first, then Argo's declaration order; events()
# walks the types in this order.
_TYPES: Final[tuple[tuple[str, str, type[SourceConfig]], ...]] = (
    ("webhook", "webhook", WebhookEventSource),
    ("github", "github", GithubEventSource),
    ("kafka", "kafka", KafkaEventSource),
    ("nats", "nats", NATSEventsSource),
    ("mqtt", "mqtt", MQTTEventSource),
    ("calendar", "calendar", CalendarEventSource),
    ("minio", "minio", MinioEventSource),
    ("file", "file", FileEventSource),
    ("resource", "resource", ResourceEventSource),
    ("amqp", "amqp", AMQPEventSource),
    ("sns", "sns", SNSEventSource),
    ("sqs", "sqs", SQSEventSource),
    ("pubSub", "pubsub", PubSubEventSource),
    ("gitlab", "gitlab", GitlabEventSource),
    ("hdfs", "hdfs", HDFSEventSource),
    ("slack", "slack", SlackEventSource),
    ("storageGrid", "storagegrid", StorageGridEventSource),
    ("azureEventsHub", "azureEventsHub", AzureEventsHubEventSource),
    ("stripe", "stripe", StripeEventSource),
    ("emitter", "emitter", EmitterEventSource),
    ("redis", "redis", RedisEventSource),
    ("nsq", "nsq", NSQEventSource),
    ("pulsar", "pulsar", PulsarEventSource),
    ("generic", "generic", GenericEventSource),
    ("bitbucketserver", "bitbucketserver", BitbucketServerEventSource),
    ("bitbucket", "bitbucket", BitbucketEventSource),
    ("redisStream", "redisStream", RedisStreamEventSource),
    ("azureServiceBus", "azureServiceBus", AzureServiceBusEventSource),
    ("azureQueueStorage", "azureQueueStorage", AzureQueueStorageEventSource),
    ("sftp", "sftp", SFTPEventSource),
    ("gerrit", "gerrit", GerritEventSource),
    ("mns", "mns", MNSEventSource),
)

EVENT_SOURCE_TYPES: Final[Mapping[str, str]] = MappingProxyType({k: t for k, t, _ in _TYPES})
"""Every Argo source type: spec key → the CloudEvent ``type`` on the bus (const.go)."""

MODELLED_TYPES: Final[tuple[str, ...]] = tuple(EVENT_SOURCE_TYPES)
"""The spec keys of :data:`EVENT_SOURCE_TYPES`, in spec order."""

CONFIG_MODELS: Final[Mapping[str, type[SourceConfig]]] = MappingProxyType(
    {k: model for k, _, model in _TYPES}
)
"""The config model of each type."""

RECREATE_TYPES: Final[frozenset[str]] = frozenset(
    {
        "amqp",
        "calendar",
        "kafka",
        "pubSub",
        "azureEventsHub",
        "azureServiceBus",
        "nats",
        "mqtt",
        "minio",
        "emitter",
        "nsq",
        "pulsar",
        "redis",
        "redisStream",
        "resource",
        "hdfs",
        "file",
        "sftp",
        "generic",
    }
)
"""Types Argo deploys active-passive (Recreate); the others roll (const.go)."""


def runnable(type_key: str) -> bool:
    """Whether ``herald run`` has an adapter for source type ``type_key``."""
    return type_key in REGISTRY


# Unknown top-level keys with a known story.
_HINTS: Final[dict[str, str]] = {
    "type": (
        "Extra inputs are not permitted: spec.type is a field of Argo Events before v1.0; "
        "the type is now the key the events sit under (e.g. webhook:), so remove it"
    ),
}

_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

_EXAMPLE = "webhook: {example: {port: '12000', endpoint: /example, method: POST}}"

_OPAQUE: Final[dict[str, Any]] = {"x-kubernetes-preserve-unknown-fields": True}


def _events_field(kind: str) -> Any:
    return Field(default=None, description=f"{kind} events, keyed by event name.")


class ServiceMetadata(Spec):
    """Labels and annotations of the Service."""

    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")


class Service(Spec):
    """The Service exposing an EventSource's HTTP ports on Kubernetes (Argo's ``Service``)."""

    metadata: ServiceMetadata | None = Field(
        default=None, description="Labels and annotations of the Service."
    )
    ports: list[dict[str, Any]] | None = Field(
        default=None,
        description="Kubernetes ServicePorts, e.g. [{port: 12000, targetPort: 12000}].",
        json_schema_extra={"items": {"type": "object", **_OPAQUE}},
    )
    cluster_ip: str | None = Field(
        default=None,
        alias="clusterIP",
        description="Cluster IP: None (headless), empty (assigned) or an address.",
    )


class EventSourceSpec(Spec):
    """An EventSource's spec: where its events go and, per source type, its events."""

    event_bus_name: str = Field(
        default="default", description="Name of the EventBus the events are published to."
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description="Pod template for the EventSource's Deployment (Kubernetes only).",
        json_schema_extra=_OPAQUE,
    )
    service: Service | None = Field(
        default=None,
        description="Service exposing the EventSource's HTTP ports (Kubernetes only).",
    )
    replicas: int | None = Field(
        default=None, ge=1, description="Replicas of the EventSource's Deployment (default 1)."
    )
    webhook: dict[str, WebhookEventSource] | None = _events_field("Generic webhook")
    github: dict[str, GithubEventSource] | None = _events_field("GitHub webhook")
    kafka: dict[str, KafkaEventSource] | None = _events_field("Kafka")
    nats: dict[str, NATSEventsSource] | None = _events_field("NATS")
    mqtt: dict[str, MQTTEventSource] | None = _events_field("MQTT")
    calendar: dict[str, CalendarEventSource] | None = _events_field("Calendar (timer)")
    minio: dict[str, MinioEventSource] | None = _events_field("MinIO bucket notification")
    file: dict[str, FileEventSource] | None = _events_field("Local file")
    resource: dict[str, ResourceEventSource] | None = _events_field("Kubernetes resource")
    amqp: dict[str, AMQPEventSource] | None = _events_field("AMQP (RabbitMQ)")
    sns: dict[str, SNSEventSource] | None = _events_field("AWS SNS")
    sqs: dict[str, SQSEventSource] | None = _events_field("AWS SQS")
    pub_sub: dict[str, PubSubEventSource] | None = _events_field("Google Cloud Pub/Sub")
    gitlab: dict[str, GitlabEventSource] | None = _events_field("GitLab webhook")
    hdfs: dict[str, HDFSEventSource] | None = _events_field("HDFS file")
    slack: dict[str, SlackEventSource] | None = _events_field("Slack")
    storage_grid: dict[str, StorageGridEventSource] | None = _events_field("NetApp StorageGRID")
    azure_events_hub: dict[str, AzureEventsHubEventSource] | None = _events_field(
        "Azure Event Hubs"
    )
    stripe: dict[str, StripeEventSource] | None = _events_field("Stripe webhook")
    emitter: dict[str, EmitterEventSource] | None = _events_field("Emitter")
    redis: dict[str, RedisEventSource] | None = _events_field("Redis Pub/Sub")
    nsq: dict[str, NSQEventSource] | None = _events_field("NSQ")
    pulsar: dict[str, PulsarEventSource] | None = _events_field("Apache Pulsar")
    generic: dict[str, GenericEventSource] | None = _events_field("Generic (gRPC server)")
    bitbucketserver: dict[str, BitbucketServerEventSource] | None = _events_field(
        "Bitbucket Server webhook"
    )
    bitbucket: dict[str, BitbucketEventSource] | None = _events_field("Bitbucket Cloud webhook")
    redis_stream: dict[str, RedisStreamEventSource] | None = _events_field("Redis streams")
    azure_service_bus: dict[str, AzureServiceBusEventSource] | None = _events_field(
        "Azure Service Bus"
    )
    azure_queue_storage: dict[str, AzureQueueStorageEventSource] | None = _events_field(
        "Azure Queue Storage"
    )
    sftp: dict[str, SFTPEventSource] | None = _events_field("SFTP file")
    gerrit: dict[str, GerritEventSource] | None = _events_field("Gerrit webhook")
    mns: dict[str, MNSEventSource] | None = _events_field("Alibaba Cloud MNS")

    @field_validator("event_bus_name")
    @classmethod
    def _bus_name(cls, value: str) -> str:
        if not _K8S_NAME.match(value):
            raise field_error(
                "invalid_name",
                f"eventBusName {value!r} is not a Kubernetes name (lowercase, digits, '-', '.')",
            )
        return value

    @model_validator(mode="after")
    def _events_consistent(self) -> Self:
        problems: list[Problem] = []
        owner_of_name: dict[str, str] = {}
        owner_of_route: dict[tuple[str, str], str] = {}
        for type_key, name, config in self.events():
            if not name.strip():
                problems.append(
                    Problem((type_key, name), "an event name must not be empty", name, "blank_name")
                )
            if name in owner_of_name:
                problems.append(
                    Problem(
                        (type_key, name),
                        f"event name {name!r} is already used by {owner_of_name[name]}.{name}: "
                        "event names must be unique across all types of one EventSource "
                        "(they are the events' subject); rename one",
                        name,
                        "duplicate_event_name",
                    )
                )
            else:
                owner_of_name[name] = type_key
            route = config.http_route()
            if route is None:
                continue
            loc, context = route
            here = ".".join(str(p) for p in (type_key, name, *loc))
            key = context.route_key()
            if key in owner_of_route:
                problems.append(
                    Problem(
                        (type_key, name, *loc, "endpoint"),
                        f"port {context.port} endpoint {context.endpoint} is already used by "
                        f"{owner_of_route[key]}: one server per port serves each endpoint "
                        f"once, so give {here} its own endpoint or port",
                        context.endpoint,
                        "duplicate_route",
                    )
                )
            else:
                owner_of_route[key] = here
        if not owner_of_name:
            raise invalid(
                Problem(
                    (),
                    "an EventSource needs at least one event: add one under a source type "
                    f"(webhook, github, kafka, … any of Argo's {len(MODELLED_TYPES)}), "
                    f"e.g. {_EXAMPLE}",
                    kind="no_events",
                ),
                title=type(self).__name__,
            )
        raise_problems(problems, type(self).__name__)
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _hint_misspellings(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Add a "did you mean" to unknown keys close to a real one, at any depth.

        Declared after ``_events_consistent`` on purpose: pydantic wraps model
        validators around each other in declaration order, so this one sees the
        cross-event errors too and reports them with the unknown keys.
        """
        try:
            return handler(data)
        except ValidationError as e:
            raise suggest_fields(cls, e, hints=_HINTS) from None

    def events(self) -> Iterator[tuple[str, str, SourceConfig]]:
        """Every event as (type key, event name, config), in spec order."""
        for type_key in MODELLED_TYPES:
            configs: Mapping[str, SourceConfig] | None = getattr(self, _ATTRIBUTE[type_key])
            for name, config in (configs or {}).items():
                yield type_key, name, config


_ATTRIBUTE: Final[Mapping[str, str]] = MappingProxyType(
    {(info.alias or name): name for name, info in EventSourceSpec.model_fields.items()}
)
"""Spec key (manifest spelling) → attribute of :class:`EventSourceSpec`."""


def deprecations(spec: EventSourceSpec, prefix: str = "spec") -> list[tuple[str, str]]:
    """What loads but deserves a warning, as (path, what to do).

    Deprecated or ignored fields of each event, source types ``herald run``
    cannot run yet, and types Argo refuses to deploy in one EventSource. Paths
    are in manifest spelling, e.g. ``spec.github.example.owner``; the loader
    prints them as warnings and loads the manifest anyway.
    """
    out: list[tuple[str, str]] = []
    present: list[str] = []
    for type_key, name, config in spec.events():
        if type_key not in present:
            present.append(type_key)
        for loc, message in config.manifest_warnings():
            path = ".".join(str(p) for p in (prefix, type_key, name, *loc))
            out.append((path, message))
    for type_key in present:
        if not runnable(type_key):
            out.append(
                (
                    f"{prefix}.{type_key}",
                    f"event source type {type_key!r} is modelled but Herald cannot run it yet: "
                    "herald run refuses it (it runs "
                    f"{', '.join(t for t in MODELLED_TYPES if runnable(t))})",
                )
            )
    recreate = [t for t in present if t in RECREATE_TYPES]
    rolling = [t for t in present if t not in RECREATE_TYPES]
    if recreate and rolling:
        out.append(
            (
                prefix,
                "Argo Events refuses an EventSource that mixes types it deploys with a rolling "
                f"update ({', '.join(rolling)}) and types it deploys one pod at a time "
                f"({', '.join(recreate)}); herald run accepts it, but split it into two "
                "EventSources to keep it valid for Argo",
            )
        )
    return out


def event_names(spec: EventSourceSpec) -> list[str]:
    """The names of the events ``spec`` defines (unique across types), in spec order."""
    return [name for _, name, _ in spec.events()]
