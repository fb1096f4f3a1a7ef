"""The ``nats`` trigger's spec: publish one message per firing.

Field names follow Argo Events' ``NATSTrigger`` (a core NATS publish). Herald
adds ``jetStream``: publish to a JetStream stream and wait for its ack, so a
firing only succeeds once the message is stored. That field is Herald's own;
Argo Events does not have it.
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import BasicAuth, TLSConfig
from triggers.params import TriggerParameter


class NATSAuth(Spec):
    """How to authenticate to the NATS server (at most one method is used)."""

    basic: BasicAuth | None = Field(default=None, description="Username and password.")
    token: SecretKeySelector | None = Field(default=None, description="Secret with a token.")
    nkey: SecretKeySelector | None = Field(default=None, description="Secret with an NKey seed.")
    credential: SecretKeySelector | None = Field(
        default=None, description="Secret with a .creds file (JWT and seed)."
    )


class NATSTrigger(Spec):
    """Publish a message built from the events to a NATS subject."""

    url: str = Field(min_length=1, description="NATS server URL, e.g. nats://nats:4222.")
    subject: str = Field(min_length=1, description="Subject to publish to.")
    payload: list[TriggerParameter] = Field(
        description="Builds the JSON message from event values (required, may be empty)."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this nats spec before each message."
    )
    tls: TLSConfig | None = Field(default=None, description="Client TLS settings.")
    auth: NATSAuth | None = Field(default=None, description="Authentication.")
    jet_stream: bool = Field(
        default=False,
        description="Herald extension (not in Argo Events): publish with JetStream and wait "
        "for the stream's ack, so the firing fails if no stream stores the message.",
    )
