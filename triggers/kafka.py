"""The ``kafka`` trigger's spec: produce one record per firing.

Field names follow Argo Events' ``KafkaTrigger``. ``partition`` is deprecated
there and ignored (the partition follows ``partitioningKey``); Herald accepts it
and the loader warns.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from herald.core.model import Spec
from herald.core.tls import BasicAuth, SASLConfig, TLSConfig
from triggers.params import SecureHeader, TriggerParameter

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
    payload: list[TriggerParameter] = Field(
        description="Builds the JSON record value from event values (required, may be empty)."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this kafka spec before each record."
    )
    required_acks: int | None = Field(
        default=None,
        description="Broker acknowledgements to wait for: -1 all in-sync replicas, 1 the "
        "leader, 0 none (absent: all).",
    )
    compress: bool | None = Field(default=None, description="Compress records with snappy.")
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
