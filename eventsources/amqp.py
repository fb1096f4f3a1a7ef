"""The ``amqp`` source config: Argo's ``AMQPEventSource`` (model only).

Messages from a RabbitMQ (AMQP 0-9-1) exchange, through a queue bound with a
routing key. ``herald validate`` checks what Argo checks (exactly one of
``url`` and ``urlSecret``, an exchange type and a routing key, complete TLS
and basic auth) plus what RabbitMQ would refuse at start (an exchange name, a
known exchange type or a plugin's ``x-`` type, queue arguments that are a YAML
mapping); ``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Final, Self

import yaml
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
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import BasicAuth, TLSConfig

EXCHANGE_TYPES: Final[tuple[str, ...]] = ("direct", "fanout", "topic", "headers")


class AMQPExchangeDeclareConfig(Spec):
    """How the exchange is declared on the server."""

    durable: bool | None = Field(default=None, description="Keep the exchange across restarts.")
    auto_delete: bool | None = Field(
        default=None, description="Delete the exchange when no queue is bound to it."
    )
    internal: bool | None = Field(
        default=None, description="Accept no publishings from clients (exchange-to-exchange only)."
    )
    no_wait: bool | None = Field(
        default=None, description="Do not wait for the server to confirm the declaration."
    )


class AMQPQueueDeclareConfig(Spec):
    """How the queue that holds the messages is declared."""

    name: str | None = Field(
        default=None, description="Queue name (empty: the server makes up a unique one)."
    )
    durable: bool | None = Field(default=None, description="Keep the queue across restarts.")
    auto_delete: bool | None = Field(
        default=None, description="Delete the queue when its last consumer goes."
    )
    exclusive: bool | None = Field(
        default=None, description="Only this connection may use the queue; deleted with it."
    )
    no_wait: bool | None = Field(
        default=None, description="Do not wait for the server to confirm the declaration."
    )
    arguments: str | None = Field(
        default=None,
        description="Queue x-arguments as a YAML mapping, e.g. 'x-queue-type: quorum'.",
    )

    @field_validator("arguments")
    @classmethod
    def _mapping(cls, value: str | None) -> str | None:
        if not value:
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise field_error("invalid_yaml", f"arguments is not valid YAML: {e}") from None
        if parsed is not None and not isinstance(parsed, dict):
            raise field_error(
                "invalid_yaml", "arguments must be a YAML mapping, e.g. 'x-queue-type: quorum'"
            )
        return value


class AMQPQueueBindConfig(Spec):
    """How the queue is bound to the exchange."""

    no_wait: bool | None = Field(
        default=None, description="Do not wait for the server to confirm the binding."
    )


class AMQPConsumeConfig(Spec):
    """How messages are consumed from the queue."""

    consumer_tag: str | None = Field(
        default=None, description="Consumer identity sent with every delivery."
    )
    auto_ack: bool | None = Field(
        default=None,
        description="The server counts a message as delivered once sent (at most once).",
    )
    exclusive: bool | None = Field(default=None, description="Be the only consumer of the queue.")
    no_local: bool | None = Field(default=None, description="Not supported by RabbitMQ.")
    no_wait: bool | None = Field(
        default=None, description="Do not wait for the server to confirm the consumer."
    )


class AMQPEventSource(SourceConfig):
    """One AMQP event: server, exchange, routing key, and how the queue is set up."""

    url: str | None = Field(
        default=None, description="Server URL, e.g. amqp://rabbitmq:5672 (or urlSecret)."
    )
    exchange_name: str = Field(min_length=1, description="Exchange to bind the queue to.")
    exchange_type: str = Field(
        description="Exchange type: direct, fanout, topic, headers, or a plugin's x- type."
    )
    routing_key: str = Field(min_length=1, description="Routing key of the binding.")
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the server."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the server.")
    metadata: Metadata | None = metadata_field()
    exchange_declare: AMQPExchangeDeclareConfig | None = Field(
        default=None, description="How the exchange is declared."
    )
    queue_declare: AMQPQueueDeclareConfig | None = Field(
        default=None, description="How the queue is declared."
    )
    queue_bind: AMQPQueueBindConfig | None = Field(
        default=None, description="How the queue is bound."
    )
    consume: AMQPConsumeConfig | None = Field(
        default=None, description="How messages are consumed."
    )
    auth: BasicAuth | None = Field(default=None, description="User name and password.")
    url_secret: SecretKeySelector | None = Field(
        default=None, description="Server URL read from a secret (instead of url)."
    )
    filter: EventSourceFilter | None = filter_field()

    @field_validator("exchange_type")
    @classmethod
    def _exchange_type(cls, value: str) -> str:
        if value not in EXCHANGE_TYPES and not value.startswith("x-"):
            raise field_error(
                "invalid_exchange_type",
                f"exchangeType {value!r} is not an AMQP exchange type: use one of "
                + ", ".join(EXCHANGE_TYPES)
                + " (or a plugin's x- type)",
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        if not self.url and self.url_secret is None:
            problems.append(
                Problem(("url",), "set url (or urlSecret, to keep credentials in it)", None)
            )
        elif self.url and self.url_secret is not None:
            problems.append(
                Problem(("urlSecret",), "set url or urlSecret, not both", None, "one_of")
            )
        problems += tls_problems(self.tls)
        problems += basic_auth_problems(self.auth, ("auth",))
        raise_problems(problems, type(self).__name__)
        return self
