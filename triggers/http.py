"""The ``http`` trigger's spec: send one HTTP request per firing.

Field names follow Argo Events' ``HTTPTrigger``. Herald differs in behaviour,
not in shape: any non-2xx answer is a failure unless ``policy.status.allow``
lists the accepted codes (see DESIGN.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from herald.core.model import Spec
from herald.core.tls import BasicAuth, TLSConfig
from triggers.params import PayloadParameter, SecureHeader, TriggerParameter

HTTPMethod = Literal["GET", "DELETE", "PATCH", "POST", "PUT", ""]

DEFAULT_TIMEOUT_SECONDS = 60


class HTTPTrigger(Spec):
    """Send an HTTP request built from the events that fired the trigger."""

    url: str = Field(min_length=1, description="URL to send the request to.")
    method: HTTPMethod = Field(
        default="POST",
        description="HTTP method: GET, DELETE, PATCH, POST or PUT (empty means POST).",
    )
    payload: list[PayloadParameter] | None = Field(
        default=None,
        description="Builds the JSON body from event values; an entry with an empty dest "
        "supplies the whole body.",
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None,
        description="Applied to this http spec (e.g. dest ``url``) before each request.",
    )
    headers: dict[str, str] | None = Field(default=None, description="Fixed request headers.")
    secure_headers: list[SecureHeader] | None = Field(
        default=None, description="Headers whose values are read from Secrets or ConfigMaps."
    )
    dynamic_headers: list[TriggerParameter] | None = Field(
        default=None, description="Headers taken from the events; dest is the header name."
    )
    basic_auth: BasicAuth | None = Field(default=None, description="HTTP basic authentication.")
    tls: TLSConfig | None = Field(default=None, description="Client TLS settings.")
    timeout: int = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        ge=0,
        description="Request timeout in seconds (0 means the default, 60).",
    )
    host: str | None = Field(
        default=None, description="Host header to send (virtual hosting), when not the URL's host."
    )

    @field_validator("method")
    @classmethod
    def _empty_is_post(cls, value: HTTPMethod) -> HTTPMethod:
        return value or "POST"

    @field_validator("timeout")
    @classmethod
    def _zero_is_default(cls, value: int) -> int:
        return value or DEFAULT_TIMEOUT_SECONDS
