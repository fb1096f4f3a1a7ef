"""The ``custom`` trigger config: Argo's ``CustomTrigger`` (model only).

A user's gRPC server that implements Argo's trigger service
(``FetchResource``, ``Execute``, ``ApplyPolicy``) and is handed ``spec`` as it
is. ``herald validate`` checks what Argo checks (server URL and spec set, a
certificate when the connection is secure); ``herald run`` refuses the type
until it has an adapter. Argo leaves ``payload`` unchecked for this type, so it
is optional here too.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import PayloadParameter, TriggerParameter


class CustomTrigger(Spec):
    """Hand a spec to a user's gRPC trigger server, which does the work."""

    server_url: str = Field(
        min_length=1, alias="serverURL", description="gRPC server address, e.g. my-trigger:9000."
    )
    secure: bool = Field(
        default=False, description="Connect over TLS (needs certSecret); default plain."
    )
    cert_secret: SecretKeySelector | None = Field(
        default=None, description="Certificate to trust for the TLS connection."
    )
    server_name_override: str | None = Field(
        default=None, description="Server name to expect in the server's certificate."
    )
    spec: dict[str, str] = Field(
        description="What the server should do: string keys and values it interprets."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to the resource the server fetched, before it runs."
    )
    payload: list[PayloadParameter] | None = Field(
        default=None, description="Builds a JSON payload from event values for the server."
    )

    @model_validator(mode="after")
    def _certificate(self) -> CustomTrigger:
        if self.secure and self.cert_secret is None:
            raise ValueError(
                "secure: true needs certSecret (the certificate to trust): set it, or remove secure"
            )
        return self
