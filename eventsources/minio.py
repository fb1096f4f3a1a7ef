"""The ``minio`` source config: Argo's ``S3Artifact`` used as an event source (model only).

Bucket notifications from a MinIO (or other S3-compatible) server. Argo's
``S3Artifact`` has its own ``filter`` (an object key prefix and suffix) instead
of the EventSource-level expression filter, so its Python attribute is
``key_filter`` (manifests still write ``filter:``) and the loader's expression
checks, which look for a ``filter`` attribute, pass it by. ``herald validate``
checks what Argo checks: endpoint, bucket name and both keys set, no empty
event name; ``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from eventsources.base import Metadata, SourceConfig, field_error, metadata_field
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector


class S3Bucket(Spec):
    """A bucket, and optionally one object key in it."""

    key: str | None = Field(default=None, description="Object key (unused by the event source).")
    name: str = Field(min_length=1, description="Bucket name.")


class S3Filter(Spec):
    """Only objects whose key starts with prefix and ends with suffix."""

    prefix: str | None = Field(default=None, description="Object key prefix, e.g. images/.")
    suffix: str | None = Field(default=None, description="Object key suffix, e.g. .png.")


class MinioEventSource(SourceConfig):
    """One MinIO bucket notification (Argo's ``S3Artifact``)."""

    endpoint: str = Field(min_length=1, description="Server address as host:port, e.g. minio:9000.")
    bucket: S3Bucket = Field(description="Bucket to get notifications of.")
    region: str | None = Field(default=None, description="Region of the bucket.")
    insecure: bool | None = Field(default=None, description="Connect over plain HTTP.")
    access_key: SecretKeySelector = Field(description="Secret key holding the access key.")
    secret_key: SecretKeySelector = Field(description="Secret key holding the secret key.")
    events: list[str] | None = Field(
        default=None,
        description="Notification types, e.g. [s3:ObjectCreated:Put, s3:ObjectRemoved:Delete].",
    )
    key_filter: S3Filter | None = Field(
        default=None, alias="filter", description="Only objects with this key prefix and suffix."
    )
    metadata: Metadata | None = metadata_field()
    ca_certificate: SecretKeySelector | None = Field(
        default=None, description="CA certificate to verify the server with."
    )

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not e.strip() for e in value):
            raise field_error(
                "blank_name", "events must not contain an empty name, e.g. s3:ObjectCreated:Put"
            )
        return value
