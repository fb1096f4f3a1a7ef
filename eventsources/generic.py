"""The ``generic`` source config: Argo's ``GenericEventSource`` (model only).

Events streamed by a user's gRPC server that implements Argo's generic
event source service (``StartEventSource``), which receives ``config`` as it
is. ``herald validate`` checks what Argo checks (server URL and config set);
``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    SourceConfig,
    filter_field,
    metadata_field,
)
from herald.core.refs import SecretKeySelector


class GenericEventSource(SourceConfig):
    """One generic event: the gRPC server and the config handed to it."""

    url: str = Field(min_length=1, description="gRPC server address, e.g. my-source:8080.")
    config: str = Field(
        min_length=1, description="Configuration passed to the server as it is (often YAML)."
    )
    insecure: bool | None = Field(default=None, description="Connect without TLS.")
    json_body: bool | None = Field(
        default=None,
        description="Event payloads are JSON and go into the event as JSON (else base64).",
    )
    metadata: Metadata | None = metadata_field()
    auth_secret: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a bearer token sent to the server."
    )
    filter: EventSourceFilter | None = filter_field()
