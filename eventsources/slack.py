"""The ``slack`` source config: Argo's ``SlackEventSource`` (model only).

Slack Events API and interaction deliveries to an HTTP endpoint this source
serves. ``herald validate`` checks what Argo checks (the signing secret and the
verification token set, a complete webhook context); ``herald run`` refuses the
type until it has an adapter. Its port and endpoint count with those of every
other HTTP event of the EventSource.
"""

from __future__ import annotations

from pydantic import Field

from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    SourceConfig,
    filter_field,
    metadata_field,
)
from eventsources.http_server import WebhookContext
from herald.core.refs import SecretKeySelector


class SlackEventSource(SourceConfig):
    """One Slack event: where Slack delivers and how deliveries are verified."""

    signing_secret: SecretKeySelector = Field(
        description="The Slack app's signing secret; requests must be signed with it."
    )
    token: SecretKeySelector = Field(
        description="Verification token answered in Slack's URL verification handshake."
    )
    webhook: WebhookContext = Field(
        description="Where Slack delivers: port, endpoint (and TLS) of this server."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """Slack delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
