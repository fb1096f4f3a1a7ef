"""The ``stripe`` source config: Argo's ``StripeEventSource`` (model only).

Stripe webhook deliveries to an HTTP endpoint this source serves; with
``createWebhook`` the source registers the endpoint through the Stripe API.
Argo's type has no EventSource-level ``filter``: ``eventFilter`` lists the
Stripe event types to keep. ``herald validate`` checks what Argo checks (an API
key when the webhook is created, a complete webhook context); ``herald run``
refuses the type until it has an adapter. Its port and endpoint count with
those of every other HTTP event of the EventSource.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    Loc,
    Metadata,
    Problem,
    SourceConfig,
    field_error,
    metadata_field,
    raise_problems,
)
from eventsources.http_server import WebhookContext
from herald.core.refs import SecretKeySelector


class StripeEventSource(SourceConfig):
    """One Stripe event: where Stripe delivers and which event types count."""

    webhook: WebhookContext = Field(
        description="Where Stripe delivers: port, endpoint and the public url of this server."
    )
    create_webhook: bool | None = Field(
        default=None, description="Register the endpoint on Stripe (needs apiKey)."
    )
    api_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the Stripe API key (for createWebhook)."
    )
    event_filter: list[str] | None = Field(
        default=None,
        description="Stripe event types to keep, e.g. [charge.succeeded] (default: all).",
    )
    metadata: Metadata | None = metadata_field()

    @field_validator("event_filter")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not v.strip() for v in value):
            raise field_error("blank_name", "eventFilter must not contain an empty type")
        return value

    @model_validator(mode="after")
    def _api_key(self) -> Self:
        if self.create_webhook and self.api_key is None:
            raise_problems(
                [
                    Problem(
                        ("apiKey",),
                        "createWebhook needs apiKey (a {name, key} secret ref of the "
                        "Stripe API key)",
                        None,
                        "required",
                    )
                ],
                type(self).__name__,
            )
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """Stripe delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
