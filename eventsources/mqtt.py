"""The ``mqtt`` source: messages on an MQTT topic.

The config is Argo's ``MQTTEventSource``, which subscribes with QoS 0 (at most
once). Two Herald extensions go beyond Argo: ``qos: 1`` subscribes at least
once (the PUBACK is sent only after the bus has the event), and
``cleanSession: false`` keeps the broker-side session, so that QoS 1 messages
published while the source is down are delivered when it reconnects.
"""

from __future__ import annotations

import re
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
from herald.core.tls import BasicAuth, TLSConfig

MQTT_SCHEMES = ("tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss")
_URL = re.compile(r"^(?P<scheme>[a-z]+)://[^\s/]+")


class MQTTEventSource(SourceConfig):
    """One MQTT event: broker, topic and client identity."""

    url: str = Field(min_length=1, description="Broker URL, e.g. tcp://mosquitto:1883.")
    topic: str = Field(min_length=1, description="Topic filter to subscribe to (+ and # allowed).")
    client_id: str = Field(min_length=1, description="MQTT client id; unique per broker.")
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the broker."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    tls: TLSConfig | None = Field(default=None, description="TLS to the broker.")
    auth: BasicAuth | None = Field(default=None, description="Username and password secrets.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    qos: Literal[0, 1] = Field(
        default=0,
        description=(
            "Herald extension, not in Argo: subscription QoS. 0 (Argo's, at most once) "
            "or 1 (at least once: acknowledged after the bus has the event)."
        ),
    )
    clean_session: bool | None = Field(
        default=None,
        description=(
            "Herald extension, not in Argo: false keeps the broker session across "
            "reconnects so QoS 1 messages sent meanwhile arrive (default true)."
        ),
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        match = _URL.match(value)
        if match is None or match["scheme"] not in MQTT_SCHEMES:
            raise field_error(
                "invalid_url",
                f"url {value!r} is not a broker URL: write e.g. tcp://mosquitto:1883 "
                f"(schemes: {', '.join(MQTT_SCHEMES)})",
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        problems += basic_auth_problems(self.auth, ("auth",))
        raise_problems(problems, type(self).__name__)
        return self
