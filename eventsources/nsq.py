"""The ``nsq`` source config: Argo's ``NSQEventSource`` (model only).

Messages of an NSQ topic, read on a channel found through nsqlookupd.
``herald validate`` checks what Argo checks (lookup address, topic and channel
set, a complete TLS block); ``herald run`` refuses the type until it has an
adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from herald.core.backoff import Backoff
from herald.core.tls import TLSConfig


class NSQEventSource(SourceConfig):
    """One NSQ event: lookup address, topic and channel."""

    host_address: str = Field(
        min_length=1, description="nsqlookupd HTTP address, e.g. nsqlookupd:4161."
    )
    topic: str = Field(min_length=1, description="Topic to read.")
    channel: str = Field(min_length=1, description="Channel to read the topic on.")
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to nsqd.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _tls(self) -> Self:
        raise_problems(tls_problems(self.tls), type(self).__name__)
        return self
