"""The ``pulsar`` trigger config: Argo's ``PulsarTrigger`` (model only).

Produces a message, built from the events that fired the trigger, on an
Apache Pulsar topic. ``herald validate`` checks the URL, topic and payload and
what Argo's client would refuse or silently override: at most one
authentication (``authTokenSecret``, ``authAthenzParams`` or ``tls``, which
is client-certificate authentication and needs ``clientCertSecret`` with
``clientKeySecret``). ``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from herald.core.backoff import Backoff
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig
from triggers.params import PayloadParameter, TriggerParameter


class PulsarTrigger(Spec):
    """Produce a message built from the events on a Pulsar topic."""

    url: str = Field(min_length=1, description="Service URL, e.g. pulsar://pulsar:6650.")
    topic: str = Field(min_length=1, description="Topic to produce to.")
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this pulsar spec before each message."
    )
    payload: list[PayloadParameter] = Field(
        description="Builds the JSON message from event values (required, may be empty); an "
        "entry with an empty dest supplies the whole message."
    )
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
    auth_token_secret: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a token to authenticate with."
    )
    connection_backoff: Backoff | None = Field(
        default=None, description="Retry timing for connecting to the broker."
    )
    auth_athenz_params: dict[str, str] | None = Field(
        default=None, description="Athenz authentication parameters."
    )
    auth_athenz_secret: SecretKeySelector | None = Field(
        default=None, description="Athenz private key (becomes the privateKey parameter)."
    )

    @model_validator(mode="after")
    def _authentication(self) -> PulsarTrigger:
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
            raise ValueError(
                f"set one authentication, not {' and '.join(chosen)} "
                f"(Argo would silently use {chosen[-1]})"
            )
        tls = self.tls
        if tls is not None and (tls.client_cert_secret is None or tls.client_key_secret is None):
            raise ValueError(
                "tls authenticates with a client certificate: set tls.clientCertSecret and "
                "tls.clientKeySecret (trust a CA with tlsTrustCertsSecret)"
            )
        return self
