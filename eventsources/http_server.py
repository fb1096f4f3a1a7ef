"""HTTP intake shared by the webhook-style sources: the ``WebhookContext`` model.

Argo's ``WebhookContext`` says where an HTTP-push source listens (port, endpoint,
method), how it authenticates callers (a bearer token), whether it serves TLS,
and how large a body it accepts. The ``webhook`` source inlines it, ``github``
nests it under ``webhook``. All events of one process that name the same port
share one server, so the same port and endpoint twice is an error (checked on
the EventSource, which sees every event).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self, TypeAlias

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from eventsources.base import INT_OR_STRING, Metadata, Problem, field_error, invalid, metadata_field
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector

DEFAULT_MAX_PAYLOAD_SIZE = 1048576
"""Argo's default body limit: 1 MiB."""

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")

HttpMethod: TypeAlias = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]

_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


def _port(value: object) -> object:
    """Argo writes the port as a string; accept a number too, keep the canonical string."""
    if isinstance(value, bool):
        raise field_error("invalid_port", "port must be a number from 1 to 65535, e.g. '12000'")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise field_error(
                "invalid_port", f"port {value!r} is not a number: write e.g. port: '12000'"
            )
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise field_error("invalid_port", "port must be a number from 1 to 65535, e.g. '12000'")
    if not 1 <= number <= 65535:
        raise field_error("invalid_port", f"port {number} is out of range: use 1 to 65535")
    return str(number)


Port: TypeAlias = Annotated[str, BeforeValidator(_port), WithJsonSchema(INT_OR_STRING)]


def _method(value: object) -> object:
    if isinstance(value, str) and value != value.upper() and value.upper() in HTTP_METHODS:
        raise field_error(
            "invalid_method",
            f"write the method in upper case ({value.upper()!r}): it is compared "
            "exactly with the request's method",
        )
    return value


Method: TypeAlias = Annotated[HttpMethod, BeforeValidator(_method)]


def check_url(value: str | None, what: str) -> str | None:
    """An http(s) URL with a host, or a clear error naming ``what``."""
    if value is not None and not _URL.match(value):
        raise field_error(
            "invalid_url",
            f"{what} {value!r} is not an http(s) URL: write e.g. https://example.com/path",
        )
    return value


class WebhookContext(Spec):
    """Where and how an HTTP-push source listens (Argo's ``WebhookContext``)."""

    endpoint: str = Field(
        description="URL path the server answers on, starting with '/', e.g. /example."
    )
    method: Method | None = Field(
        default=None,
        description="HTTP method to accept, upper case (the webhook source: GET or POST).",
    )
    port: Port = Field(description="Port the HTTP server listens on, e.g. '12000'.")
    url: str | None = Field(
        default=None,
        description="Public URL of this server, used when registering hooks (e.g. on GitHub).",
    )
    server_cert_secret: SecretKeySelector | None = Field(
        default=None, description="PEM certificate to serve TLS with (with serverKeySecret)."
    )
    server_key_secret: SecretKeySelector | None = Field(
        default=None, description="PEM private key to serve TLS with (with serverCertSecret)."
    )
    metadata: Metadata | None = metadata_field()
    auth_secret: SecretKeySelector | None = Field(
        default=None,
        description="Bearer token callers must send as 'Authorization: Bearer <token>'.",
    )
    max_payload_size: int | None = Field(
        default=None,
        gt=0,
        description="Largest request body accepted, in bytes (default 1048576 = 1 MiB).",
    )

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        if not value.startswith("/"):
            raise field_error(
                "invalid_endpoint",
                f"endpoint {value!r} must start with '/', e.g. endpoint: /example",
            )
        if any(c.isspace() for c in value) or "?" in value or "#" in value:
            raise field_error(
                "invalid_endpoint",
                f"endpoint {value!r} must be a plain URL path (no spaces, query or fragment)",
            )
        return value

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return check_url(value, "url")

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.server_cert_secret is None) != (self.server_key_secret is None):
            missing = "serverKeySecret" if self.server_key_secret is None else "serverCertSecret"
            raise invalid(
                Problem(
                    (missing,),
                    "serving TLS needs serverCertSecret and serverKeySecret together: "
                    "set both, or neither for plain HTTP",
                    None,
                ),
                title=type(self).__name__,
            )
        return self

    @property
    def max_payload_size_bytes(self) -> int:
        """The body limit in bytes, Argo's default when unset."""
        return self.max_payload_size or DEFAULT_MAX_PAYLOAD_SIZE

    @property
    def port_number(self) -> int:
        """The port as a number."""
        return int(self.port)

    @property
    def serves_tls(self) -> bool:
        """Whether the server for this context answers over HTTPS."""
        return self.server_cert_secret is not None and self.server_key_secret is not None

    def route_key(self) -> tuple[str, str]:
        """What must be unique among the events of one process: (port, endpoint)."""
        return (self.port, self.endpoint)
