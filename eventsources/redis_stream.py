"""The ``redisStream`` source config: Argo's ``RedisStreamEventSource`` (model only).

Entries of Redis streams, read through a consumer group. ``herald validate``
checks what Argo checks (host address and streams set, a complete TLS block);
``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class RedisStreamEventSource(SourceConfig):
    """One Redis streams event: server, database, streams and consumer group."""

    host_address: str = Field(min_length=1, description="Server (master) address, e.g. redis:6379.")
    password: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the password."
    )
    db: int | None = Field(default=None, ge=0, description="Database number (default 0).")
    streams: list[str] = Field(min_length=1, description="Streams to read, e.g. [orders].")
    max_msg_count_per_read: int | None = Field(
        default=None, ge=1, description="Entries read per stream and call (default 10)."
    )
    consumer_group: str | None = Field(
        default=None, description="Consumer group created on every stream (argo-events-cg)."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    username: str | None = Field(default=None, description="User name for Redis ACLs.")

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: list[str]) -> list[str]:
        if any(not s.strip() for s in value):
            raise field_error("blank_name", "streams must not contain an empty name")
        return value

    @model_validator(mode="after")
    def _tls(self) -> Self:
        raise_problems(tls_problems(self.tls), type(self).__name__)
        return self
