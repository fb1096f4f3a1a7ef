"""The ``emitter`` source config: Argo's ``EmitterEventSource`` (model only).

Messages of a channel of an Emitter (emitter.io) broker. ``herald validate``
checks what Argo checks (broker, channel name and channel key set, a complete
TLS block) and that a user name comes with its password; ``herald run``
refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from herald.core.backoff import Backoff
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class EmitterEventSource(SourceConfig):
    """One Emitter event: broker, channel and its key."""

    broker: str = Field(min_length=1, description="Broker URI, e.g. tcp://emitter:4000.")
    channel_key: str = Field(min_length=1, description="Key of the channel.")
    channel_name: str = Field(min_length=1, description="Channel to subscribe to.")
    username: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the user name (with password)."
    )
    password: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the password (with username)."
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the broker."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the broker.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            problems.append(
                Problem((missing,), "set username and password together", None, "required")
            )
        raise_problems(problems, type(self).__name__)
        return self
