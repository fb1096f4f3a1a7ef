"""The ``bitbucketserver`` source config: Argo's ``BitbucketServerEventSource`` (model only).

Bitbucket Server (Data Center) webhook deliveries for repositories or whole
projects; with ``accessToken`` and ``webhook.url`` the source registers the
hooks and checks them every ``checkInterval``. ``herald validate`` checks what
Argo checks (the server base URL set, events when hooks are registered, a
valid ``checkInterval``, a complete webhook context) and a complete TLS block.
Argo's deprecated ``projectKey`` and ``repositorySlug`` load with a warning
(together they count as one repository). ``herald run`` refuses the type
until it has an adapter. Its port and endpoint count with those of every
other HTTP event of the EventSource.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Loc,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
    tls_problems,
)
from eventsources.http_server import WebhookContext, check_url
from herald.core.durations import parse_go_duration
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from herald.core.tls import TLSConfig


class BitbucketServerRepository(Spec):
    """One repository: its project key and slug."""

    project_key: str = Field(min_length=1, description="Key of the project, e.g. PROJ.")
    repository_slug: str = Field(min_length=1, description="Slug of the repository.")


class BitbucketServerEventSource(SourceConfig):
    """One Bitbucket Server event: which repositories or projects, events, credentials."""

    webhook: WebhookContext = Field(
        description="Where Bitbucket Server delivers: port, endpoint and the public url."
    )
    project_key: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{projectKey, repositorySlug}].",
        json_schema_extra={"deprecated": True},
    )
    repository_slug: str | None = Field(
        default=None,
        description="Deprecated (Argo): use repositories: [{projectKey, repositorySlug}].",
        json_schema_extra={"deprecated": True},
    )
    projects: list[str] | None = Field(
        default=None, description="Project keys: hook every repository of these projects."
    )
    repositories: list[BitbucketServerRepository] | None = Field(
        default=None, description="Repositories to hook."
    )
    events: list[str] | None = Field(
        default=None,
        description="Events to subscribe to, e.g. [repo:refs_changed]; required to register hooks.",
    )
    skip_branch_refs_changed_on_open_pr: bool | None = Field(
        default=None,
        alias="skipBranchRefsChangedOnOpenPR",
        description="Drop repo:refs_changed for branches that have an open pull request.",
    )
    one_event_per_change: bool | None = Field(
        default=None,
        description="Publish one event per change of a repo:refs_changed delivery.",
    )
    access_token: SecretKeySelector | None = Field(
        default=None, description="API token used to register the hooks."
    )
    webhook_secret: SecretKeySelector | None = Field(
        default=None, description="Secret the deliveries are signed with (HMAC)."
    )
    bitbucketserver_base_url: str = Field(
        alias="bitbucketserverBaseURL",
        description="REST API base URL, e.g. https://bitbucket.example.com/rest.",
    )
    delete_hook_on_finish: bool | None = Field(
        default=None, description="Delete the registered hooks when the EventSource stops."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    tls: TLSConfig | None = Field(default=None, description="TLS to the Bitbucket Server API.")
    check_interval: str | None = Field(
        default=None, description="How often to check that the hooks exist, e.g. 5m (default 1m)."
    )

    @field_validator("projects", "events")
    @classmethod
    def _no_blank(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not v.strip() for v in value):
            raise field_error("blank_name", "the list must not contain an empty entry")
        return value

    @field_validator("bitbucketserver_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        check_url(value, "bitbucketserverBaseURL")
        return value

    @field_validator("check_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            seconds = parse_go_duration(value)
        except ValueError as e:
            raise field_error("invalid_duration", f"checkInterval: {e}") from None
        if seconds <= 0:
            raise field_error("invalid_duration", "checkInterval must be longer than zero, e.g. 1m")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = list(tls_problems(self.tls))
        if bool(self.project_key) != bool(self.repository_slug):
            missing = "repositorySlug" if not self.repository_slug else "projectKey"
            problems.append(
                Problem(
                    (missing,),
                    "the deprecated projectKey and repositorySlug go together; better, replace "
                    "both with repositories: [{projectKey: ..., repositorySlug: ...}]",
                    None,
                    "required",
                )
            )
        has_scope = bool(self.repositories or self.projects) or bool(
            self.project_key and self.repository_slug
        )
        if self.access_token is not None and self.webhook.url and has_scope and not self.events:
            problems.append(
                Problem(
                    ("events",),
                    "events are required to register the hooks (accessToken and webhook.url "
                    "are set), e.g. [repo:refs_changed]",
                    None,
                    "required",
                )
            )
        raise_problems(problems, type(self).__name__)
        return self

    def manifest_warnings(self) -> list[Note]:
        """Argo's deprecated repository fields."""
        if not (self.project_key and self.repository_slug):
            return []
        if self.repositories:
            message = "ignored when repositories is set (as in Argo): move it there"
        else:
            message = (
                "deprecated (Argo): write repositories: [{projectKey: "
                f"{self.project_key}, repositorySlug: {self.repository_slug}}}] instead"
            )
        return [(("projectKey",), message), (("repositorySlug",), message)]

    def http_route(self) -> tuple[Loc, WebhookContext]:
        """Bitbucket Server delivers to the nested webhook context."""
        return (("webhook",), self.webhook)
