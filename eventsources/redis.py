"""The ``redis`` source config: Argo's ``RedisEventSource`` (model only).

Messages published on Redis Pub/Sub channels. ``herald validate`` checks what
Argo checks (host address and channels set, a complete TLS block). Argo also
refuses a ``password`` without ``namespace`` (the namespace it once read the
secret from); Herald reads secrets from its secrets directory and ignores
``namespace``, so that is a warning here, saying Argo would refuse it.
``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Note,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class RedisEventSource(SourceConfig):
    """One Redis Pub/Sub event: server, database and channels."""

    host_address: str = Field(min_length=1, description="Server address, e.g. redis:6379.")
    password: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the password."
    )
    namespace: str | None = Field(
        default=None,
        description="Namespace of the password secret (Argo requires it with password; "
        "Herald ignores it).",
    )
    db: int | None = Field(default=None, ge=0, description="Database number (default 0).")
    channels: list[str] = Field(
        min_length=1, description="Channels (or patterns) to subscribe to, e.g. [orders]."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else a string).",
    )
    username: str | None = Field(default=None, description="User name for Redis ACLs.")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        if any(not c.strip() for c in value):
            raise field_error("blank_name", "channels must not contain an empty name")
        return value

    @model_validator(mode="after")
    def _tls(self) -> Self:
        raise_problems(tls_problems(self.tls), type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """Argo refuses a password without a namespace; Herald does not need one."""
        if self.password is not None and not self.namespace:
            return [
                (
                    ("namespace",),
                    "Argo Events refuses password without namespace (Herald does not need it): "
                    "set namespace to keep the manifest valid for Argo",
                )
            ]
        return []
