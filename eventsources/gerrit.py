"""The ``gerrit`` source config: Argo's ``GerritEventSource`` (model only).

Gerrit webhook deliveries for projects; with ``webhook.url`` the source
registers a hook named ``hookName`` on each project through the Gerrit API.
``herald validate`` checks what Argo checks (projects, events, the Gerrit base
URL and credentials set, a complete webhook context) and that a hook to
register has a name; ``herald run`` refuses the type until it has an adapter.
Its port and endpoint count with those of every other HTTP event of the
EventSource.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    Problem,
    SourceConfig,
    basic_auth_problems,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
)
from eventsources.http_server import WebhookContext, check_url
from herald.core.tls import BasicAuth


class GerritEventSource(SourceConfig):
    """One Gerrit event: which projects, which events, and credentials."""

    webhook: WebhookContext = Field(
        description="Where Gerrit delivers: port, endpoint and the public url of this server."
    )
    hook_name: str | None = Field(
        default=None, description="Name of the hook registered on each project."
    )
    events: list[str] = Field(
        min_length=1, description="Gerrit events to subscribe to, e.g. [patchset-created]."
    )
    auth: BasicAuth = Field(description="User name and HTTP password for the Gerrit API.")
    gerrit_base_url: str = Field(
        alias="gerritBaseURL", description="Gerrit URL, e.g. https://gerrit.example.com."
    )
    delete_hook_on_finish: bool | None = Field(
        default=None, description="Delete the registered hooks when the EventSource stops."
    )
    metadata: Metadata | None = metadata_field()
    projects: list[str] = Field(min_length=1, description="Projects to hook, e.g. [argo/webhook].")
    ssl_verify: bool | None = Field(
        default=None, description="Let Gerrit verify this server's TLS certificate."
    )
    filter: EventSourceFilter | None = filter_field()
    max_tries: int | None = Field(
        default=None, ge=0, description="Attempts Gerrit makes to deliver one event."
    )

    @field_validator("events", "projects")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise field_error("blank_name", "the list must not contain an empty entry")
        return value

    @field_validator("gerrit_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        check_url(value, "gerritBaseURL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = basic_auth_problems(self.auth, ("auth",))
        if self.webhook.url and not self.hook_name:
            problems.append(
                Problem(
                    ("hookName",),
                    "hookName is required to register the hook (webhook.url is set)",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """Gerrit delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
