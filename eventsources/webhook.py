"""The generic ``webhook`` source: any HTTP client posts JSON (or sends a GET query).

Its config is Argo's ``WebhookEventSource``: the :class:`WebhookContext` fields
inline, plus the EventSource-level ``filter``. Argo's webhook reads the body of a
POST and the query of a GET and answers 400 to any other method, so only those
two methods are accepted here.
"""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from eventsources.base import EventSourceFilter, Loc, Problem, SourceConfig, filter_field, invalid
from eventsources.http_server import WebhookContext

WEBHOOK_METHODS = ("GET", "POST")


class WebhookEventSource(WebhookContext, SourceConfig):
    """One generic webhook event: where it listens, and an optional filter."""

    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _readable_method(self) -> Self:
        if self.method not in WEBHOOK_METHODS:
            found = "no method" if self.method is None else f"method {self.method}"
            raise invalid(
                Problem(
                    ("method",),
                    f"the webhook source reads a POST body or a GET query, and {found} "
                    "would answer every request with 400: set method: POST (or GET)",
                    self.method,
                ),
                title=type(self).__name__,
            )
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """The webhook context is this config itself."""
        return ((), self)
