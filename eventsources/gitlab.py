"""The ``gitlab`` source config: Argo's ``GitlabEventSource`` (model only).

GitLab webhook deliveries for projects or groups; with ``webhook.url`` the
source registers the hooks through the GitLab API. ``herald validate`` checks
what Argo checks (events, the GitLab base URL and an access token set, a
complete webhook context); Argo's deprecated ``projectID`` loads with a
warning (it counts as one entry of ``projects``). ``herald run`` refuses the
type until it has an adapter. Its port and endpoint count with those of every
other HTTP event of the EventSource.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    Note,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
)
from eventsources.http_server import WebhookContext, check_url
from herald.core.refs import SecretKeySelector


class GitlabEventSource(SourceConfig):
    """One GitLab event: which projects or groups, which events, and credentials."""

    webhook: WebhookContext = Field(
        description="Where GitLab delivers: port, endpoint and the public url of this server."
    )
    project_id: str | None = Field(
        default=None,
        alias="projectID",
        description="Deprecated (Argo): use projects: [...] instead.",
        json_schema_extra={"deprecated": True},
    )
    events: list[str] = Field(
        min_length=1,
        description="Hook events to subscribe to, e.g. [PushEvents, MergeRequestsEvents].",
    )
    access_token: SecretKeySelector = Field(
        description="GitLab API token used to register the hooks."
    )
    enable_ssl_verification: bool | None = Field(
        default=None,
        alias="enableSSLVerification",
        description="Let GitLab verify this server's TLS certificate when delivering.",
    )
    gitlab_base_url: str = Field(
        alias="gitlabBaseURL", description="GitLab URL, e.g. https://gitlab.com."
    )
    delete_hook_on_finish: bool | None = Field(
        default=None, description="Delete the registered hooks when the EventSource stops."
    )
    metadata: Metadata | None = metadata_field()
    projects: list[str] | None = Field(
        default=None, description="Project ids or paths, e.g. [whynowy/test, '3']."
    )
    secret_token: SecretKeySelector | None = Field(
        default=None, description="Token GitLab sends with each delivery (X-Gitlab-Token)."
    )
    filter: EventSourceFilter | None = filter_field()
    groups: list[str] | None = Field(
        default=None, description="Group ids or paths (group hooks: GitLab Premium)."
    )

    @field_validator("events", "projects", "groups")
    @classmethod
    def _no_blank(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not v.strip() for v in value):
            raise field_error("blank_name", "the list must not contain an empty entry")
        return value

    @field_validator("gitlab_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        check_url(value, "gitlabBaseURL")
        return value

    def manifest_warnings(self) -> list[Note]:
        """Argo's deprecated ``projectID``."""
        if self.project_id is None:
            return []
        if self.projects:
            return [(("projectID",), "ignored when projects is set (as in Argo): remove it")]
        return [
            (
                ("projectID",),
                f"deprecated (Argo): write projects: [{self.project_id!r}] instead",
            )
        ]

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """GitLab delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
