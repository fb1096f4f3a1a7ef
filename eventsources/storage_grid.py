"""The ``storageGrid`` source config: Argo's ``StorageGridEventSource`` (model only).

NetApp StorageGRID bucket notifications, delivered to an HTTP endpoint this
source serves (it registers the notification through the StorageGRID API).
Argo's ``filter`` here is an object key prefix and suffix, not the
EventSource-level expression; its Python attribute is ``key_filter``
(manifests still write ``filter:``) so that the loader's expression checks pass
it by. ``herald validate`` checks what Argo checks (topic ARN, bucket, API URL,
auth token and events set, a complete webhook context) and a complete TLS
block; ``herald run`` refuses the type until it has an adapter. Its port and
endpoint count with those of every other HTTP event of the EventSource.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    Loc,
    Metadata,
    SourceConfig,
    field_error,
    metadata_field,
    raise_problems,
    tls_problems,
)
from eventsources.http_server import WebhookContext, check_url
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class StorageGridFilter(Spec):
    """Only objects whose key starts with prefix and ends with suffix."""

    prefix: str | None = Field(default=None, description="Object key prefix, e.g. images/.")
    suffix: str | None = Field(default=None, description="Object key suffix, e.g. .png.")


class StorageGridEventSource(SourceConfig):
    """One StorageGRID event: bucket, notification types, and where they are delivered."""

    webhook: WebhookContext = Field(
        description="Where StorageGRID delivers: port, endpoint and the public url."
    )
    events: list[str] = Field(
        min_length=1,
        description="S3 notification types to register, e.g. [s3:ObjectCreated:*].",
    )
    key_filter: StorageGridFilter | None = Field(
        default=None, alias="filter", description="Only objects with this key prefix and suffix."
    )
    topic_arn: str = Field(min_length=1, description="ARN of the StorageGRID endpoint topic.")
    bucket: str = Field(min_length=1, description="Bucket to register the notification on.")
    region: str | None = Field(default=None, description="S3 region (default us-east-1).")
    auth_token: SecretKeySelector = Field(description="Secret key holding the API auth token.")
    api_url: str = Field(
        alias="apiURL", description="StorageGRID API URL, e.g. https://grid.example.com/api/v3."
    )
    metadata: Metadata | None = metadata_field()
    tls: TLSConfig | None = Field(default=None, description="TLS to the StorageGRID API.")

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if any(not e.strip() for e in value):
            raise field_error("blank_name", "events must not contain an empty name")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        check_url(value, "apiURL")
        return value

    @model_validator(mode="after")
    def _tls(self) -> Self:
        raise_problems(tls_problems(self.tls), type(self).__name__)
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """StorageGRID delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
