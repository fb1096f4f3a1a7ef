"""The ``nats`` source: messages on a NATS subject, optionally through JetStream.

The config is Argo's ``NATSEventsSource`` (core NATS: a plain or queue-group
subscription, so messages published while the source is down are lost), plus
one Herald extension beyond Argo, ``jetStream``: read the subject through a
durable JetStream consumer instead, acknowledging each message only after the
bus has its event, so nothing is lost across restarts (the request of
argo-events #3142 and #3160). The event id of a JetStream message is
``<eventSource>:<event>:<stream>:<sequence>``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    basic_auth_problems,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from herald.core.backoff import Backoff
from herald.core.durations import parse_go_duration
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import BasicAuth, TLSConfig

DEFAULT_ACK_WAIT = "30s"


class NATSAuth(Spec):
    """How to authenticate to NATS: exactly one of basic, token, nkey or credential."""

    basic: BasicAuth | None = Field(default=None, description="Username and password.")
    token: SecretKeySelector | None = Field(default=None, description="Token.")
    nkey: SecretKeySelector | None = Field(default=None, description="NKey seed.")
    credential: SecretKeySelector | None = Field(
        default=None, description="Credentials (.creds) file content."
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        chosen = [
            name
            for name, value in (
                ("basic", self.basic),
                ("token", self.token),
                ("nkey", self.nkey),
                ("credential", self.credential),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            found = "none" if not chosen else " and ".join(chosen)
            raise field_error(
                "one_of",
                f"auth takes exactly one of basic, token, nkey or credential (found {found})",
            )
        raise_problems(basic_auth_problems(self.basic, ("basic",)), type(self).__name__)
        return self


class NATSJetStream(Spec):
    """Herald extension (beyond Argo): consume the subject through a durable JetStream consumer."""

    stream: str | None = Field(
        default=None,
        min_length=1,
        description="Stream that holds the subject (default: the stream whose subjects match).",
    )
    durable: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Durable consumer name; its position survives restarts "
            "(default: derived from the EventSource and event names)."
        ),
    )
    deliver_policy: Literal["all", "new"] | None = Field(
        default=None,
        description=(
            "Where a new consumer starts: all (the stream's first message) "
            "or new (default: only messages published from now on)."
        ),
    )
    ack_wait: str | None = Field(
        default=None,
        description="How long a delivered message waits for its ack before redelivery (30s).",
    )

    @field_validator("durable")
    @classmethod
    def _durable_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in ".*> \t"):
            raise field_error(
                "invalid_name",
                f"durable {value!r} must not contain '.', '*', '>' or whitespace",
            )
        return value

    @field_validator("ack_wait")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                seconds = parse_go_duration(value)
            except ValueError as e:
                raise field_error("invalid_duration", str(e)) from None
            if seconds <= 0:
                raise field_error("invalid_duration", "ackWait must be longer than zero, e.g. 30s")
        return value

    @property
    def ack_wait_seconds(self) -> float:
        """The ack wait in seconds (30 when unset)."""
        return parse_go_duration(self.ack_wait or DEFAULT_ACK_WAIT)


class NATSEventsSource(SourceConfig):
    """One NATS event: server, subject and how to subscribe."""

    url: str = Field(min_length=1, description="NATS server URL, e.g. nats://nats:4222.")
    subject: str = Field(min_length=1, description="Subject to subscribe to (wildcards allowed).")
    queue: str | None = Field(
        default=None,
        description="Queue group: replicas share the messages instead of each getting all.",
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the server."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")
    auth: NATSAuth | None = Field(default=None, description="Authentication to the server.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    jet_stream: NATSJetStream | None = Field(
        default=None,
        description=(
            "Herald extension, not in Argo: consume through a durable JetStream consumer, "
            "acknowledging after the bus has the event (at-least-once)."
        ),
    )

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise field_error(
                "blank_name", "queue must not be empty: name the group or remove queue"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        if self.jet_stream is not None and self.queue is not None:
            problems.append(
                Problem(
                    ("queue",),
                    "queue does not apply with jetStream: replicas share the durable "
                    "consumer instead; remove queue",
                    self.queue,
                )
            )
        raise_problems(problems, type(self).__name__)
        return self
