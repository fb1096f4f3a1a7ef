"""The EventSource spec: Argo's common fields plus one map of events per source type.

``EventSourceSpec`` follows Argo's ``EventSourceSpec`` for the six types Herald
runs today (:data:`EVENT_SOURCE_TYPES`). Argo has 32 types; a manifest that uses
one of the others (:data:`NOT_YET_SUPPORTED`) fails with "event source type
'sqs' is not supported by Herald yet" at that key, while a misspelt key keeps
pydantic's unknown-field error, with a "did you mean" when one is close.

Across all types of one EventSource, event names are unique (Argo rejects a
repeated name too, since the name is the event's ``subject`` on the bus), and
no two HTTP events share a port and endpoint (Argo would silently serve only
the first). :func:`deprecations` lists deprecated and ignored fields for the
loader to print.
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
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from eventsources.base import (
    Problem,
    SourceConfig,
    field_error,
    invalid,
    raise_problems,
    suggest_fields,
)
from eventsources.calendar import CalendarEventSource
from eventsources.github import GithubEventSource
from eventsources.kafka import KafkaEventSource
from eventsources.mqtt import MQTTEventSource
from eventsources.nats import NATSEventsSource
from eventsources.webhook import WebhookEventSource
from herald.core.model import Spec

EVENT_SOURCE_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "webhook": "webhook",
        "github": "github",
        "kafka": "kafka",
        "nats": "nats",
        "mqtt": "mqtt",
        "calendar": "calendar",
    }
)
"""The source types Herald models: spec key → the CloudEvent ``type`` on the bus (const.go)."""

MODELLED_TYPES: Final[tuple[str, ...]] = tuple(EVENT_SOURCE_TYPES)
"""The spec keys of :data:`EVENT_SOURCE_TYPES`, in spec order."""

CONFIG_MODELS: Final[Mapping[str, type[SourceConfig]]] = MappingProxyType(
    {
        "webhook": WebhookEventSource,
        "github": GithubEventSource,
        "kafka": KafkaEventSource,
        "nats": NATSEventsSource,
        "mqtt": MQTTEventSource,
        "calendar": CalendarEventSource,
    }
)
"""The config model of each modelled type."""

NOT_YET_SUPPORTED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "minio": "minio",
        "file": "file",
        "resource": "resource",
        "amqp": "amqp",
        "sns": "sns",
        "sqs": "sqs",
        "pubSub": "pubsub",
        "gitlab": "gitlab",
        "hdfs": "hdfs",
        "slack": "slack",
        "storageGrid": "storagegrid",
        "azureEventsHub": "azureEventsHub",
        "stripe": "stripe",
        "emitter": "emitter",
        "redis": "redis",
        "nsq": "nsq",
        "pulsar": "pulsar",
        "generic": "generic",
        "bitbucketserver": "bitbucketserver",
        "bitbucket": "bitbucket",
        "redisStream": "redisStream",
        "azureServiceBus": "azureServiceBus",
        "azureQueueStorage": "azureQueueStorage",
        "sftp": "sftp",
        "gerrit": "gerrit",
        "mns": "mns",
    }
)
"""Argo's other source types: spec key → bus ``type``. They are errors until modelled."""

# Unknown top-level keys with a known story.
_HINTS: Final[dict[str, str]] = {
    "type": (
        "Extra inputs are not permitted: spec.type is a field of Argo Events before v1.0; "
        "the type is now the key the events sit under (e.g. webhook:), so remove it"
    ),
}

_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

_EXAMPLE = "webhook: {example: {port: '12000', endpoint: /example, method: POST}}"


def _events_field(kind: str) -> Any:
    return Field(default=None, description=f"{kind} events, keyed by event name.")


class EventSourceSpec(Spec):
    """An EventSource's spec: where its events go and, per source type, its events."""

    event_bus_name: str = Field(
        default="default", description="Name of the EventBus the events are published to."
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description="Pod template for the EventSource's Deployment (Kubernetes only).",
    )
    service: dict[str, Any] | None = Field(
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
                    f"({', '.join(MODELLED_TYPES)}), e.g. {_EXAMPLE}",
                    kind="no_events",
                ),
                title=type(self).__name__,
            )
        raise_problems(problems, type(self).__name__)
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _known_types(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Turn Argo types Herald does not run into clear errors; hint at misspellings.

        Declared after ``_events_consistent`` on purpose: pydantic wraps model
        validators around each other in declaration order, so this one sees the
        cross-event errors too and reports them with the unsupported types.
        """
        if not isinstance(data, dict):
            return handler(data)
        supported = ", ".join(MODELLED_TYPES)
        unsupported = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unsupported_source_type",
                    f"event source type {key!r} is not supported by Herald yet "
                    f"(supported: {supported}): run it with Argo Events, or remove it",
                ),
                loc=(key,),
                input=value,
            )
            for key, value in data.items()
            if key in NOT_YET_SUPPORTED
        ]
        rest = {k: v for k, v in data.items() if k not in NOT_YET_SUPPORTED}
        try:
            result = handler(rest)
        except ValidationError as e:
            # Events of unsupported types were taken out: "no events" would mislead.
            skip = ("no_events",) if unsupported else ()
            raise suggest_fields(cls, e, extra=unsupported, hints=_HINTS, skip=skip) from None
        if unsupported:
            raise ValidationError.from_exception_data(cls.__name__, unsupported)
        return result

    def events(self) -> Iterator[tuple[str, str, SourceConfig]]:
        """Every event as (type key, event name, config), in spec order."""
        for type_key in MODELLED_TYPES:
            configs: Mapping[str, SourceConfig] | None = getattr(self, type_key)
            for name, config in (configs or {}).items():
                yield type_key, name, config


def deprecations(spec: EventSourceSpec, prefix: str = "spec") -> list[tuple[str, str]]:
    """Fields of ``spec`` that load but are deprecated or do nothing, as (path, what to do).

    Paths are in manifest spelling, e.g. ``spec.github.example.owner``; the
    loader prints them as warnings and loads the manifest anyway.
    """
    out: list[tuple[str, str]] = []
    for type_key, name, config in spec.events():
        for loc, message in config.manifest_warnings():
            path = ".".join(str(p) for p in (prefix, type_key, name, *loc))
            out.append((path, message))
    return out


def event_names(spec: EventSourceSpec) -> list[str]:
    """The names of the events ``spec`` defines (unique across types), in spec order."""
    return [name for _, name, _ in spec.events()]
