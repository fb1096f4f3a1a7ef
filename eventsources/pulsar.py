"""The ``pulsar`` source config: Argo's ``PulsarEventSource`` (model only).

Messages of Apache Pulsar topics, read through an exclusive or shared
subscription. ``herald validate`` checks what Argo checks (topics and URL set,
``type`` exclusive or shared: Argo refuses an empty one although its docs say
it defaults to exclusive) and what Argo's client would refuse or silently
override: at most one authentication (``authTokenSecret``,
``authAthenzParams`` or ``tls``, which is client-certificate authentication and
needs ``clientCertSecret`` with ``clientKeySecret``). ``herald run`` refuses the
type until it has an adapter.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
)
from herald.core.backoff import Backoff
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class PulsarEventSource(SourceConfig):
    """One Pulsar event: service URL, topics, subscription type and authentication."""

    topics: list[str] = Field(min_length=1, description="Topics to subscribe to.")
    type: Literal["exclusive", "shared"] = Field(
        description="Subscription type: exclusive (one reader) or shared (replicas share)."
    )
    url: str = Field(min_length=1, description="Service URL, e.g. pulsar://pulsar:6650.")
    tls_trust_certs_secret: SecretKeySelector | None = Field(
        default=None, description="CA certificates to trust for pulsar+ssl:// URLs."
    )
    tls_allow_insecure_connection: bool | None = Field(
        default=None, description="Accept a broker certificate that is not trusted."
    )
    tls_validate_hostname: bool | None = Field(
        default=None, description="Check the broker certificate's host name."
    )
    tls: TLSConfig | None = Field(
        default=None,
        description="TLS client-certificate authentication (clientCertSecret and clientKeySecret).",
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the broker."
    )
    json_body: bool | None = Field(
        default=None,
        description="Message payloads are JSON and go into the event as JSON (else base64).",
    )
    metadata: Metadata | None = metadata_field()
    auth_token_secret: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a token to authenticate with."
    )
    filter: EventSourceFilter | None = filter_field()
    auth_athenz_params: dict[str, str] | None = Field(
        default=None, description="Athenz authentication parameters."
    )
    auth_athenz_secret: SecretKeySelector | None = Field(
        default=None, description="Athenz private key (becomes the privateKey parameter)."
    )

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise field_error("blank_name", "topics must not contain an empty name")
        return value

    @model_validator(mode="after")
    def _authentication(self) -> Self:
        problems: list[Problem] = []
        chosen = [
            name
            for name, value in (
                ("authTokenSecret", self.auth_token_secret),
                ("authAthenzParams", self.auth_athenz_params or None),
                ("tls", self.tls),
            )
            if value is not None
        ]
        if len(chosen) > 1:
            problems.append(
                Problem(
                    (chosen[-1],),
                    f"set one authentication, not {' and '.join(chosen)} (Argo would silently "
                    f"use {chosen[-1]})",
                    None,
                    "one_of",
                )
            )
        tls = self.tls
        if tls is not None and (tls.client_cert_secret is None or tls.client_key_secret is None):
            missing = "clientCertSecret" if tls.client_cert_secret is None else "clientKeySecret"
            problems.append(
                Problem(
                    ("tls", missing),
                    "tls authenticates with a client certificate: set clientCertSecret and "
                    "clientKeySecret (trust a CA with tlsTrustCertsSecret)",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """An Athenz key without Athenz parameters is not used."""
        if self.auth_athenz_secret is not None and not self.auth_athenz_params:
            return [
                (
                    ("authAthenzSecret",),
                    "ignored without authAthenzParams (as in Argo): set them, or remove it",
                )
            ]
        return []
