"""The ``kafka`` source: records of one topic, read by partition or by consumer group.

The config is Argo's ``KafkaEventSource``. With ``consumerGroup`` the offset of a
record is committed only after the bus has its event; without it, one
``partition`` is read from the newest offset. The event id is
``<eventSource>:<event>:<topic>:<partition>:<offset>``, so a record delivered
twice deduplicates on the bus.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self, TypeAlias

import yaml
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

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
from herald.core.backoff import Backoff
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
